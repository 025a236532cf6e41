"""Several streams on one real Airflow: each its own events, receiver and watermark, one Auth0 read budget.

One stack (LocalExecutor, PostgreSQL) for the module. Its dags folder is a deployment with a streams file: the two
shipped DAG files, which step aside, and a DAG file per stream, written by ``make streams``:

- ``siem``: failed logins (``f``, ``fp``, ``fu``, ``limit_wc``) to one receiver, 100 events a request;
- ``crm``: user changes (``sapi`` on ``users``) to another;
- ``audit``: connection changes (``sapi`` on ``connections``) to a third, as Log Streams send them;
- ``broken``: a bad batch size, which must fail its own DAG and no other;
- ``later``: another tenant's stream, left paused, whose read pool nobody created.

The tenant is limited as Auth0 limits Professional tenants (10 requests at once, 100 a minute), and the
streams read it in one pool slot, ``auth0_reads__auth0_default``, as the README has the user create it.
Airflow's auth manager is the simple one with a user, ``crm_reader``, who may read crm's DAG and no other
(``tests/dag_restricted_auth_manager.py``), as a deployment grants one team one stream.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

import local_airflow
from auth0_provider.names import (
    COMMIT_TASK,
    FETCH_TASK,
    PREFETCH_TASK,
    READ_TASK,
    STATUS_URL_PREFIX,
    USAGE_XCOM_KEY,
    StreamNames,
    read_pool,
)
from auth0_provider.signing import generate_signing_secret
from auth0_provider.streams import DEFAULT_FILE_NAME, dag_files
from auth0_standin import Auth0StandIn, RateLimit
from tests.airflow_stack import Stack, airflow_stack, create_connection
from tests.browser import browser_page
from tests.conftest import REPO
from tests.faults.promise import Promise
from tests.statsd_listener import StatsdListener, metric_name
from tests.support import api_event, fixture_event
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.scheduler

STREAMS = """\
streams:
  siem:
    webhook_conn_id: siem_webhook
    log_types: [f, fp, fu, limit_wc]
    batch_size: 100
    max_events_per_run: 300
  crm:
    webhook_conn_id: crm_webhook
    log_types: sapi
    api_endpoints: users
    batch_size: 100
    max_events_per_run: 300
  audit:
    webhook_conn_id: audit_webhook
    log_types: [sapi]
    api_endpoints: [connections]
    payload: log_stream
    delivery_retries: 0
    dead_letter_after: 20s
  broken:
    webhook_conn_id: broken_webhook
    batch_size: lots
  later:
    webhook_conn_id: later_webhook
    auth0_conn_id: other_tenant
