"""Replays under a real scheduler: ``airflow backfill create``, a run triggered with a window, and a
watermark that Auth0's retention has overtaken.

Its own Airflow (see tests/airflow_stack.py) with BATCH_SIZE=100 and max_map_length 5, so one run
takes 500 events and a window of more than 1,000 needs follow-up runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import local_airflow
from auth0_provider.names import COMMIT_TASK, FETCH_TASK
from auth0_standin import Auth0StandIn, StoredEvent
from tests.airflow_stack import DAG, Stack, airflow_stack
from tests.support import user_creations
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.scheduler


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    with Auth0StandIn() as standin, WebhookReceiver() as receiver:
        settings = {
            "AUTH0_WEBHOOKS_BATCH_SIZE": "100",
            "AUTH0_WEBHOOKS_CONCURRENT_CALLS": "2",
            "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0",
            "AIRFLOW__CORE__MAX_MAP_LENGTH": "5",  # 500 events per run
        }
        with airflow_stack(home, standin, receiver, settings) as stack:
            yield stack


def history(stack: Stack, start: datetime, end: datetime) -> tuple[set[str], set[str]]:
    """Logs around ``[start, end)``, dates slightly out of log-id order as in Auth0: the log ids of
    the events dated inside, and of those dated outside.

    They are history, from before the live watermark: the DAG is paused while they are written and
    the watermark set past them, so that only a replay may deliver them."""
    stack.pause()
    inside: list[StoredEvent] = []
    outside = user_creations(stack.standin, start - timedelta(minutes=10), 3)
    inside += user_creations(stack.standin, start + timedelta(seconds=5), 2)  # ids before the next ones' ...
    outside += user_creations(stack.standin, start - timedelta(seconds=30), 3)  # ... which are dated earlier, outside
    inside += user_creations(
        stack.standin, start + timedelta(seconds=6), 1100, (end - start - timedelta(seconds=7)) / 1100
    )
    outside += user_creations(stack.standin, end + timedelta(seconds=20), 3)
    # logged late: ids after ones dated past the end
    inside += user_creations(stack.standin, end - timedelta(seconds=30), 5)
    outside += user_creations(stack.standin, end + timedelta(minutes=20), 3)
    stack.api.set_watermark(stack.standin.events[-1].log_id)
    stack.unpause()
    return {e.log_id for e in inside}, {e.log_id for e in outside}


def replays(stack: Stack, since: datetime) -> list[dict]:
    """Runs queued since ``since`` that replay a window: backfill runs, runs triggered with a window,
    and the follow-ups they started for the rest of their windows."""
    return [
        r
        for r in stack.runs()
        if parse(r["queued_at"]) >= since and (r["run_type"] == "backfill" or (r["conf"] or {}).get("replay_from"))
    ]


def replays_finished(stack: Stack, since: datetime, at_least: int) -> bool:
    runs = replays(stack, since)
    return len(runs) >= at_least and all(r["state"] in ("success", "failed") for r in runs)


def assert_replayed(stack: Stack, runs: list[dict], inside: set[str], outside: set[str]) -> None:
    """Every event dated inside arrived, none dated outside, and no replay moved the watermark."""
    assert {r["state"] for r in runs} == {"success"}
    delivered = set(stack.receiver.delivered_log_ids())
    assert inside <= delivered  # the late ones included
    assert not delivered & outside
    for run in runs:
        assert "the watermark is not touched" in stack.task_log(run["dag_run_id"], COMMIT_TASK)


def test_a_watermark_older_than_retention_fails_the_run_loudly(stack):
    """First, while the tenant's log ids still follow its dates as Auth0's do."""
    gone = user_creations(stack.standin, datetime.now(UTC) - timedelta(days=3))[0]  # the log the watermark stands at
    kept = user_creations(stack.standin, datetime.now(UTC))
    assert stack.standin.forget_before(datetime.now(UTC) - timedelta(days=2)) == 1  # retention passes over it
    stack.api.set_watermark(gone.log_id, gone.date)  # as if the DAG had stood still since
    run_id = stack.trigger()
    assert stack.wait(run_id) == "failed"
    log = stack.task_log(run_id, FETCH_TASK)
    assert f"Auth0 no longer keeps log {gone.log_id}" in log
    assert "about 3.0 days" in log  # roughly how much was lost
    assert "AUTH0_WEBHOOKS_ON_GAP=continue" in log and "delete the Variable 'auth0_webhooks_watermark'" in log
    assert stack.watermark() == gone.log_id  # nothing passed the gap
    assert kept[0].log_id not in stack.receiver.delivered_log_ids()


def test_a_backfill_replays_its_window_while_scheduled_runs_go_on(stack):
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % 5)
    inside, outside = history(stack, start, start + timedelta(minutes=10))
    since = datetime.now(UTC)
    live = user_creations(stack.standin, datetime.now(UTC))

    stack.backfill(start, start + timedelta(minutes=5))
    live += user_creations(stack.standin, datetime.now(UTC))
    stack.trigger()  # a normal run while the backfill runs
    live += user_creations(stack.standin, datetime.now(UTC))

    local_airflow.wait_until(
        lambda: replays_finished(stack, since, at_least=4), 480, "the backfill runs and their follow-ups", every=2
    )
    runs = replays(stack, since)
    assert_replayed(stack, runs, inside, outside)
    backfills = [r for r in runs if r["run_type"] == "backfill"]
    intervals = sorted((parse(r["data_interval_start"]), parse(r["data_interval_end"])) for r in backfills)
    five = timedelta(minutes=5)
    assert intervals == [(start, start + five), (start + five, start + 2 * five)]  # --to-date: the last run's start
    assert len(runs) > len(backfills)  # ~550 events a window, 500 a run: each window took a follow-up run
    local_airflow.wait_until(lambda: stack.watermark() == live[-1].log_id, 300, "the live events committed", every=2)
    assert {e.log_id for e in live} <= set(stack.receiver.delivered_log_ids())


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_a_replay_triggered_with_conf_does_the_same(stack):
    """What "Trigger DAG w/ config" with replay_from and replay_to does, from the UI."""
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    end = start + timedelta(minutes=7)
    inside, outside = history(stack, start, end)
    since = datetime.now(UTC)
    live = user_creations(stack.standin, since)
    stack.trigger({"replay_from": start.isoformat(), "replay_to": end.isoformat()})
    live += user_creations(stack.standin, datetime.now(UTC))
    stack.trigger()  # a normal run, queued behind the replay

    local_airflow.wait_until(
        lambda: replays_finished(stack, since, at_least=3), 420, "the replay and its follow-ups", every=2
    )
    runs = replays(stack, since)
    assert len(runs) >= 3  # 1,110 events in the window, 500 a run
    assert_replayed(stack, runs, inside, outside)
    local_airflow.wait_until(lambda: stack.watermark() == live[-1].log_id, 300, "the live events committed", every=2)
    assert {e.log_id for e in live} <= set(stack.receiver.delivered_log_ids())


def test_a_backfill_over_an_interval_the_dag_already_ran_replays_it_too(stack):
    """The usual case: every interval since deployment already has a run, and
    ``--reprocess-behavior completed`` turns that run into a backfill run."""
    # three hours back: two runs cannot share a logical date, and the module's 5-minute ticks own the
    # recent intervals, the backfill test above those of an hour ago
    logical = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    logical -= timedelta(minutes=logical.minute % 5)
    run_id = stack.trigger(logical_date=logical)
    assert stack.wait(run_id) == "success"

    def ran() -> dict:
        return stack.api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}")

    # dated inside its interval, logged now
    late = user_creations(stack.standin, parse(ran()["data_interval_start"]) + timedelta(seconds=30), 3)
    assert stack.wait(stack.trigger()) == "success"  # a live run delivers them
    watermark = stack.watermark()
    assert watermark == late[-1].log_id

    stack.backfill(logical, logical)

    local_airflow.wait_until(lambda: ran()["run_type"] == "backfill", 60, "the run turned into a backfill run", every=2)
    assert stack.wait(run_id) == "success"
    delivered = stack.receiver.delivered_log_ids()
    assert all(delivered.count(e.log_id) >= 2 for e in late)  # once live, once replayed
    assert "the watermark is not touched" in stack.task_log(run_id, COMMIT_TASK)
    assert stack.watermark() == watermark
