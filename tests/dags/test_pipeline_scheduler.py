"""End to end under a real scheduler: concurrency, retrying from the UI, signatures and secrets.

Every test runs on two topologies: LocalExecutor on SQLite, and the production one, PostgreSQL
with CeleryExecutor, a Redis broker and two workers that share no disk (tests/airflow_stack.py).
Each starts api-server, scheduler and dag-processor in a temporary home, with the stand-in and a
signature-checking receiver on 127.0.0.1, and stops every process it started by id. The
connections are created through the REST API, as in the UI, with recognisable secrets; the last
test searches the whole Airflow home (and the metadata DB) for them.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import local_airflow
from auth0_provider.names import COMMIT_TASK, DELIVER_TASK, FETCH_TASK, PREFETCH_TASK
from auth0_standin import Auth0StandIn
from tests.airflow_stack import DAG, Stack, airflow_stack
from tests.support import api_event, user_events
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.scheduler


# Recognisable secrets: the leak test looks for every one of them, in every form it could take.
CLIENT_SECRET = "LEAKCHECK-client-secret-" + secrets.token_hex(8)
AUTHORIZATION = "Bearer LEAKCHECK-authorization-" + secrets.token_hex(8)
SIGNING_KEYS = [f"LEAKCHECK-signing-key-{n}-{secrets.token_hex(8)}".encode() for n in (1, 2)]
OLD_SECRET, NEW_SECRET = ("whsec_" + base64.b64encode(key).decode() for key in SIGNING_KEYS)
SENDER_CLOCK = Path(__file__).resolve().parents[1] / "sender_clock"


@pytest.fixture(scope="module", params=["local", "production"])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    with Auth0StandIn(client_secret=CLIENT_SECRET) as standin, WebhookReceiver(secret=NEW_SECRET) as receiver:
        receiver.echo_on_error = True  # error bodies quote our Authorization header back
        settings = {
            "AUTH0_WEBHOOKS_CONCURRENT_CALLS": "2",
            "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0",
            "AIRFLOW__CORE__MAX_MAP_LENGTH": "5",  # so a backlog needs follow-up runs
            "PYTHONPATH": str(SENDER_CLOCK),
            "AUTH0_TEST_CLOCK_FILE": str(home / "clock_offset"),
        }
        # mid-rotation: the receiver knows only the new key, we sign with both
        webhook = receiver.connection_uri(Authorization=AUTHORIZATION).replace(NEW_SECRET, f"{OLD_SECRET} {NEW_SECRET}")
        production = request.param == "production"
        with airflow_stack(home, standin, receiver, settings, webhook, production=production) as stack:
            yield stack


def set_sender_clock(stack: Stack, offset_seconds: float) -> None:
    """Move the clock the Airflow workers sign with (see tests/sender_clock/sitecustomize.py)."""
    (stack.home / "clock_offset").write_text(str(offset_seconds))


def test_concurrency_limit_holds(stack):
    """CONCURRENT_CALLS=2 with a slow receiver: never more than 2 in flight, and 2 at some point.

    On the production topology each of the two workers runs one task at a time, and prefetch_next
    takes one of them first, so the workers' deliveries start seconds apart, and stay that far apart.
    Their POSTs overlap only if one lasts longer than that gap, which is at most half a delivery's
    whole cycle (start, POST, finish): the receiver's delay must exceed the rest of the cycle, a few
    seconds. With 2 s they sometimes never overlapped.
    """
    stack.receiver.delay = 6.0
    events = user_events(stack.standin, 6)
    stack.unpause()  # the scheduler starts a run
    try:
        local_airflow.wait_until(lambda: stack.watermark() == events[-1].log_id, 240, "the events committed", every=2)
    finally:
        stack.receiver.delay = 0.0
    assert sorted(stack.receiver.delivered_keys()) == sorted(e.log_id for e in events)
    assert {d.verified for d in stack.receiver.requests} == {"ok"}  # signed, and standardwebhooks agrees
    assert {d.headers["authorization"] for d in stack.receiver.requests} == {AUTHORIZATION}
    assert stack.receiver.max_in_flight == 2
    assert stack.watermark() == events[-1].log_id


def test_a_failed_delivery_is_retried_from_the_ui_then_commits(stack):
    start = stack.watermark()
    ok_before = stack.standin.add_event(api_event("post", "/api/v2/users"))
    bad = stack.standin.add_event(api_event("patch", "/api/v2/users/auth0|9"))
    ok_after = stack.standin.add_event(api_event("delete", "/api/v2/users/auth0|8"))
    stack.receiver.fail_keys[bad.log_id] = 500

    run_a = stack.trigger()
    assert stack.wait(run_a) == "failed"
    tis = stack.task_instances(run_a)
    (failed,) = [ti for ti in tis if ti["state"] == "failed"]
    assert failed["task_id"] == DELIVER_TASK
    assert failed["rendered_map_index"].startswith(bad.log_id)
    assert "/api/v2/users/auth0|9" in failed["rendered_map_index"]
    assert {ti["state"] for ti in tis if ti["task_id"] == COMMIT_TASK} == {"upstream_failed"}
    assert stack.watermark() == start  # nothing committed past the undelivered event
    assert {ok_before.log_id, ok_after.log_id} <= set(stack.receiver.delivered_keys())

    stack.receiver.fail_keys.clear()
    stack.clear_like_the_ui(run_a, DELIVER_TASK, failed["map_index"])
    assert stack.wait(run_a) == "success"
    assert bad.log_id in stack.receiver.delivered_keys()
    assert stack.watermark() == ok_after.log_id


def test_a_stale_run_retried_later_never_moves_the_watermark_back(stack):
    bad = stack.standin.add_event(api_event("post", "/api/v2/users"))
    stack.receiver.fail_keys[bad.log_id] = 503
    run_c = stack.trigger()
    assert stack.wait(run_c) == "failed"
    (failed,) = [ti for ti in stack.task_instances(run_c) if ti["state"] == "failed"]

    stack.receiver.fail_keys.clear()
    newer = stack.standin.add_event(api_event("post", "/api/v2/users"))
    run_d = stack.trigger()
    assert stack.wait(run_d) == "success"
    assert stack.watermark() == newer.log_id

    stack.clear_like_the_ui(run_c, DELIVER_TASK, failed["map_index"])  # hours later, from the UI
    assert stack.wait(run_c) == "success"
    assert stack.watermark() == newer.log_id  # run C's older checkpoint was not written back


def test_a_delivery_cleared_after_it_delivered_finds_its_receipt_and_does_not_send_again(stack):
    """Clear a delivered instance (try 2): its receipt from try 1 is an event of the stream asset,
    which a clear does not touch, so the webhook gets nothing more and the run ends green."""
    stack.unpause()  # on its own, this test meets the run unpausing starts: let it pass first
    local_airflow.wait_until(lambda: bool(stack.runs()), 60, "the first scheduled run", every=1)
    stack.quiet(90)  # and no 5-minute tick may deliver the event instead of this run
    event = stack.standin.add_event(api_event("post", "/api/v2/users/auth0|again"))
    run_id = stack.trigger()
    assert stack.wait(run_id) == "success"
    sent = [d for d in stack.receiver.requests if d.key == event.log_id]
    assert len(sent) == 1  # this run delivered it
    (delivered,) = [ti for ti in stack.task_instances(run_id) if ti["task_id"] == DELIVER_TASK]
    assert delivered["map_index"] == 0

    stack.clear(run_id, [(DELIVER_TASK, delivered["map_index"])], only_failed=False)
    assert stack.wait(run_id) == "success"
    assert [d for d in stack.receiver.requests if d.key == event.log_id] == sent
    log = stack.task_log(run_id, DELIVER_TASK, delivered["map_index"])
    assert "Already delivered: the webhook answered 200" in log and "not sent again" in log
    assert stack.watermark() == event.log_id


def test_a_backlog_drains_in_back_to_back_runs_that_never_overlap(stack):
    """12 events, 5 per run: one trigger, then the DAG keeps going by itself, not at the next tick.

    A 5-minute tick may slip a scheduled run in anywhere; every assertion holds whichever runs do the work.
    """
    events = [stack.standin.add_event(api_event("post", f"/api/v2/roles/rol_{i}")) for i in range(12)]
    since = datetime.now(UTC)
    stack.trigger()
    local_airflow.wait_until(lambda: stack.watermark() == events[-1].log_id, 180, "the backlog committed", every=2)
    assert {e.log_id for e in events} <= set(stack.receiver.delivered_keys())

    def runs_since() -> list[dict]:
        runs = stack.api.call("GET", f"/dags/{DAG}/dagRuns?order_by=start_date&limit=100")["dag_runs"]
        return [r for r in runs if r["start_date"] and datetime.fromisoformat(r["start_date"]) >= since]

    mine: list[dict] = []

    def all_finished() -> bool:
        """Read again each time: a tick may start a run after the others finished; the last drain
        run is still skipping its drain_backlog when the watermark lands."""
        mine[:] = runs_since()
        return all(r["state"] in ("success", "failed") for r in mine)

    local_airflow.wait_until(all_finished, 240, "every run since the trigger to finish", every=2)
    assert "drain" in {r["dag_run_id"].split("__")[0] for r in mine}  # follow-ups started themselves
    assert {r["state"] for r in mine} == {"success"}
    for earlier, later in itertools.pairwise(mine):
        assert later["start_date"] >= earlier["end_date"]  # max_active_runs=1 holds for follow-ups too
    # events 6-10 and 11-12 were each read ahead by one run and delivered by the next without reading
    fetch_logs = [stack.task_log(r["dag_run_id"], FETCH_TASK) for r in mine]
    assert sum("read ahead by run" in log for log in fetch_logs) == 2
    prefetch = [
        next(ti["state"] for ti in stack.task_instances(r["dag_run_id"]) if ti["task_id"] == PREFETCH_TASK)
        for r in mine
    ]
    assert prefetch.count("success") == 2  # once caught up, there is nothing to read ahead
    assert prefetch[-1] == "skipped"


def test_a_retry_cleared_from_the_ui_ten_minutes_later_is_signed_afresh(stack):
    """The first try is stamped 10 minutes in the past (the sender's clock is moved, not waited for);
    the receiver's 5-minute tolerance refuses it. Cleared "now", the retry must carry a new timestamp."""
    event = stack.standin.add_event(api_event("post", "/api/v2/users/auth0|late"))
    set_sender_clock(stack, -600)
    try:
        run = stack.trigger()
        assert stack.wait(run) == "failed"
    finally:
        set_sender_clock(stack, 0)
    # a 5-minute tick may queue a scheduled run that sends the same event too: look at first and last
    first = next(d for d in stack.receiver.requests if d.key == event.log_id)
    assert (first.status, first.verified) == (401, "Message timestamp too old")
    (failed,) = [ti for ti in stack.task_instances(run) if ti["state"] == "failed"]

    stack.clear_like_the_ui(run, DELIVER_TASK, failed["map_index"])
    assert stack.wait(run) == "success"  # the receiver took the cleared try: it was signed afresh
    *_, retry = [d for d in stack.receiver.requests if d.key == event.log_id]
    assert (retry.status, retry.verified) == (200, "ok")
    assert int(retry.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 595
    assert retry.body == first.body
    assert stack.watermark() == event.log_id


def test_tasks_on_any_worker_share_one_token_and_keep_nothing_on_local_disk(stack):
    """After the runs above: on the production topology every worker delivered and fetched logs, each
    from a home of its own, yet Auth0 issued one token: the cache is in the metadata DB, not on a disk."""
    if stack.worker_homes:
        assert len(stack.worker_homes) == 2
        for home in stack.worker_homes:
            logs = (home / "logs").rglob("attempt=*.log")  # .../task_id=x[/map_index=n]/attempt=k.log
            ran = {part for path in logs for part in path.parts if part.startswith("task_id=")}
            assert {"task_id=deliver", "task_id=fetch_logs"} <= ran, (home.name, ran)
    else:
        assert stack.env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert stack.standin.tokens_issued == 1


def secret_forms() -> dict[str, bytes]:
    """Each secret as text and in the encodings a leak could take (JSON, base64, raw key bytes)."""
    forms = {"client secret": CLIENT_SECRET.encode(), "Authorization value": AUTHORIZATION.encode()}
    forms["Authorization token"] = AUTHORIZATION.removeprefix("Bearer ").encode()
    for n, (key, secret) in enumerate(zip(SIGNING_KEYS, (OLD_SECRET, NEW_SECRET), strict=True), start=1):
        forms[f"signing secret {n}"] = secret.encode()
        forms[f"signing secret {n} base64"] = secret.removeprefix("whsec_").encode()
        forms[f"signing key {n}"] = key
    return forms


def test_no_secret_is_anywhere_in_the_airflow_home(stack):
    """After every run above (deliveries, failures with the Authorization echoed, UI clears):
    the task logs, the metadata DB (XCom, rendered fields, serialized DAG, ...) and every other
    file in the Airflow home hold none of the secrets."""
    tokens = stack.standin.issued_tokens
    assert tokens and stack.receiver.deliveries  # the secrets were in use
    forms = secret_forms() | {f"access token {n}": token.encode() for n, token in enumerate(tokens, start=1)}

    for table in ("xcom", "rendered_task_instance_fields", "serialized_dag", "connection", "variable"):
        rows = stack.table(table)
        assert rows, f"{table} is empty: the search below would prove nothing"
        text = repr(rows).encode()
        assert not [name for name, form in forms.items() if form in text], table
    assert stack.receiver.deliveries[0].key in repr(stack.table("xcom"))  # positive control: XCom is readable

    logs = [path for path in stack.home.rglob("*.log") if "task_id=deliver" in str(path)]  # workers' homes too
    delivery_logs = b"".join(p.read_bytes() for p in logs)
    assert b"Webhook answered 500" in delivery_logs  # a failure whose body quoted the Authorization
    assert b'\\"authorization\\": \\"***\\"' in delivery_logs  # ... and the value was redacted

    found = []
    for path in stack.home.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            found += [(str(path.relative_to(stack.home)), name) for name, form in forms.items() if form in content]
    assert found == []