"""
NAMES = ("siem", "crm", "audit")
READER = "crm_reader"  # may read crm's DAG, and no other DAG
PROFESSIONAL = RateLimit(burst=10, per_minute=100)


@dataclass
class Deployment:
    stack: Stack
    receivers: dict[str, WebhookReceiver]  # by stream name
    statsd: StatsdListener
    started: list[WebhookReceiver]  # by the tests, stopped with the stack

    def stream(self, name: str) -> Stack:
        return self.stack.for_dag(StreamNames.for_stream(name).dag_id)

    def run_all(self, names: tuple[str, ...] = NAMES) -> dict[str, str]:
        """Trigger each stream's DAG, as the UI's Trigger button does; wait for every run."""
        runs = {name: self.stream(name).trigger() for name in names}
        return {name: self.stream(name).wait(run_id, 300) for name, run_id in runs.items()}

    def delivered(self, name: str) -> set[str]:
        return set(self.receivers[name].delivered_log_ids())


def login_failure(standin: Auth0StandIn, n: int) -> str:
    event = fixture_event("f") | {"description": f"Wrong password, attempt {n}"}
    return standin.add_event(event).log_id


def user_change(standin: Auth0StandIn, n: int) -> str:
    return standin.add_event(api_event("patch", f"/api/v2/users/auth0|{n}")).log_id


def connection_change(standin: Auth0StandIn, n: int) -> str:
    return standin.add_event(api_event("patch", f"/api/v2/connections/con_{n}")).log_id


def login_success(standin: Auth0StandIn) -> str:
    return standin.add_event(fixture_event("s")).log_id  # no stream asks for these


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    dags = tmp_path_factory.mktemp("dags")
    for name in ("auth0_webhooks.py", "auth0_webhooks_alerts.py"):
        shutil.copy(REPO / "dags" / name, dags / name)
    (dags / DEFAULT_FILE_NAME).write_text(STREAMS)
    dag_files(dags / DEFAULT_FILE_NAME, dags)
    (home / "config").mkdir()  # on every Airflow process's sys.path: where a deployment's own auth manager can live
    shutil.copy(REPO / "tests" / "dag_restricted_auth_manager.py", home / "config")
    secret = generate_signing_secret()
    settings = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AUTH0_WEBHOOKS_STREAMS_FILE": "",
        # three DAGs' task processes at once on two cores starve the api-server: a few at a time
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__CORE__AUTH_MANAGER": "dag_restricted_auth_manager.DagRestrictedAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{local_airflow.ADMIN_USER}:admin,{READER}:viewer",
        "DAG_RESTRICTED_USERS": f"{READER}:{StreamNames.for_stream('crm').dag_id}",
    }
    dag_ids = tuple(StreamNames.for_stream(name).dag_id for name in (*NAMES, "later"))
    with StatsdListener() as statsd:
        settings["AIRFLOW__METRICS__STATSD_PORT"] = str(statsd.port)
        with (
            Auth0StandIn(rate_limit=PROFESSIONAL) as standin,
            WebhookReceiver(secret=secret) as siem,
            WebhookReceiver(secret=secret) as crm,
            WebhookReceiver(secret=secret) as audit,
            # PostgreSQL: three DAGs draining at once held SQLite's write lock long enough (30 s) to fail a trigger
            airflow_stack(home, standin, siem, settings, dags=dag_ids, postgres=True) as stack,
        ):
            receivers = {"siem": siem, "crm": crm, "audit": audit}
            for name, receiver in receivers.items():
                create_connection(stack.api, f"{name}_webhook", receiver.connection_uri())
            stack.api.call("POST", "/pools", json={"name": read_pool("auth0_default"), "slots": 1})
            deployment = Deployment(stack, receivers, statsd, [])
            for name in NAMES:
                deployment.stream(name).unpause()
            for name in NAMES:  # the runs the scheduler starts for the latest interval, on an empty tenant
                first_run = deployment.stream(name).runs
                local_airflow.wait_until(lambda runs=first_run: bool(runs()), 60, f"{name}'s first run", every=1)
            try:
                yield deployment
            finally:
                for receiver in deployment.started:
                    receiver.stop()


def test_the_bad_stream_fails_its_own_dag_alone_and_the_single_dag_steps_aside(deployment):
    api = deployment.stack.api
    errors = api.call("GET", "/importErrors")["import_errors"]
    assert [Path(e["filename"]).name for e in errors] == ["auth0_webhooks__broken.py"]
    assert "streams.broken.batch_size: 'lots' is not allowed. Use a whole number from 1 to" in errors[0]["stack_trace"]
    dag_ids = {dag["dag_id"] for dag in api.call("GET", "/dags?limit=100")["dags"]}
    assert dag_ids == {"auth0_webhooks__siem", "auth0_webhooks__crm", "auth0_webhooks__audit", "auth0_webhooks__later"}
    siem = api.call("GET", "/dags/auth0_webhooks__siem")
    assert {tag["name"] for tag in siem["tags"]} == {"auth0", "webhooks", "auth0-stream:siem"}
    assert "'siem_webhook'" in siem["description"]


def test_three_streams_with_different_filters_each_deliver_exactly_their_events(deployment):
    standin = deployment.stack.standin
    failures = [login_failure(standin, n) for n in range(3)]
    users = [user_change(standin, n) for n in range(4)]
    connections = [connection_change(standin, n) for n in range(2)]
    last = login_success(standin)
    assert deployment.run_all() == dict.fromkeys(NAMES, "success")
    assert deployment.delivered("siem") >= set(failures)
    assert deployment.delivered("crm") >= set(users)
    assert deployment.delivered("audit") >= set(connections)
    wanted = {"siem": set(failures), "crm": set(users), "audit": set(connections)}
    for name in NAMES:
        others = set(failures + users + connections + [last]) - wanted[name]
        assert not deployment.delivered(name) & others, f"{name} got another stream's events"
        assert deployment.stream(name).watermark() == last  # each read every log, and kept its own
    audit_body = deployment.receivers["audit"].deliveries[-1].json()
    assert isinstance(audit_body, list) and set(audit_body[0]) == {"log_id", "data"}  # its own payload format


def test_a_stream_whose_receiver_is_down_does_not_hold_the_others_back(deployment):
    """siem's run ends while crm's is still retrying, its watermark unmoved: that is what shows crm did not hold
    it back. siem's run takes about 12 s on an idle machine; the 120 s bound is 10 times that.

    crm's receiver goes down only once no run of crm or siem is left and no tick is due for a minute, so that
    the run timed is the one triggered here; it comes back whatever happens, so that a failure here is this
    test's alone and not the next tests' too."""
    standin, stack = deployment.stack.standin, deployment.stack
    crm, siem = deployment.stream("crm"), deployment.stream("siem")
    crm.quiet(60)
    local_airflow.wait_until(siem.idle, 300, "siem's runs to finish", every=2)
    down = deployment.receivers["crm"]
    crm_receivers = [down]
    promise = Promise(
        "test_a_stream_whose_receiver_is_down_does_not_hold_the_others_back",
        lambda: [log_id for receiver in crm_receivers for log_id in receiver.delivered_log_ids()],
        crm.watermark,
    )
    crm_port = int(down.base_url.rsplit(":", 1)[1])
    down.stop()  # connections to it are refused
    try:
        crm_before = crm.watermark()
        failures = [login_failure(standin, n) for n in range(10, 12)]
        users = [user_change(standin, n) for n in range(10, 12)]
        promise.expect(users)
        crm_run = crm.trigger()

        def crm_underway() -> bool:
            return stack.api.call("GET", f"/dags/{crm.dag}/dagRuns/{crm_run}")["state"] == "running"

        local_airflow.wait_until(crm_underway, 120, "crm's run to start")  # a queued run holds nothing back yet
        started = time.monotonic()
        assert deployment.run_all(("siem",)) == {"siem": "success"}
        siem_took = time.monotonic() - started
        assert deployment.delivered("siem") >= set(failures)
        assert siem.watermark() == users[-1]
        crm_state = stack.api.call("GET", f"/dags/{crm.dag}/dagRuns/{crm_run}")["state"]
        assert crm_state == "running" and crm.watermark() == crm_before
        assert siem_took < 120, f"siem's run took {siem_took:.0f} s while crm's receiver was down"
        promise.check_watermark()
    finally:
        back = WebhookReceiver(secret=down.secret, port=crm_port).start()
        deployment.receivers["crm"] = back
        deployment.started.append(back)
        crm_receivers.append(back)
    assert crm.wait(crm_run, 300) == "success"  # its retries reach the receiver once back
    assert crm.watermark() == users[-1]
    promise.settle()


def test_two_streams_catch_up_on_one_backlog_at_once_under_professional_limits_without_a_429(deployment):
    """3,000 events, 30 pages for each stream, read in turns in the tenant's one read slot."""
    standin = deployment.stack.standin
    failures, users = [], []
    for n in range(1500):
        failures.append(login_failure(standin, 100 + n))
        users.append(user_change(standin, 100 + n))
    refused_before = standin.rate_limited
    runs_before = {name: {r["dag_run_id"] for r in deployment.stream(name).runs()} for name in ("siem", "crm")}
    started = time.monotonic()
    deployment.stream("siem").trigger()
    deployment.stream("crm").trigger()
    local_airflow.wait_until(
        lambda: all(deployment.stream(n).watermark() == users[-1] for n in ("siem", "crm")),
        900,
        "both streams caught up",
        every=2,
    )
    took = time.monotonic() - started
    assert deployment.delivered("siem") >= set(failures) and deployment.delivered("crm") >= set(users)
    assert standin.rate_limited == refused_before, "a stream's reader was answered 429"
    # the pool is what kept them apart: no two reads of the tenant overlapped, whichever stream's
    reads = []
    for name in ("siem", "crm"):
        view = deployment.stream(name)
        for run in view.runs():
            if run["dag_run_id"] in runs_before[name]:
                continue
            # fetch_logs, outside the pool, took what read_logs or a read-ahead had read: it never read Auth0
            fetch = f"/dags/{view.dag}/dagRuns/{run['dag_run_id']}/taskInstances/{FETCH_TASK}/xcomEntries"
            keys = {entry["key"] for entry in view.api.call("GET", fetch)["xcom_entries"]}
            assert USAGE_XCOM_KEY not in keys, f"{name}'s {FETCH_TASK} read Auth0 in {run['dag_run_id']}"
            for ti in view.task_instances(run["dag_run_id"]):
                if ti["task_id"] in (READ_TASK, PREFETCH_TASK) and ti["start_date"] and ti["end_date"]:
                    assert ti["pool"] == read_pool("auth0_default")
                    what = f"{name} {ti['task_id']} {run['dag_run_id']} try {ti['try_number']} {ti['state']}"
                    reads.append((_at(ti["start_date"]), _at(ti["end_date"]), what))
    reads.sort()
    assert len({what.split()[0] for _, _, what in reads}) == 2 and len(reads) >= 10
    for (_, end, first), (start, _, second) in itertools.pairwise(reads):
        assert start >= end - timedelta(milliseconds=50), f"two reads of the tenant ran at once: {first}, {second}"
    print(f"two streams, each reading 3,000 events: caught up in {took:.0f} s, {len(reads)} reads, 0 429s")


