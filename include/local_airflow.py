"""Run a real, local Airflow for ``make run`` and for the tests that need a scheduler.

One place builds the environment every component shares (the same JWT secret, API key and Fernet
key, or tasks fail with "Invalid auth token"), starts components in their own process groups, and
stops them, children included, by process id.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil
import requests

from auth0_provider.names import WATERMARK_VARIABLE

REPO = Path(__file__).resolve().parent.parent
ADMIN_USER = "admin"
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


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


def stop(processes: list[subprocess.Popen], timeout: float = 30.0, *, reaper: int | None = None) -> None:
    """Stop each process, its group, and every descendant it left (task runners make their own).

    SIGTERM first, then SIGKILL for whatever still runs after ``timeout`` seconds. The tree is walked
    again while it stops, so a process forked meanwhile is stopped too, and a process seen once is
    stopped by its pid even after its parent died and it was re-parented. With ``reaper`` (a process
    that called become_subreaper()), every descendant of that process goes as well, orphans included.
    Every wait is bounded: about ``timeout`` + 5 s, plus 5 s per process in ``processes`` at worst.
    """
    roots = {proc.pid for proc in processes}
    running_roots = {proc.pid for proc in processes if proc.poll() is None}  # not a pid reaped and reused
    seeds = running_roots | ({reaper} if reaper else set())
    spared = {os.getpid(), reaper}
    known: dict[int, psutil.Process] = {}

    def scan() -> list[psutil.Process]:
        """The processes of the tree not seen before."""
        new = []
        parents = seeds | {p.pid for p in _running(known.values())}
        for pid in (running_roots | _descendants(parents)) - known.keys() - spared:
            with contextlib.suppress(psutil.Error):
                new.append(known.setdefault(pid, psutil.Process(pid)))
        return new

    def send(procs: list[psutil.Process], sig: signal.Signals, groups: bool = True) -> None:
        for pgid in roots if groups else ():  # a root's group holds what it started, even after the root died
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)

    send(scan(), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (alive := _running(known.values())) and time.monotonic() < deadline:
        psutil.wait_procs(alive, timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
        send(scan(), signal.SIGTERM, groups=False)  # only the new ones: one SIGTERM each
    deadline = time.monotonic() + 5
    while (alive := _running([*known.values(), *scan()])) and time.monotonic() < deadline:
        send(alive, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=0.5)
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    if reaper == os.getpid():
        reap_orphans(processes)


def become_subreaper() -> bool:
    """Have this process's orphaned descendants re-parented to it rather than to init (Linux), so that
    stop(reaper=os.getpid()) finds a grandchild whose parent died first. False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_orphans(keep: list[subprocess.Popen]) -> None:
    """Collect the orphans that died as this subreaper's children, so that none lingers as a zombie.
    The children in ``keep`` are left to their Popen, which wants their exit status."""
    kept = {proc.pid for proc in keep}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children():
            if child.pid not in kept:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child.pid, os.WNOHANG)


def _descendants(pids: set[int]) -> set[int]:
    """Every descendant of ``pids`` that runs now, from one pass over the process table."""
    children: dict[int, list[int]] = {}
    for p in psutil.process_iter(["ppid"]):
        children.setdefault(p.info["ppid"], []).append(p.pid)
    found: set[int] = set()
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    return [p for p in procs if is_running(p)]


def is_running(p: psutil.Process) -> bool:
    """Still running: not gone, and not a zombie (that has stopped; its parent only has to collect it)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


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

    def trigger(self, dag_id: str, body: dict[str, Any], timeout: float = 120) -> str:
        """Create a run, as the UI's Trigger button does, under a run id of its own, tried again while SQLite is
        busy (no answer in 30 s, or a 500): an attempt that went through after all answers 409 the next time."""
        run_id = body.get("dag_run_id") or f"manual__{datetime.now(UTC).isoformat()}"
        body = {**body, "dag_run_id": run_id}

        def created() -> bool:
            try:
                response = self.session.post(f"{self.base_url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=30)
            except requests.RequestException:
                return False
            if response.status_code == 409 or response.ok:
                return True
            if response.status_code < 500:
                raise RuntimeError(f"POST /dags/{dag_id}/dagRuns -> {response.status_code}: {response.text[:500]}")
            return False

        wait_until(created, timeout, f"a run of {dag_id} created", every=2)
        return run_id

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
