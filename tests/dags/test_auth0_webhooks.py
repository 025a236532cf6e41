"""The DAG file: it imports, parses cheaply, is wired as designed, and rejects bad settings."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import ParamValidationError

from auth0_provider import names
from auth0_provider.hooks.webhook import MAX_TIMEOUT
from auth0_provider.names import COMMIT_TASK, DAG_ID, DELIVER_TASK, DRAIN_TASK, FETCH_TASK, PREFETCH_TASK, STREAM
from parse_timing import HTTP_PROVIDER, simplest_http_dag
from tests.conftest import REPO


def load(monkeypatch, **env: str) -> DagBag:
    for name, value in env.items():
        monkeypatch.setenv(f"AUTH0_WEBHOOKS_{name.upper()}", value)
    return DagBag(dag_folder=str(REPO / "dags"))


def test_dag_imports_and_is_wired_for_at_least_once(monkeypatch):
    bag = load(monkeypatch, concurrent_calls="7")
    assert bag.import_errors == {}
    dag = bag.dags[DAG_ID]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    fetch, deliver, commit = (dag.get_task(t) for t in (FETCH_TASK, DELIVER_TASK, COMMIT_TASK))
    assert deliver.max_active_tis_per_dag == 7
    assert deliver.upstream_task_ids == {"fetch_logs"}
    assert commit.upstream_task_ids == {"fetch_logs", DELIVER_TASK}
    assert commit.trigger_rule == "none_failed"
    assert commit.max_active_tis_per_dag == 1
    assert deliver.template_fields == ()  # nothing of an event, or of the delivery, is ever rendered
    assert fetch.log_types == ["fapi", "sapi"]
    assert fetch.batch_size == 1
    drain = dag.get_task(DRAIN_TASK)
    assert drain.upstream_task_ids == {"commit_watermark", FETCH_TASK}
    assert drain.trigger_rule == "all_success"  # no follow-up run after a failed delivery
    prefetch = dag.get_task(PREFETCH_TASK)
    assert prefetch.upstream_task_ids == {"fetch_logs"}  # reads in parallel with the deliveries
    assert prefetch.downstream_task_ids == set()


def test_batch_size_reaches_the_fetch_task(monkeypatch):
    dag = load(monkeypatch, batch_size="100").dags[DAG_ID]
    assert dag.get_task(FETCH_TASK).batch_size == 100


def test_the_dead_letter_settings_reach_the_delivery_and_the_commit(monkeypatch):
    dag = load(monkeypatch, dead_letter_after="15m", dead_letter_max="50").dags[DAG_ID]
    assert dag.get_task(DELIVER_TASK).partial_kwargs["dead_letter_after"] == timedelta(minutes=15)
    assert dag.get_task(COMMIT_TASK).dead_letter_max == 50
    never = load(monkeypatch, dead_letter_after="never").dags[DAG_ID]
    assert never.get_task(DELIVER_TASK).partial_kwargs["dead_letter_after"] is None


def test_the_trigger_form_offers_a_redelivery_of_all_or_of_named_log_ids(monkeypatch):
    params = load(monkeypatch).dags[DAG_ID].params
    assert params[names.REDELIVER_PARAM] is None  # a plain run redelivers nothing
    for asked in ("all", ["90020261201025044000000000000000000000000000000000000053"]):
        params[names.REDELIVER_PARAM] = asked
        assert params.validate()[names.REDELIVER_PARAM] == asked
    with pytest.raises(ParamValidationError):
        params[names.REDELIVER_PARAM] = {"all": True}


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("concurrent_calls", "0", "from 1 to 100"),
        ("log_types", "sapi,nope", "Known codes"),
        ("start_from", "tomorrow", "'oldest'"),
        ("batch_size", "0", "from 1 to 1000"),
    ],
)
def test_invalid_setting_fails_the_import_naming_it(monkeypatch, name, value, allowed):
    bag = load(monkeypatch, **{name: value})
    assert DAG_ID not in bag.dags
    assert len(bag.import_errors) == 2  # the delivery DAG's file and the alerts DAG's: both read the settings
    for error in bag.import_errors.values():
        assert f"AUTH0_WEBHOOKS_{name.upper()}" in error
        assert allowed in error


# A parse as a task process makes it: a fresh interpreter that has imported airflow.sdk. It prints, last, what
# the DagBag added to sys.modules and every socket it connected, on a line of JSON.
PARSE_PROBE = """
import json, socket, sys
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag

connected = []


def counted(real):
    def connect(sock, address):
        connected.append(repr(address))
        return real(sock, address)

    return connect


for name in ("connect", "connect_ex"):
    setattr(socket.socket, name, counted(getattr(socket.socket, name)))