def caught_up(deployment: Deployment) -> None:
    """Every stream's watermark at the tenant's newest log, so that no run of theirs moves one meanwhile:
    the last test's backlog is read by every stream, each in its own runs, which may still be going on."""
    newest = deployment.stack.standin.events[-1].log_id
    for name in NAMES:
        if deployment.stream(name).watermark() != newest:
            deployment.stream(name).trigger()  # queued behind a run that is still going, if any
    local_airflow.wait_until(
        lambda: all(deployment.stream(name).watermark() == newest for name in NAMES),
        600,
        "every stream caught up",
        every=2,
    )


def test_a_replay_of_one_stream_resends_its_window_and_leaves_every_watermark(deployment):
    standin = deployment.stack.standin
    caught_up(deployment)
    events = {e.log_id: e for e in standin.events}
    window = sorted(deployment.delivered("audit"))
    dates = sorted(events[log_id].date for log_id in window)
    before = {name: deployment.stream(name).watermark() for name in NAMES}
    sent = {name: len(deployment.receivers[name].requests) for name in NAMES}
    audit = deployment.stream("audit")
    conf = {"replay_from": dates[0], "replay_to": (_at(dates[-1]) + timedelta(seconds=1)).isoformat()}
    assert audit.wait(audit.trigger(conf), 300) == "success"
    resent = deployment.receivers["audit"].deliveries[sent["audit"] :]
    assert {log_id for d in resent for log_id in _log_ids(d)} == set(window)
    assert {name: deployment.stream(name).watermark() for name in NAMES} == before
    assert {name: len(deployment.receivers[name].requests) for name in ("siem", "crm")} == {
        name: sent[name] for name in ("siem", "crm")
    }


