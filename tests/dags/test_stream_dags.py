"""Streams from a streams file, as the dag-processor parses them: one DAG each, a bad entry failing its own alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import BundleDagBag, DagBag, sync_bag_to_db
from airflow.models.asset import AssetEvent
from airflow.models.asset_state_store import AssetStateStoreModel
from airflow.models.variable import Variable as VariableModel
from airflow.utils.session import create_session
from sqlalchemy import delete, select

from auth0_provider.names import (
    COMMIT_TASK,
    DAG_ID,
    DELIVER_TASK,
    FETCH_TASK,
    PREFETCH_TASK,
    READ_TASK,
    STREAM_TAG_PREFIX,
    STREAMS_FILE_SETTING,
    USAGE_XCOM_KEY,
    StreamNames,
    read_ahead_variable,
    token_cache_variable,
)
from auth0_provider.records import LogsRead
from auth0_provider.streams import DAG_FILE, DEFAULT_FILE_NAME, dag_files
from tests.conftest import REPO
from tests.support import api_event

STREAMS = """\
streams:
  siem:
    webhook_conn_id: siem_webhook
    log_types: [f, limit_wc, pwd_leak]
    batch_size: 50
    concurrent_calls: 2
    alert_conn_id: siem_alerts
  crm:
    webhook_conn_id: crm_webhook
    log_types: sapi
    api_endpoints: users
  broken:
    webhook_conn_id: broken_webhook
    batch_size: lots
