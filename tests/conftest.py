"""Test-wide setup: a throwaway AIRFLOW_HOME with a migrated SQLite metadata DB.

The environment is set at import time, before anything imports Airflow, so that every test (and
every Airflow process a test starts) sees the same home, DAGs folder and keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from auth0_provider.signing import generate_signing_secret
from auth0_standin import Auth0StandIn
from webhook_receiver import WebhookReceiver

REPO = Path(__file__).resolve().parent.parent
HOME = Path(tempfile.mkdtemp(prefix="auth0-webhooks-tests-"))
COMPONENT_LOG_LINES = 200  # of a running stack's log, shown with a test that failed on it

os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": "q1pVmAnUfPDOY0UZXw1rP8yA6Ym1ct0ln0kbmmHYkiM=",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
for name in list(os.environ):
    if name.startswith(("AUTH0_WEBHOOKS_", "AIRFLOW_CONN_", "AIRFLOW_VAR_")):
        del os.environ[name]


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the metadata DB once per session (about 6 s on SQLite)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)
    return HOME


# -- local peers: the Auth0 stand-in and a webhook receiver, both real HTTP servers on 127.0.0.1 --


@pytest.fixture
def standin() -> Iterator[Auth0StandIn]:
    with Auth0StandIn() as tenant:
        yield tenant


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """Checks every request's signature (its connection_uri() carries the secret): 401 if it fails."""
    with WebhookReceiver(secret=generate_signing_secret()) as server:
        yield server


@pytest.fixture
def plain_receiver() -> Iterator[WebhookReceiver]:
    """Accepts unsigned requests, for what signing has nothing to do with."""
    with WebhookReceiver() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test on a running Airflow stack shows what its components logged last.

    A CI run keeps nothing but its output, and the stack's home is a temporary folder.
    """
    report = yield
    funcargs = getattr(item, "funcargs", {})
    stack = funcargs.get("stack") or getattr(funcargs.get("story"), "stack", None)
    log = getattr(stack, "components_log", None)
    if report.failed and log and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-COMPONENT_LOG_LINES:]
        report.sections.append((f"Airflow components, last {len(tail)} lines of {log}", "\n".join(tail)))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(HOME, ignore_errors=True)