def test_a_backfill_of_one_stream_delivers_the_events_dated_in_its_window_and_leaves_every_watermark(deployment):
    stack, standin = deployment.stack, deployment.stack.standin
    crm = deployment.stream("crm")
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    crm.pause()  # history, written while crm waits: only a backfill may deliver it

    def user_change_at(moment: datetime, n: int) -> str:
        return standin.add_event(api_event("patch", f"/api/v2/users/auth0|h{n}"), moment=moment).log_id

    outside = [user_change_at(start - timedelta(minutes=10), 0)]
    inside = [user_change_at(start + timedelta(seconds=10 * n), n) for n in range(1, 4)]
    # one in the second interval too: a window with no log at all, older than the oldest log the tenant keeps
    # (here: the module's first), fails as lost to retention (ReplayWindow.lost_to_retention)
    inside.append(user_change_at(start + timedelta(minutes=6), 5))
    outside.append(user_change_at(start + timedelta(minutes=20), 4))
    newest = standin.events[-1]
    stack.api.set_watermark(newest.log_id, newest.date, crm.names.watermark_variable)
    crm.unpause()
    since = datetime.now(UTC)

    crm.backfill(start, start + timedelta(minutes=5))  # two 5-minute intervals, as the README has it
    local_airflow.wait_until(
        lambda: (
            any(r["run_type"] == "backfill" for r in crm.runs())
            and all(r["state"] in ("success", "failed") for r in crm.runs() if _at(r["queued_at"]) >= since)
        ),
        300,
        "crm's backfill run",
        every=2,
    )
    backfills = [r for r in crm.runs() if r["run_type"] == "backfill" and _at(r["queued_at"]) >= since]
    assert backfills and {r["state"] for r in backfills} == {"success"}
    delivered = deployment.delivered("crm")
    assert set(inside) <= delivered and not delivered & set(outside)
    assert crm.watermark() == newest.log_id  # neither read nor moved by a backfill
    for run in backfills:
        assert "the watermark is not touched" in crm.task_log(run["dag_run_id"], COMMIT_TASK)
    for name in ("siem", "audit"):  # other streams' filters keep these out, backfill or not
        assert not deployment.delivered(name) & set(inside + outside)