before = set(sys.modules)
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
print(json.dumps({"dags": sorted(bag.dag_ids), "modules": sorted(set(sys.modules) - before), "connected": connected}))
"""


def parse_in_a_fresh_interpreter(dags: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(dags)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def parses(tmp_path_factory) -> dict[str, dict]:
    """Our DAG folder's parse and the simplest HttpOperator DAG's (include/parse_timing.py), each once."""
    http = simplest_http_dag(tmp_path_factory.mktemp("an-http-dag"))
    return {"ours": parse_in_a_fresh_interpreter(REPO / "dags"), "http": parse_in_a_fresh_interpreter(http)}


def test_a_parse_imports_nothing_beyond_the_simplest_http_operator_dag_but_airflows_modules_and_ours(parses):
    """Airflow parses the file again for every task, in a fresh process on CeleryExecutor, and what a parse
    costs is what it imports. Most of it is the HTTP provider (aiohttp, requests), as for any HttpOperator
    DAG; beyond that DAG's imports ours may add Airflow's own modules and ours (the DAG modules Airflow names
    ``unusual_prefix_...``), never another library, nor a standard module. No test times the parse: CI's two
    suites share 2 cores, where a cold parse once took 0.75 s against 0.41 s on an idle day. `make bench`
    measures it beside the HttpOperator DAG's (``--only parse``, docs/benchmarks.md, "DAG parse")."""
    assert parses["ours"]["dags"] == [DAG_ID] and parses["http"]["dags"] == ["an_http_dag"]
    added = set(parses["ours"]["modules"]) - set(parses["http"]["modules"])
    assert "auth0_provider.dag_factory" in added
    mine = ("airflow.", "auth0_provider.", "unusual_prefix_")
    assert sorted(module for module in added if not module.startswith(mine)) == []


def test_a_parse_connects_to_nothing(parses):
    """No Auth0, receiver, API-server or database call at parse time: it would cost every task a round trip,
    and fail every parse while the peer is down. Settings come from the environment (Settings.from_env)."""
    assert parses["ours"]["connected"] == []


def test_the_dag_processor_imports_the_http_provider_ahead_of_each_parse():
    """It pre-imports only the ``airflow.`` modules the DAG file itself names; the provider is most of
    the parse time."""
    from airflow.utils.file import iter_airflow_imports

    assert HTTP_PROVIDER in set(iter_airflow_imports(str(REPO / "dags" / "auth0_webhooks.py")))


def test_no_run_is_cut_off_while_it_makes_progress_yet_every_try_is_bounded(monkeypatch):
    """No dagrun_timeout (a run of 1,024 deliveries to a receiver taking 20 s each needs 68 minutes at
    5 at a time); a delivery try stops at the connection's timeouts, and in any case above the largest
    a connection may set, so a receiver trickling its answer cannot hold a run forever."""
    dag = load(monkeypatch).dags[DAG_ID]
    assert dag.dagrun_timeout is None
    deliver = dag.get_task(DELIVER_TASK)
    assert 2 * MAX_TIMEOUT < deliver.execution_timeout.total_seconds() <= 15 * 60


def test_the_stream_asset_is_declared_by_fetch_and_commit_and_not_by_the_mapped_delivery(monkeypatch):
    """Declared on a task, it makes the asset active (receipts are events of it); declared on the
    delivery, it would cost every mapped instance a call to the API server before it starts."""
    dag = load(monkeypatch).dags[DAG_ID]
    for task_id in (FETCH_TASK, COMMIT_TASK):
        assert dag.get_task(task_id).inlets == [STREAM]
        assert dag.get_task(task_id).outlets == []
    deliver = dag.get_task(DELIVER_TASK)
    assert not deliver.partial_kwargs.get("inlets") and not deliver.partial_kwargs.get("outlets")


def test_the_alerts_dag_exists_only_when_an_alert_connection_is_named(monkeypatch):
    assert names.ALERTS_DAG_ID not in load(monkeypatch).dags
    bag = load(monkeypatch, alert_conn_id="oncall_smtp", alert_after="45m")
    assert bag.import_errors == {}
    dag = bag.dags[names.ALERTS_DAG_ID]
    check = dag.get_task(names.ALERTS_TASK)
    assert (check.alert_conn_id, check.alert_after) == ("oncall_smtp", timedelta(minutes=45))


def test_the_alerts_dag_runs_every_5_minutes_unpaused_and_is_never_held_by_a_long_run(monkeypatch):
    dag = load(monkeypatch, alert_conn_id="oncall_smtp").dags[names.ALERTS_DAG_ID]
    assert dag.timetable.expression == "*/5 * * * *"
    assert dag.is_paused_upon_creation is False
    assert dag.max_active_runs == 1
    assert dag.dagrun_timeout <= timedelta(minutes=5)


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("alert_after", "half an hour", "AUTH0_WEBHOOKS_ALERT_AFTER: 'half an hour' is not allowed"),
        ("alert_conn_id", "my alerts!", "AUTH0_WEBHOOKS_ALERT_CONN_ID: 'my alerts!' is not an Airflow connection id"),
    ],
)
def test_a_bad_alert_setting_is_an_import_error_that_names_it(monkeypatch, setting, value, named):
    bag = load(monkeypatch, **({"alert_conn_id": "oncall_smtp"} | {setting: value}))
    assert any(named in error for error in bag.import_errors.values())
