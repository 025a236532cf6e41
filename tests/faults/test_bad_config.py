"""Bad configuration: a readable error naming what to fix, nothing delivered, and nothing lost once fixed."""

from __future__ import annotations

import json

from airflow.dag_processing.dagbag import DagBag

from auth0_provider.names import DAG_ID
from tests.conftest import REPO
from tests.dags.conftest import states, stored_watermark
from tests.support import user_events


def import_error(monkeypatch, **settings: str) -> str:
    """The delivery DAG file's import error with these AUTH0_WEBHOOKS_* settings (it must have one; the alerts
    DAG's file, which reads the same settings, has the same one)."""
    for name, value in settings.items():
        monkeypatch.setenv(f"AUTH0_WEBHOOKS_{name.upper()}", value)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert DAG_ID not in bag.dags
    return bag.import_errors[str(REPO / "dags" / "auth0_webhooks.py")]


def test_an_invalid_concurrency_fails_the_import_naming_it_and_the_fixed_dag_delivers(
    standin, receiver, run_dag, promise, monkeypatch
):
    promise.expect(e.log_id for e in user_events(standin, 3))
    for value in "0", "five":
        error = import_error(monkeypatch, concurrent_calls=value)
        assert f"AUTH0_WEBHOOKS_CONCURRENT_CALLS: '{value}' is not allowed. Use a whole number from 1 to 100" in error
        assert receiver.deliveries == [] and stored_watermark() is None
        promise.check_watermark()
    assert run_dag(concurrent_calls="5").state == "success"
    promise.settle(duplicates=0)


def test_an_unknown_log_type_fails_the_import_naming_it_and_the_fixed_dag_delivers(
    standin, receiver, run_dag, promise, monkeypatch
):
    promise.expect(e.log_id for e in user_events(standin, 3))
    error = import_error(monkeypatch, log_types="sapi,sapii")
    assert "AUTH0_WEBHOOKS_LOG_TYPES: unknown Auth0 log type code(s) 'sapii'" in error
    assert "Known codes:" in error and "sapi" in error
    assert receiver.deliveries == [] and stored_watermark() is None
    promise.check_watermark()
    assert run_dag(log_types="sapi,fapi").state == "success"
    promise.settle(duplicates=0)


def test_a_missing_connection_fails_the_run_naming_it_and_nothing_is_lost(
    standin, receiver, run_dag, promise, monkeypatch, capfd
):
    promise.expect(e.log_id for e in user_events(standin, 3))
    connections = {"auth0_default": standin.connection_uri(), "auth0_webhook": receiver.connection_uri()}
    for missing, failing_task in (("auth0_default", "fetch_logs[-1]"), ("auth0_webhook", "deliver[0]")):
        monkeypatch.delenv(f"AIRFLOW_CONN_{missing.upper()}")
        dag_run = run_dag(fetch_retry_delay=0)
        assert dag_run.state == "failed", states(dag_run)
        assert states(dag_run)[failing_task] == "failed"
        assert f"The conn_id `{missing}` isn't defined" in capfd.readouterr().out
        assert receiver.deliveries == [] and stored_watermark() is None
        promise.check_watermark()
        monkeypatch.setenv(f"AIRFLOW_CONN_{missing.upper()}", connections[missing])
    assert run_dag().state == "success"
    promise.settle(duplicates=0)


def test_a_webhook_url_without_a_scheme_is_refused_naming_the_connection(
    standin, receiver, run_dag, promise, monkeypatch, capfd
):
    promise.expect(e.log_id for e in user_events(standin, 3))
    conn = json.loads(receiver.connection_uri())
    conn["host"] = conn["host"].removeprefix("http://")  # 127.0.0.1:<port>/hooks/auth0
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", json.dumps(conn))
    failed = run_dag()
    assert failed.state == "failed", states(failed)
    assert states(failed)["deliver[0]"] == "failed"
    out = capfd.readouterr().out
    assert f"Connection 'auth0_webhook': host '{conn['host']}' has no scheme. Write the full URL" in out
    assert receiver.requests == [] and stored_watermark() is None
    promise.check_watermark()

    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", receiver.connection_uri())  # https:// or http:// written out
    assert run_dag().state == "success"
    promise.settle(duplicates=0)