def _log_ids(delivery) -> list[str]:
    body = delivery.json()
    items = body if isinstance(body, list) else [body]
    return [item["log_id"] for item in items]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_a_poison_event_is_parked_in_its_streams_own_store_and_redelivered_from_that_streams_page(deployment):
    stack, standin, receiver = deployment.stack, deployment.stack.standin, deployment.receivers["audit"]
    audit = deployment.stream("audit")
    audit.quiet(150)  # no scheduled run of its own may take the poison event first
    base = f"{stack.api.base_url}{STATUS_URL_PREFIX}/streams"
    poison, other = connection_change(standin, 90), connection_change(standin, 91)
    receiver.refuse_log_ids[poison] = 422
    receiver.hang[other] = 2.0  # accepted after the refusal: the receiver takes other events meanwhile
    first = audit.wait(audit.trigger(), 300)
    if not any(r.status == 422 for r in receiver.requests):
        # the run delivered what an earlier run had read ahead, from before these two were logged: the next
        # run reads them
        assert first == "success"
        first = audit.wait(audit.trigger(), 300)
    assert first == "failed"
    refused_at = min(r.received_at for r in receiver.requests if r.status == 422)
    time.sleep(max(0.0, refused_at + 21 - time.time()))  # dead_letter_after: 20s
    assert audit.wait(audit.trigger(), 300) == "success"  # parked, and the watermark passes it
    assert audit.watermark() == other

    def dead_letters(dag_id: str) -> list[str]:
        status = stack.api.session.get(f"{base}/{dag_id}/api/status", timeout=30).json()
        return [letter["log_id"] for letter in status["dead_letters"]]

    assert dead_letters(audit.dag) == [poison]
    assert dead_letters("auth0_webhooks__crm") == [] and dead_letters("auth0_webhooks__siem") == []
    del receiver.refuse_log_ids[poison]
    answer = stack.api.session.post(f"{base}/{audit.dag}/api/redeliver", json={"log_ids": [poison]}, timeout=30)
    assert answer.ok, answer.text
    assert audit.wait(answer.json()["dag_run_id"], 300) == "success"
    assert poison in receiver.delivered_log_ids() and dead_letters(audit.dag) == []
    assert audit.watermark() == other  # a redelivery leaves the watermark alone


def test_each_streams_metrics_carry_its_name(deployment):
    statsd = deployment.statsd
    for name in NAMES:
        assert statsd.wait_for(f"airflow.auth0_webhooks.events_delivered.{name}", timeout=30), name
        assert statsd.wait_for(f"airflow.auth0_webhooks.lag_seconds.{name}", timeout=30), name
    assert statsd.wait_for("airflow.auth0_webhooks.events_parked.audit", timeout=30)
    assert "airflow.auth0_webhooks.events_parked.crm" not in {metric_name(line) for line in statsd.lines}


def test_the_status_page_lists_every_stream_and_shows_each_one_on_its_own_page(deployment):
    stack = deployment.stack
    base = f"{stack.api.base_url}{STATUS_URL_PREFIX}"
    with browser_page(stack.api.base_url, "admin", local_airflow.admin_password(stack.home)) as page:
        page.goto(f"{base}/")  # with streams, the page is the list of streams
        rows = page.get_by_test_id("stream")
        expect(rows).to_have_count(4, timeout=30_000)
        text = page.locator("table").inner_text()
        for name in (*NAMES, "later"):
            assert f"stream '{name}'" in text and f"'{name}_webhook'" in text
        # audit, crm, later, siem: the list is in DAG id order; later was never unpaused
        states = ["flowing", "flowing", "paused", "flowing"]
        expect(page.get_by_test_id("stream-state")).to_have_text(states, timeout=30_000)
        page.get_by_role("link", name="stream 'crm'").click()
        expect(page.locator("h1")).to_have_text("Auth0 webhook stream crm", timeout=30_000)
        expect(page.get_by_test_id("state")).to_have_text("flowing")
    crm = stack.api.session.get(f"{base}/streams/auth0_webhooks__crm/api/status", timeout=30).json()
    assert crm["watermark"]["log_id"] == deployment.stream("crm").watermark()
    assert stack.api.session.get(f"{base}/streams/auth0_webhooks__nope/api/status", timeout=30).status_code == 404
    redeliver = stack.api.session.post(
        f"{base}/streams/auth0_webhooks__crm/api/redeliver", json={"log_ids": ["not-parked"]}, timeout=30
    )
    assert redeliver.status_code == 400 and "not-parked" in redeliver.text  # checked against crm's own store


