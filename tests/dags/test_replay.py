"""Replaying a window and catching retention gaps, with ``dag.test()`` against the stand-in."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from airflow.models.dagrun import DagRun
from airflow.models.variable import Variable as VariableModel
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

from auth0_provider.names import CHECKPOINT_XCOM_KEY, FETCH_TASK, PREFETCH_TASK, read_ahead_variable
from auth0_standin import Auth0StandIn, StoredEvent
from tests.dags.conftest import WATERMARK, states, stored_watermark
from tests.support import api_event, user_creations

POINTER = read_ahead_variable(WATERMARK)


def stretch(standin: Auth0StandIn, start: datetime, end: datetime, inside_count: int, just_after: int = 1) -> list[str]:
    """Logs around ``[start, end)`` with dates a little out of log-id order, as Auth0 writes them;
    returns the ids of those dated inside. ``just_after`` logs dated 10 s past the end come before
    one dated inside that was logged late."""
    inside: list[StoredEvent] = []
    user_creations(standin, start - timedelta(minutes=10))
    inside += user_creations(standin, start + timedelta(seconds=1))  # an id before the next one's, dated later
    user_creations(standin, start - timedelta(seconds=20))
    inside += user_creations(standin, start + timedelta(seconds=2), inside_count - 2)
    user_creations(standin, end + timedelta(seconds=10), just_after)
    inside += user_creations(
        standin, end - timedelta(seconds=1)
    )  # logged late: its id comes after one dated past the end
    user_creations(standin, end + timedelta(minutes=30))
    return [e.log_id for e in inside]


def window_conf(start: datetime, end: datetime) -> dict[str, str]:
    return {"replay_from": start.isoformat(), "replay_to": end.isoformat()}


def set_live_state(log_id: str) -> tuple[str, str]:
    """A watermark and a read-ahead pointer, as a live DAG has them; a replay must leave both alone."""
    watermark = json.dumps({"log_id": log_id, "date": None})
    pointer = json.dumps({"run_id": "scheduled__x", "task_id": PREFETCH_TASK, "start": log_id})
    VariableModel.set(WATERMARK, watermark)
    VariableModel.set(POINTER, pointer)
    return watermark, pointer


def test_a_replay_delivers_exactly_the_events_dated_in_its_window(standin, receiver, run_dag):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    end = start + timedelta(minutes=5)
    inside = stretch(standin, start, end, 6, just_after=150)  # the late one is a page after the end
    live = set_live_state(standin.events[-1].log_id)

    dag_run = run_dag(conf=window_conf(start, end))
    assert dag_run.state == "success"
    assert sorted(receiver.delivered_log_ids()) == sorted(inside)  # each once, the late one too, none outside
    assert (VariableModel.get(WATERMARK), VariableModel.get(POINTER)) == live  # neither read nor written
    ran = states(dag_run)
    assert (ran["prefetch_next[-1]"], ran["drain_backlog[-1]"]) == ("skipped", "skipped")


def checkpoint(dag_run) -> dict:
    query = XComModel.get_many(
        run_id=dag_run.run_id, key=CHECKPOINT_XCOM_KEY, dag_ids=dag_run.dag_id, task_ids=FETCH_TASK
    )
    with create_session() as session:
        return XComModel.deserialize_value(session.scalars(query).one())


def replay_follow_ups() -> dict[str, dict]:
    """The runs drain_backlog started for the rest of a window (dag.test creates them, queued): their confs."""
    with create_session() as session:
        return {r.run_id: dict(r.conf) for r in session.scalars(select(DagRun)) if r.run_id.startswith("replay__")}


def test_a_window_bigger_than_a_run_goes_on_in_follow_up_runs(standin, receiver, run_dag):
    """10 events a run: the follow-up conf each run asks for (drain_backlog) carries on after its last log."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    end = start + timedelta(minutes=5)
    inside = stretch(standin, start, end, 24)
    live = set_live_state(standin.events[-1].log_id)
    conf, runs, seen = window_conf(start, end), 0, set(replay_follow_ups())
    while conf is not None and runs < 10:
        dag_run = run_dag(max_events=10, conf=conf)
        runs += 1
        assert dag_run.state == "success"
        point = checkpoint(dag_run)
        more = states(dag_run)["drain_backlog[-1]"] == "success"
        assert more == point["backlog"]
        started = {run_id: c for run_id, c in replay_follow_ups().items() if run_id not in seen}
        seen |= started.keys()
        assert len(started) == (1 if more else 0)
        conf = next(iter(started.values()), None)  # the next run replays with what drain_backlog asked for
        assert conf is None or conf["replay_after"] == point["end"]["log_id"]
    assert runs == 3  # 27 logs read, from just before the window to past it, 10 a run
    assert sorted(receiver.delivered_log_ids()) == sorted(inside)  # each exactly once
    assert (VariableModel.get(WATERMARK), VariableModel.get(POINTER)) == live


def test_a_replay_with_a_bad_window_fails_naming_the_conf_key(standin, receiver, run_dag, capfd):
    standin.add_event(api_event("post", "/api/v2/users"))
    dag_run = run_dag(conf={"replay_from": "last tuesday", "replay_to": "2026-11-24T14:00:00Z"})
    assert dag_run.state == "failed"
    assert "Conf 'replay_from' is 'last tuesday'" in capfd.readouterr().out
    assert receiver.deliveries == [] and stored_watermark() is None


