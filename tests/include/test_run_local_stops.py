"""``make run`` stops everything it started, whatever signals arrive while it stops (issue 28).

GNU make passes a SIGTERM on to its child, so a SIGTERM to ``make run``'s process group (``timeout``, a
supervisor, a container stop) reaches the launcher twice, and a user who presses Ctrl-C twice sends the
launcher a second SIGINT while it stops. Either used to abandon the stop halfway and leave ``airflow
standalone``, the scheduler, the api-server, workers and the triggerer running.

Each case starts ``make run`` as a user would, in a process group of its own, with its own Airflow home
and UI port (MAKE_RUN_HOME, MAKE_RUN_PORT) and a marker in its environment, which every process it starts
inherits. Once the UI answers, the whole tree is recorded, the signals are sent to the group, and nothing
may be left within 30 s: neither a recorded pid nor any process whose environment carries the marker. The
launcher itself escalates to SIGKILL after 10 s, so 30 s is a wide margin on a busy 2-core machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import requests

from local_airflow import free_port, is_running

pytestmark = pytest.mark.scheduler

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent  # the venv running the tests, which make run uses too
MARKER = "MAKE_RUN_STOP_TEST"
UP_WITHIN = 420  # seconds for a fresh standalone (migration included) to answer on a busy 2-core machine
GONE_WITHIN = 30


def sigterm_to_the_group(pgid: int) -> None:
    os.killpg(pgid, signal.SIGTERM)


def ctrl_c_twice(pgid: int) -> None:
    """What a terminal sends the foreground group when Ctrl-C is pressed twice, a second apart."""
    os.killpg(pgid, signal.SIGINT)
    time.sleep(1)
    os.killpg(pgid, signal.SIGINT)


@pytest.mark.parametrize("send", [sigterm_to_the_group, ctrl_c_twice], ids=["sigterm", "ctrl-c-twice"])
def test_make_run_leaves_no_process_behind(tmp_path: Path, send: Callable[[int], None]) -> None:
    marker = uuid.uuid4().hex
    port = free_port()
    env = {**os.environ, MARKER: marker, "MAKE_RUN_HOME": str(tmp_path / "airflow"), "MAKE_RUN_PORT": str(port)}
    # VENV= and -o: the venv that runs this test, never rebuilt by make (other work may share it)
    command = ["make", "--no-print-directory", "-o", f"{VENV}/.runtime-installed", f"VENV={VENV}", "run"]
    output = tmp_path / "make-run.out"
    recorded: list[psutil.Process] = []
    with open(output, "wb") as out:
        make = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for_ui(make, port, output)
        recorded = [psutil.Process(make.pid), *psutil.Process(make.pid).children(recursive=True)]
        names = " ".join(_describe(p) for p in recorded)
        assert "standalone" in names and len(recorded) >= 6, names  # make, the launcher, standalone and its parts

        sent = time.monotonic()
        send(make.pid)
        left = _left_behind(recorded, marker)
        while left and time.monotonic() - sent < GONE_WITHIN:
            time.sleep(0.5)
            make.poll()  # collect make itself once it has gone
            left = _left_behind(recorded, marker)
        took = time.monotonic() - sent
        assert not left, (
            f"{len(left)} of the {len(recorded)} processes still running {took:.0f} s after the signals:\n"
            + "\n".join(_describe(p) for p in left)
            + f"\n\nmake run said:\n{_tail(output)}"
        )
        said = output.read_text(errors="replace")
        assert "Stopping..." in said and "Traceback" not in said, _tail(output)
        print(f"everything gone {took:.1f} s after the first signal ({len(recorded)} processes)")
    finally:
        for p in _left_behind(recorded, marker):
            with contextlib.suppress(psutil.Error):
                p.kill()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(make.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            make.wait(timeout=10)


def _wait_for_ui(make: subprocess.Popen, port: int, output: Path) -> None:
    """Until the launcher has printed the UI's address and the UI answers."""
    deadline = time.monotonic() + UP_WITHIN
    while time.monotonic() < deadline:
        if make.poll() is not None:
            pytest.fail(f"make run exited with {make.returncode} before the UI came up:\n{_tail(output)}")
        if f"127.0.0.1:{port}" in output.read_text(errors="replace"):
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
        time.sleep(2)
    pytest.fail(f"the UI did not answer within {UP_WITHIN} s:\n{_tail(output)}")


def _left_behind(recorded: list[psutil.Process], marker: str) -> list[psutil.Process]:
    """The recorded processes that still run, and any other process that carries the marker."""
    left = {p.pid: p for p in recorded if is_running(p)}
    needle = f"{MARKER}={marker}".encode()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) not in left:
            try:
                environ = Path(entry.path, "environ").read_bytes()  # empty for a zombie: it has stopped
                if needle in environ.split(b"\0"):
                    left[int(entry.name)] = psutil.Process(int(entry.name))
            except (OSError, psutil.Error):
                pass
    return [p for p in left.values() if is_running(p)]


def _describe(p: psutil.Process) -> str:
    try:
        return f"{p.pid} (parent {p.ppid()}): {' '.join(p.cmdline())[:160]}"
    except psutil.Error:
        return f"{p.pid}: gone meanwhile"


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