"""


@pytest.fixture
def dags_folder(tmp_path, monkeypatch) -> Path:
    """A dags folder as a deployment with streams has it: the two shipped DAG files, the streams file and
    one DAG file per stream, written by ``make streams``."""
    monkeypatch.delenv(STREAMS_FILE_SETTING, raising=False)
    for name in ("auth0_webhooks.py", "auth0_webhooks_alerts.py"):
        shutil.copy(REPO / "dags" / name, tmp_path / name)
    (tmp_path / DEFAULT_FILE_NAME).write_text(STREAMS)
    dag_files(tmp_path / DEFAULT_FILE_NAME, tmp_path)
    return tmp_path


def test_each_stream_is_a_dag_of_its_own_and_the_single_dag_steps_aside(dags_folder, monkeypatch):
    monkeypatch.setenv("AUTH0_WEBHOOKS_ALERT_CONN_ID", "auth0_alerts")  # the single DAG's: not built either
    bag = DagBag(dag_folder=str(dags_folder))
    assert sorted(bag.dags) == ["auth0_webhooks__crm", "auth0_webhooks__siem", "auth0_webhooks_alerts__siem"]
    assert DAG_ID not in bag.dags


def test_a_bad_entry_fails_the_import_of_its_own_dag_naming_the_stream_the_key_and_what_it_accepts(dags_folder):
    bag = DagBag(dag_folder=str(dags_folder))
    assert list(bag.import_errors) == [str(dags_folder / "auth0_webhooks__broken.py")]
    (error,) = bag.import_errors.values()
    assert "auth0_streams.yaml: streams.broken.batch_size: 'lots' is not allowed. Use a whole number from 1 to" in error
    assert "auth0_webhooks__crm" in bag.dags and "auth0_webhooks__siem" in bag.dags


def test_a_file_that_cannot_be_read_fails_every_stream_and_says_why(dags_folder):
    (dags_folder / DEFAULT_FILE_NAME).write_text("streams: [\n")
    bag = DagBag(dag_folder=str(dags_folder))
    assert len(bag.import_errors) == 3 and all("not valid YAML" in e for e in bag.import_errors.values())
    assert bag.dags == {}  # and no stream runs on a guess


def test_a_bad_name_a_name_yaml_reads_as_a_boolean_and_a_name_declared_twice_fail_their_own_dags_alone(
    dags_folder,
):
    more = "  crm-eu:\n    webhook_conn_id: eu_webhook\n  on:\n    webhook_conn_id: on_webhook\n"
    more += "  siem:\n    webhook_conn_id: siem_again\n"  # siem is on line 2, and again on line 19
    (dags_folder / DEFAULT_FILE_NAME).write_text(STREAMS + more)
    dag_files(dags_folder / DEFAULT_FILE_NAME, dags_folder)  # writes on's; crm-eu can be no DAG id: none
    (dags_folder / "auth0_webhooks__crm-eu.py").write_text(DAG_FILE.format(name="crm-eu", dag_id="?"))  # by hand
    bag = DagBag(dag_folder=str(dags_folder))
    errors = {Path(file).name: error for file, error in bag.import_errors.items()}
    assert sorted(errors) == [
        "auth0_webhooks__broken.py",
        "auth0_webhooks__crm-eu.py",
        "auth0_webhooks__on.py",
        "auth0_webhooks__siem.py",
    ]
    bad_name, boolean = errors["auth0_webhooks__crm-eu.py"], errors["auth0_webhooks__on.py"]
    assert "streams.crm-eu (line 15): the stream name 'crm-eu' is not allowed. A stream's name is 1 to 50" in bad_name
    assert "streams.on (line 17): YAML reads the unquoted name on as the boolean true, not as the name 'on'" in boolean
    assert "Quote it ('on':) or rename the stream." in boolean
    assert "streams.siem is declared twice, on lines 2 and 19" in errors["auth0_webhooks__siem.py"]
    assert sorted(bag.dags) == ["auth0_webhooks__crm"]  # the good stream imports, and runs


def test_a_streams_file_named_in_the_setting_that_does_not_exist_fails_the_import_naming_it_and_no_dag_is_built(
    dags_folder, monkeypatch
):
    monkeypatch.setenv(STREAMS_FILE_SETTING, "conf/streams.yaml")  # relative to the dags folder
    monkeypatch.setenv("AUTH0_WEBHOOKS_ALERT_CONN_ID", "auth0_alerts")  # the single DAG's alerts are not built either
    missing = dags_folder / "conf" / "streams.yaml"
    bag = DagBag(dag_folder=str(dags_folder))
    assert bag.dags == {} and DAG_ID not in bag.dags
    for name in ("auth0_webhooks.py", "auth0_webhooks_alerts.py"):
        assert (
            f"{STREAMS_FILE_SETTING} is 'conf/streams.yaml', but the streams file '{missing}' does not exist. No DAG "
            "is built until it does, neither the streams nor the single DAG"
        ) in bag.import_errors[str(dags_folder / name)]
    assert len(bag.import_errors) == 5  # the streams' DAG files too, each naming the setting and the path
    assert all(STREAMS_FILE_SETTING in e and str(missing) in e for e in bag.import_errors.values())
    for stream_file in dags_folder.glob("auth0_webhooks__*.py"):
        stream_file.unlink()  # a deployment that never had streams: the single DAG's files alone
    assert sorted(DagBag(dag_folder=str(dags_folder)).import_errors) == [
        str(dags_folder / "auth0_webhooks.py"),
        str(dags_folder / "auth0_webhooks_alerts.py"),
    ]


def test_a_stream_dag_carries_its_name_its_receiver_and_its_own_names_in_every_task(dags_folder):
    bag = DagBag(dag_folder=str(dags_folder))
    siem = bag.dags["auth0_webhooks__siem"]
    names = StreamNames.for_stream("siem", webhook_conn_id="siem_webhook")
    assert STREAM_TAG_PREFIX + "siem" in siem.tags and {"auth0", "webhooks"} <= set(siem.tags)
    assert "'siem_webhook'" in siem.description and "stream 'siem'" in siem.description
    read, fetch, deliver, commit, prefetch = (
        siem.get_task(t) for t in (READ_TASK, FETCH_TASK, DELIVER_TASK, COMMIT_TASK, PREFETCH_TASK)
    )
    assert {
        read.watermark_variable,
        fetch.watermark_variable,
        commit.watermark_variable,
        prefetch.watermark_variable,
    } == {names.watermark_variable}
    assert fetch.log_types == ["f", "limit_wc", "pwd_leak"] and fetch.batch_size == 50
    # read_logs reads for fetch_logs exactly what fetch_logs would read itself
    assert fetch.read_by == READ_TASK and fetch.upstream_task_ids == {READ_TASK}
    for setting in ("auth0_conn_id", "start_from", "batch_size", "max_events", "max_bytes", "on_gap", "stream"):
        assert getattr(read, setting) == getattr(fetch, setting), setting
    assert deliver.partial_kwargs["http_conn_id"] == "siem_webhook"
    assert deliver.partial_kwargs["max_active_tis_per_dag"] == 2
    assert deliver.partial_kwargs["stream"] == names.stream and commit.stream == names.stream
    assert names.stream.name == "auth0_webhooks__siem"
    # the tenant's reads, both streams', take turns in one pool slot; planning and deliveries do not wait for it
    assert read.pool == prefetch.pool == names.read_pool == "auth0_reads__auth0_default"
    assert fetch.pool == "default_pool" and deliver.partial_kwargs.get("pool") in (None, "default_pool")
    alerts = bag.dags["auth0_webhooks_alerts__siem"].tasks[0]
    assert alerts.stream == names.stream and alerts.stream_name == "stream 'siem'"
    assert alerts.alert_conn_id == "siem_alerts"
    crm = bag.dags["auth0_webhooks__crm"]
    assert crm.get_task(FETCH_TASK).api_endpoints == ["users"]
    assert crm.get_task(FETCH_TASK).watermark_variable == "auth0_webhooks__crm_watermark"


def test_the_streams_file_setting_points_elsewhere(dags_folder, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("conf") / "streams.json"
    elsewhere.write_text('{"streams": {"crm": {"webhook_conn_id": "crm_json"}}}')
    monkeypatch.setenv(STREAMS_FILE_SETTING, str(elsewhere))
    (dags_folder / DEFAULT_FILE_NAME).unlink()
    (dags_folder / "auth0_webhooks__siem.py").unlink()
    (dags_folder / "auth0_webhooks__broken.py").unlink()
    bag = DagBag(dag_folder=str(dags_folder))
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["auth0_webhooks__crm"]
    assert bag.dags["auth0_webhooks__crm"].get_task(DELIVER_TASK).partial_kwargs["http_conn_id"] == "crm_json"


def xcoms(dag_run, task_id: str) -> dict[str, object]:
    """A task's XComs in a run, by key, as stored."""
    from airflow.models.xcom import XComModel

    with create_session() as session:
        rows = session.execute(
            select(XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.task_id == task_id
            )
        ).all()
    return dict(rows)