def test_a_user_who_may_read_one_stream_reaches_its_page_from_the_menu_and_sees_no_other_stream(deployment):
    stack = deployment.stack
    base = f"{stack.api.base_url}{STATUS_URL_PREFIX}"
    password = json.loads((stack.home / "simple_auth_manager_passwords.json").read_text())[READER]
    with browser_page(stack.api.base_url, READER, password) as page:
        page.get_by_role("button", name="Browse").click()
        page.get_by_role("menuitem", name="Auth0 webhooks").click()  # the UI's navigation entry: the page inside
        frame = page.frame_locator("iframe")
        expect(frame.get_by_test_id("stream")).to_have_count(1, timeout=30_000)
        expect(frame.get_by_role("link")).to_have_text(["stream 'crm'", "JSON"])
        frame.get_by_role("link", name="stream 'crm'").click()
        expect(frame.locator("h1")).to_have_text("Auth0 webhook stream crm", timeout=30_000)

    token = requests.post(
        f"{stack.api.base_url}/auth/token", json={"username": READER, "password": password}, timeout=30
    ).json()["access_token"]
    as_reader = requests.Session()
    as_reader.headers["Authorization"] = f"Bearer {token}"
    menu = as_reader.get(f"{base}/", timeout=30)  # where the menu entry points
    assert menu.ok and menu.url == f"{base}/streams/", (menu.status_code, menu.url)
    lines = as_reader.get(f"{base}/streams/api/streams", timeout=30).json()
    assert [line["dag_id"] for line in lines] == ["auth0_webhooks__crm"]
    assert as_reader.get(f"{base}/streams/auth0_webhooks__crm/api/status", timeout=30).ok
    for name in ("siem", "audit", "later"):
        dag_id = StreamNames.for_stream(name).dag_id
        for path in (f"{dag_id}/", f"{dag_id}/api/status"):
            answer = as_reader.get(f"{base}/streams/{path}", timeout=30)
            assert answer.status_code == 403, f"{path} answered {answer.status_code} to a reader of crm alone"


def test_a_missing_read_pool_is_named_on_the_status_page_and_its_waiting_runs_count_toward_blocked(deployment):
    """Airflow leaves a task whose pool does not exist scheduled, silently: the page says so. A run of that
    stream then waits for ever at ``read_logs``, before any attempt begins: the page counts it as uncommitted
    from the moment it was queued, which is what makes the stream "blocked" once ``BLOCKED_AFTER`` has passed."""
    stack = deployment.stack
    base = f"{stack.api.base_url}{STATUS_URL_PREFIX}/streams"
    lines = stack.api.session.get(f"{base}/api/streams", timeout=30).json()
    problems = {line["dag_id"]: line["problem"] for line in lines}
    pool = read_pool("other_tenant")
    later = problems.pop("auth0_webhooks__later")
    assert f"The read pool '{pool}' does not exist" in later and f"airflow pools set {pool} 1" in later
    assert problems == dict.fromkeys((StreamNames.for_stream(name).dag_id for name in NAMES), None)

    view = deployment.stream("later")
    status = f"{base}/{view.dag}/api/status"
    assert stack.api.session.get(status, timeout=30).json()["uncommitted_since"] is None  # no run yet
    view.trigger()  # unpauses too: the scheduler also starts a run for the latest interval, which goes first
    try:

        def read_states() -> dict[str, str | None]:
            """``read_logs``'s state in each running run (one at a time: the others are queued behind it)."""
            running = [run["dag_run_id"] for run in view.runs() if run["state"] == "running"]
            return {
                run_id: ti["state"]
                for run_id in running
                for ti in view.task_instances(run_id)
                if ti["task_id"] == READ_TASK
            }

        def waiting_for_its_pool() -> bool:
            return "scheduled" in read_states().values()

        local_airflow.wait_until(waiting_for_its_pool, 120, f"later's {READ_TASK} to wait for its pool", every=2)
        time.sleep(10)  # long enough for a task whose pool existed to start: it does not
        assert set(read_states().values()) == {"scheduled"}
        queued = [datetime.fromisoformat(run["queued_at"]) for run in view.runs() if run["queued_at"]]
        page = stack.api.session.get(status, timeout=30).json()
        assert page["uncommitted_since"] is not None
        assert datetime.fromisoformat(page["uncommitted_since"]) == min(queued)
    finally:
        view.api.set_paused(view.dag, True)
        for run in view.runs():
            if run["state"] in ("queued", "running"):
                view.api.call("PATCH", f"/dags/{view.dag}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})
