"""A bad streams file on a real Airflow: what it fails is named, nothing runs on a guess, and nothing is lost.

One stack for the module (LocalExecutor, SQLite), as a deployment that moves to streams has it: the two
shipped DAG files, a DAG file per stream written by ``make streams``, and ``AUTH0_WEBHOOKS_STREAMS_FILE``
naming the streams file in a folder of its own. New DAGs start unpaused here, as a DAG left unpaused does:
a DAG built on a guess would run at once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

import local_airflow
from auth0_provider.names import STREAMS_FILE_SETTING, WATERMARK_VARIABLE, StreamNames, read_pool
from auth0_provider.signing import generate_signing_secret
from auth0_provider.streams import dag_files
from auth0_standin import Auth0StandIn
from tests.airflow_stack import Stack, airflow_stack, create_connection
from tests.conftest import REPO
from tests.faults.promise import Promise
from tests.support import user_events
from webhook_receiver import WebhookReceiver

STREAMS = "streams:\n  crm:\n    webhook_conn_id: crm_webhook\n    log_types: sapi\n"
# an entry added later: a name YAML reads as the boolean true (make streams writes its DAG file), and a name
# that can be no DAG id (no DAG file: make streams names it and writes none)
BAD_ENTRIES = "  on:\n    webhook_conn_id: crm_webhook\n  crm-eu:\n    webhook_conn_id: crm_webhook\n"
CRM = StreamNames.for_stream("crm")


@dataclass
class Deployment:
    stack: Stack
    dags: Path
    streams_file: Path  # where AUTH0_WEBHOOKS_STREAMS_FILE points

    @property
    def crm(self) -> Stack:
        return self.stack.for_dag(CRM.dag_id)

    def import_errors(self, since: datetime | None = None) -> dict[str, str]:
        """Each DAG file's import error by file name (recorded since ``since``, if given)."""
        errors = self.stack.api.call("GET", "/importErrors?limit=100")["import_errors"]
        return {
            Path(error["filename"]).name: error["stack_trace"]
            for error in errors
            if since is None or _at(error["timestamp"]) > since
        }

    def dag_ids(self) -> set[str]:
        return {dag["dag_id"] for dag in self.stack.api.call("GET", "/dags?limit=100")["dags"]}

    def write_streams(self, text: str) -> None:
        """Write the streams file and run ``make streams``; wait until the dag-processor has parsed crm's DAG
        file since (its DAG registered, or its import error recorded)."""
        written = datetime.now(UTC)
        self.streams_file.write_text(text)
        dag_files(self.streams_file, self.dags)

        def parsed() -> bool:
            if f"{CRM.dag_id}.py" in self.import_errors(since=written):
                return True
            try:
                dag = self.stack.api.call("GET", f"/dags/{CRM.dag_id}")
            except RuntimeError:
                return False
            return _at(dag["last_parsed_time"]) > written

        local_airflow.wait_until(parsed, 120, "the dag-processor parsing crm's DAG file again", every=2)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    home, dags = tmp_path_factory.mktemp("airflow-home"), tmp_path_factory.mktemp("dags")
    streams_file = tmp_path_factory.mktemp("conf") / "streams.yaml"
    for name in ("auth0_webhooks.py", "auth0_webhooks_alerts.py"):
        shutil.copy(REPO / "dags" / name, dags / name)
    made = tmp_path_factory.mktemp("made") / "streams.yaml"  # make streams ran where the file was written
    made.write_text(STREAMS)
    dag_files(made, dags)
    settings = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        STREAMS_FILE_SETTING: str(streams_file),  # named, and not there yet
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AUTH0_WEBHOOKS_ALERT_CONN_ID": "auth0_alerts",  # the single DAG's alerts DAG would be built too
    }
    with (
        Auth0StandIn() as standin,
        WebhookReceiver(secret=generate_signing_secret()) as receiver,
        airflow_stack(home, standin, receiver, settings, dags=()) as stack,
    ):
        create_connection(stack.api, "crm_webhook", receiver.connection_uri())
        stack.api.call("POST", "/pools", json={"name": read_pool("auth0_default"), "slots": 1})
        yield Deployment(stack, dags, streams_file)


def test_a_streams_file_named_but_missing_runs_no_dag_until_it_exists_and_then_nothing_is_lost(deployment):
    stack = deployment.stack
    promise = Promise(
        "test_a_streams_file_named_but_missing_runs_no_dag_until_it_exists_and_then_nothing_is_lost",
        stack.receiver.delivered_log_ids,
        deployment.crm.watermark,
    )
    events = user_events(stack.standin, 3)
    promise.expect(e.log_id for e in events)
    stack.api.set_watermark(events[0].log_id, events[0].date)  # the single DAG's, from before the streams
    shipped = {"auth0_webhooks.py", "auth0_webhooks_alerts.py", "auth0_webhooks__crm.py"}
    local_airflow.wait_until(
        lambda: set(deployment.import_errors()) == shipped or deployment.dag_ids(), 120, "every DAG file parsed"
    )
    assert set(deployment.import_errors()) == shipped
    for name, error in deployment.import_errors().items():
        assert STREAMS_FILE_SETTING in error and str(deployment.streams_file) in error, name
    assert (
        f"{STREAMS_FILE_SETTING} is '{deployment.streams_file}', but the streams file"
        in (deployment.import_errors()["auth0_webhooks.py"])
    )
    assert deployment.dag_ids() == set()  # neither the single DAG from the environment nor any stream
    assert stack.receiver.requests == [] and deployment.crm.watermark() is None
    promise.check_watermark()

    deployment.write_streams(STREAMS)  # the path fixed: the stream runs at once, from the oldest log
    local_airflow.wait_until(lambda: deployment.crm.watermark() == events[-1].log_id, 240, "crm caught up", every=2)
    assert deployment.import_errors() == {} and deployment.dag_ids() == {CRM.dag_id}
    assert stack.api.watermark(WATERMARK_VARIABLE) == events[0].log_id  # the single DAG's, never moved
    promise.settle()


def test_a_bad_stream_name_fails_its_own_entry_and_the_good_stream_delivers_everything(deployment):
    stack, crm = deployment.stack, deployment.crm
    promise = Promise(
        "test_a_bad_stream_name_fails_its_own_entry_and_the_good_stream_delivers_everything",
        stack.receiver.delivered_log_ids,
        crm.watermark,
    )
    if not deployment.streams_file.exists():  # run alone
        deployment.write_streams(STREAMS)
    crm.pause()  # between two runs: the events below wait for the run triggered after the edit
    events = user_events(stack.standin, 3)
    promise.expect(e.log_id for e in events)
    deployment.write_streams(STREAMS + BAD_ENTRIES)
    local_airflow.wait_until(lambda: "auth0_webhooks__on.py" in deployment.import_errors(), 60, "on's import error")
    errors = deployment.import_errors()
    assert list(errors) == ["auth0_webhooks__on.py"]  # crm's DAG file imports; crm-eu has none
    assert "streams.on (line 5): YAML reads the unquoted name on as the boolean true" in errors["auth0_webhooks__on.py"]
    assert deployment.dag_ids() == {CRM.dag_id}
    assert crm.wait(crm.trigger(), 240) == "success"
    assert crm.watermark() == events[-1].log_id
    promise.settle()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