@pytest.fixture
def crm_stream(dags_folder, airflow_db, standin, receiver, monkeypatch):
    """The crm stream's DAG, reading the stand-in and delivering to the receiver, 2 events a run."""
    names = StreamNames.for_stream("crm", webhook_conn_id="crm_webhook")
    for key in (
        names.watermark_variable,
        read_ahead_variable(names.watermark_variable),
        token_cache_variable("auth0_default"),
    ):
        VariableModel.delete(key)
    with create_session() as session:
        session.execute(delete(AssetEvent))
        session.execute(delete(AssetStateStoreModel))
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_DEFAULT", standin.connection_uri())
    monkeypatch.setenv("AIRFLOW_CONN_CRM_WEBHOOK", receiver.connection_uri())
    # dag.test runs only DAGs written to the DB: these, as if the dags-folder bundle held them
    DagBundlesManager().sync_bundles_to_db()
    bag = BundleDagBag(dag_folder=str(dags_folder), bundle_path=dags_folder, bundle_name="dags-folder")
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.dags[names.dag_id]
    for task_id in (READ_TASK, FETCH_TASK, PREFETCH_TASK):
        dag.get_task(task_id).max_events = 2
    return dag


def test_a_stream_reads_auth0_only_in_read_logs_and_its_fetch_takes_that_reading_or_the_read_ahead(
    crm_stream, standin, receiver
):
    users = [standin.add_event(api_event("patch", f"/api/v2/users/auth0|{n}")) for n in range(5)]
    first = crm_stream.test()
    assert first.state == "success"
    reading = LogsRead.from_json(xcoms(first, READ_TASK)["return_value"])
    assert reading is not None and (reading.start, reading.events, reading.more) == (None, 2, True)
    assert reading.requests >= 1 and reading.end.log_id == users[1].log_id
    assert USAGE_XCOM_KEY not in xcoms(first, FETCH_TASK)  # it took the reading: no Auth0 request of its own
    assert sorted(receiver.delivered_log_ids()) == sorted(u.log_id for u in users[:2])
    # prefetch_next read events 3 and 4 ahead; Auth0 now refuses reads: neither reader of the next run may need one
    for _ in range(2):  # the hook renews its token once on a 403 before it believes it
        standin.inject("/api/v2/logs", 403, b'{"statusCode":403,"error":"Forbidden","message":"Insufficient scope"}')
    second = crm_stream.test()
    assert second.state == "success"
    assert xcoms(second, READ_TASK).get("return_value") is None  # read ahead: it read nothing
    assert USAGE_XCOM_KEY not in xcoms(second, READ_TASK) and USAGE_XCOM_KEY not in xcoms(second, FETCH_TASK)
    assert standin.injected == []  # this run's own read-ahead met both 403s, and was skipped
    assert crm_stream.test().state == "success"  # nothing read ahead from event 4: read_logs reads event 5
    assert sorted(receiver.delivered_log_ids()) == sorted(u.log_id for u in users)
