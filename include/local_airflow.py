"""Run a real, local Airflow for ``make run`` and for the tests that need a scheduler.

One place builds the environment every component shares (the same JWT secret, API key and Fernet
key, or tasks fail with "Invalid auth token"), starts components in their own process groups, and
stops them, children included, by process id.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import psutil
import requests

from auth0_provider.names import WATERMARK_VARIABLE

REPO = Path(__file__).resolve().parent.parent
ADMIN_USER = "admin"


def free_port(preferred: int = 0) -> int:
    """``preferred`` if it is free on 127.0.0.1, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_env(home: Path, api_port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow component: one home, one set of keys, loopback only."""
    home.mkdir(parents=True, exist_ok=True)
    keys = _keys(home)
    passwords = home / "simple_auth_manager_passwords.json"
    if not passwords.exists():
        passwords.write_text(json.dumps({ADMIN_USER: keys["admin_password"]}))
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        # api-server, scheduler and task runners all write; SQLite's default 5 s wait for the write lock
        # is too short on a busy machine ("database is locked" fails a trigger from the UI)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=30",
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
    }
    # Every task instance imports the DAG file and the provider afresh. A shell that sets
    # PYTHONDONTWRITEBYTECODE (this project's sandboxes do) would have each of them compile our modules
    # from source again; an Airflow deployment caches the bytecode, and so does this one.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


def admin_password(home: Path) -> str:
    return _keys(home)["admin_password"]


def _keys(home: Path) -> dict[str, str]:
    """Secrets generated once per home, so restarts keep working with the same database."""
    path = home / "local_keys.json"
    if path.exists():
        return json.loads(path.read_text())
    keys = {
        "fernet_key": urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "jwt_secret": secrets.token_urlsafe(32),
        "api_secret_key": secrets.token_urlsafe(32),
        "admin_password": secrets.token_urlsafe(9),
    }
    path.write_text(json.dumps(keys))
    path.chmod(0o600)
    return keys


def migrate(env: Mapping[str, str]) -> None:
    done = subprocess.run(["airflow", "db", "migrate"], env=dict(env), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def start(args: list[str], env: Mapping[str, str], log: IO[Any]) -> subprocess.Popen:
    """Start ``airflow <args>`` in a process group of its own."""
    return subprocess.Popen(
        ["airflow", *args], env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(processes: list[subprocess.Popen], timeout: float = 30.0) -> None:
    """Stop each process, its group, and every descendant it left (task runners make their own)."""
    victims: dict[int, psutil.Process] = {}
    for proc in processes:
        try:
            parent = psutil.Process(proc.pid)
            for p in [parent, *parent.children(recursive=True)]:
                victims[p.pid] = p
        except psutil.NoSuchProcess:
            pass
    for proc in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
    for p in victims.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(list(victims.values()), timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
    for proc in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_for(url: str, timeout: float, processes: list[subprocess.Popen] = ()) -> None:
    """Wait until ``url`` answers, failing early if one of ``processes`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode} before {url} came up")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


class AirflowApi:
    """A small client for the Airflow 3 REST API (what the UI itself calls)."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        answer = self.session.post(
            f"{self.base_url}/auth/token", json={"username": ADMIN_USER, "password": password}, timeout=30
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
        if not response.ok:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def set_paused(self, dag_id: str, paused: bool, timeout: float = 90) -> None:
        """Pause or unpause, as the UI's toggle does; idempotent, so tried again while SQLite is busy
        (a writer can hold it for the whole 30 s busy timeout, and the answer is a 500 or no answer)."""

        def done() -> bool:
            try:
                self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})
            except (RuntimeError, requests.RequestException):
                return False
            return True

        wait_until(done, timeout, f"{dag_id} {'paused' if paused else 'unpaused'}", every=2)

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        """Until the dag-processor has registered ``dag_id``."""

        def registered() -> bool:
            try:
                self.call("GET", f"/dags/{dag_id}")
            except RuntimeError:
                return False
            return True

        wait_until(registered, timeout, f"the dag-processor registering {dag_id}", every=2)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, every: float = 1.0) -> str:
        """The run's final state, ``success`` or ``failed``."""
        state = ""

        def finished() -> bool:
            nonlocal state
            state = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state in ("success", "failed")

        wait_until(finished, timeout, f"{dag_id} run {run_id}", every)
        return state

    def watermark(self, variable: str = WATERMARK_VARIABLE) -> str | None:
        """The log id in the watermark Variable (the single DAG's by default); None before the first commit."""
        try:
            value = self.call("GET", f"/variables/{variable}")["value"]
        except RuntimeError:
            return None
        return json.loads(value)["log_id"]

    def set_watermark(self, log_id: str, date: str | None = None, variable: str = WATERMARK_VARIABLE) -> None:
        """Write the watermark Variable (the single DAG's by default), as editing it in the UI does."""
        body = {"key": variable, "value": json.dumps({"log_id": log_id, "date": date})}
        try:
            self.call("PATCH", f"/variables/{variable}", json=body)
        except RuntimeError:  # not there yet
            self.call("POST", "/variables", json=body)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.5) -> None:
    """Poll ``condition`` until it holds; TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise TimeoutError(f"{what}: not done within {timeout:.0f} s")
