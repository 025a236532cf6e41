"""PostgreSQL and Redis from Debian's packages, started on 127.0.0.1 for one test module and stopped by id.

The production-topology tests need a real metadata database and a real broker. Nothing here uses
the system's own clusters or service manager: each server gets a fresh data directory in a
temporary folder and a free port, runs in a process group of its own, and is stopped by process id.
PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` user the package made.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import local_airflow

INSTALL_HINT = "run tests/system-packages.sh (make test does) to install Debian's postgresql and redis-server"


def _postgres_bin() -> Path:
    """The newest PostgreSQL server's bin folder (Debian keeps it out of PATH)."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if folders:
        return Path(folders[-1])
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(f"no PostgreSQL server found: {INSTALL_HINT}")
    return Path(initdb).parent


def _run_as() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


def _wait_until_ready(ready: list[str], process: subprocess.Popen, what: str, user: str | None) -> None:
    """Until the ``ready`` command succeeds; at once if the server exited instead."""

    def accepting() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} while starting")
        return subprocess.run(ready, capture_output=True, user=user, timeout=10).returncode == 0

    local_airflow.wait_until(accepting, 60, f"{what} accepting connections")


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster with an ``airflow`` database; yields its SQLAlchemy URL."""
    bin_dir, user = _postgres_bin(), _run_as()
    root = Path(tempfile.mkdtemp(prefix="auth0-webhooks-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, port = root / "data", local_airflow.free_port()
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, user=user, timeout=120,
    )  # fmt: skip
    with open(root / "postgres.log", "w") as log:
        server = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root)],
            stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True,
        )  # fmt: skip
    try:
        ready = [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow"]
        _wait_until_ready(ready, server, "postgres", user)
        create = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "airflow", "airflow"]
        subprocess.run(create, check=True, capture_output=True, user=user, timeout=60)
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        local_airflow.stop([server])
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis() -> Iterator[str]:
    """A Redis server that keeps nothing on disk; yields its URL."""
    server_bin = shutil.which("redis-server")
    if server_bin is None:
        raise RuntimeError(f"no redis-server found: {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="auth0-webhooks-redis-"))
    port = local_airflow.free_port()
    args = [server_bin, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    with open(root / "redis.log", "w") as log:
        server = subprocess.Popen(
            [*args, "--dir", str(root)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        cli = shutil.which("redis-cli") or "redis-cli"
        _wait_until_ready([cli, "-h", "127.0.0.1", "-p", str(port), "ping"], server, "redis-server", None)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        local_airflow.stop([server])
        shutil.rmtree(root, ignore_errors=True)