def aged_out(standin: Auth0StandIn) -> tuple[StoredEvent, list[StoredEvent]]:
    """A watermark on a log dated 3 days ago, then retention deletes it and the day after it."""
    gone = user_creations(standin, datetime.now(UTC) - timedelta(days=3), 3)
    kept = user_creations(standin, datetime.now(UTC) - timedelta(hours=30), 2) + user_creations(
        standin, datetime.now(UTC), 2
    )
    VariableModel.set(WATERMARK, json.dumps({"log_id": gone[0].log_id, "date": gone[0].date}))
    assert standin.forget_before(datetime.now(UTC) - timedelta(days=2)) == 3
    return gone[0], kept


def test_a_watermark_older_than_retention_fails_and_says_what_was_lost(standin, receiver, run_dag, capfd):
    gone, kept = aged_out(standin)
    dag_run = run_dag()
    assert dag_run.state == "failed"
    out = capfd.readouterr().out
    assert f"Auth0 no longer keeps log {gone.log_id}" in out
    assert f"the oldest it still keeps, {kept[0].log_id}" in out
    assert re.search(r"Events logged in that span \(about 4[12]\.\d hours\)", out)  # 72 h - 30 h
    assert "AUTH0_WEBHOOKS_ON_GAP=continue" in out and f"delete the Variable '{WATERMARK}'" in out
    assert receiver.deliveries == []
    assert stored_watermark()["log_id"] == gone.log_id  # the gap is not passed


def test_on_gap_continue_resumes_from_the_oldest_kept_log_and_logs_the_gap(standin, receiver, run_dag, capfd):
    _, kept = aged_out(standin)
    dag_run = run_dag(on_gap="continue")
    assert dag_run.state == "success"
    assert "Retention gap: Auth0 no longer keeps log" in capfd.readouterr().out
    assert sorted(receiver.delivered_log_ids()) == [e.log_id for e in kept]  # the oldest kept one included
    assert stored_watermark()["log_id"] == kept[-1].log_id


def test_only_a_watermark_old_enough_to_have_aged_out_is_checked(standin, receiver, run_dag):
    """One request to see that a day-old watermark's log is still kept; none for a fresh one."""
    old = user_creations(standin, datetime.now(UTC) - timedelta(days=1))[0]
    VariableModel.set(WATERMARK, json.dumps({"log_id": old.log_id, "date": old.date}))
    fresh = user_creations(standin, datetime.now(UTC), 2)
    assert run_dag().state == "success"
    assert standin.requests[f"GET /api/v2/logs/{old.log_id}"] == 1
    assert sorted(receiver.delivered_log_ids()) == [e.log_id for e in fresh]
    newer = user_creations(standin, datetime.now(UTC))
    assert run_dag().state == "success"
    assert not [path for path in standin.requests if path.startswith(f"GET /api/v2/logs/{fresh[-1].log_id}")]
    assert max(receiver.delivered_log_ids()) == newer[0].log_id


def test_a_replay_that_cannot_deliver_says_the_rest_of_its_window_waits_for_it(standin, receiver, run_dag, capfd):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    end = start + timedelta(minutes=5)
    inside = stretch(standin, start, end, 24)
    receiver.fail_keys[inside[3]] = 500
    dag_run = run_dag(max_events=10, conf=window_conf(start, end))
    assert dag_run.state == "failed"
    point = checkpoint(dag_run)
    assert point["backlog"] is True
    out = capfd.readouterr().out
    assert (
        f"the rest of the window, after log {point['end']['log_id']}, follows in a run that starts once every "
        "delivery of this one is confirmed (a failed one holds it: clear it to go on)"
    ) in out
    assert states(dag_run)["drain_backlog[-1]"] == "upstream_failed"  # no follow-up yet, and the log said why


def test_a_window_older_than_retention_fails_saying_what_auth0_still_keeps(standin, receiver, run_dag, capfd):
    now = datetime.now(UTC).replace(microsecond=0)
    user_creations(standin, now - timedelta(days=3), 3)
    kept = user_creations(standin, now - timedelta(hours=30), 2)
    assert standin.forget_before(now - timedelta(days=2)) == 3
    dag_run = run_dag(conf=window_conf(now - timedelta(days=3, minutes=1), now - timedelta(days=2, hours=23)))
    assert dag_run.state == "failed"
    out = capfd.readouterr().out
    assert "Auth0 no longer keeps logs that old" in out
    assert f"The oldest log it keeps, {kept[0].log_id}, is dated {kept[0].date}" in out
    assert receiver.deliveries == []


def test_a_window_partly_older_than_retention_replays_the_rest_and_warns(standin, receiver, run_dag, capfd):
    now = datetime.now(UTC).replace(microsecond=0)
    user_creations(standin, now - timedelta(hours=30, minutes=10), 2)
    kept = user_creations(standin, now - timedelta(hours=30), 3)
    assert standin.forget_before(now - timedelta(hours=30, minutes=1)) == 2
    dag_run = run_dag(conf=window_conf(now - timedelta(hours=30, minutes=15), now - timedelta(hours=29)))
    assert dag_run.state == "success"
    assert f"can no longer be replayed: Auth0 keeps logs only from {kept[0].date}" in capfd.readouterr().out
    assert sorted(receiver.delivered_log_ids()) == [e.log_id for e in kept]


def test_a_quiet_stretch_inside_retention_replays_nothing_without_a_warning(standin, receiver, run_dag, capfd):
    now = datetime.now(UTC).replace(microsecond=0)
    user_creations(standin, now - timedelta(hours=5))  # kept, before the window
    user_creations(standin, now - timedelta(hours=1))  # and after it
    dag_run = run_dag(conf=window_conf(now - timedelta(hours=3), now - timedelta(hours=2)))
    assert dag_run.state == "success"
    out = capfd.readouterr().out
    assert "0 dated inside" in out and "no longer" not in out
    assert receiver.deliveries == []
