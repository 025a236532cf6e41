"""How the stream's state and incidents are judged, and when an alert goes out: once per incident, once as it clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth0_provider.health import (
    BEHIND,
    BLOCKED,
    BLOCKED_AFTER,
    FAILING,
    FLOWING,
    PARKED_EVENTS,
    PAUSED,
    Incident,
    RunSeen,
    Signals,
    announced,
    incidents,
    is_live,
    plan_alerts,
    status,
    uncommitted_since,
    watch,
)
from auth0_provider.records import AUTH0_REFUSED, RETENTION_GAP, Attempt, CommitWatch, Failure, Reading, Trouble
from auth0_provider.watermark import Watermark

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MARK = Watermark("900001", "2026-12-01T11:00:00.000Z")
NEWEST = Watermark("900009", "2026-12-01T11:55:00.000Z")
HALF_HOUR = timedelta(minutes=30)


def signals(**changes) -> Signals:
    fields = {"now": NOW, "watermark": MARK, "attempt": None, "reading": Reading(NOW, MARK, MARK, False)}
    return Signals(**(fields | changes))


def test_a_stream_whose_runs_commit_is_flowing_with_no_lag():
    judged = signals()
    assert status(judged).state == FLOWING
    assert judged.lag == timedelta(0)


def test_the_lag_is_how_much_older_the_watermark_is_than_the_newest_log_read():
    judged = signals(reading=Reading(NOW, MARK, NEWEST, False))
    assert judged.lag == timedelta(minutes=55)


def test_a_run_that_read_less_than_auth0_had_leaves_the_stream_behind():
    assert status(signals(reading=Reading(NOW, MARK, NEWEST, True))).state == BEHIND


def test_runs_starting_from_one_watermark_for_fifteen_minutes_are_blocked_since_the_first():
    since = NOW - BLOCKED_AFTER
    judged = status(signals(attempt=Attempt(MARK.log_id, since)))
    assert (judged.state, judged.since) == (BLOCKED, since)
    assert MARK.log_id in judged.reason


def test_a_run_still_under_way_is_not_blocked():
    assert status(signals(attempt=Attempt(MARK.log_id, NOW - timedelta(minutes=4)))).state == FLOWING


def test_runs_failing_before_any_began_an_attempt_for_fifteen_minutes_are_blocked():
    """A stream's read_logs failing, or a task that never starts: no attempt, yet no run commits."""
    since = NOW - BLOCKED_AFTER
    judged = status(signals(uncommitted_since=since))
    assert (judged.state, judged.since) == (BLOCKED, since)
    assert "none began reading" in judged.reason
    assert status(signals(uncommitted_since=NOW - timedelta(minutes=4))).state == FLOWING
    found = incidents(signals(uncommitted_since=NOW - 2 * HALF_HOUR), HALF_HOUR)
    assert found[BLOCKED].since == NOW - 2 * HALF_HOUR


def test_the_oldest_live_run_after_the_newest_successful_one_is_since_when_none_committed():
    def run(minutes_ago: int, state: str, live: bool = True) -> RunSeen:
        return RunSeen(NOW - timedelta(minutes=minutes_ago), state, live)

    newest_first = [
        run(1, "running"),
        run(5, "failed", live=False),
        run(6, "failed"),
        run(11, "success"),
        run(16, "failed"),
    ]
    assert uncommitted_since(newest_first) == NOW - timedelta(minutes=6)
    assert uncommitted_since([run(1, "success"), run(6, "failed")]) is None
    assert uncommitted_since([run(3, "running"), run(8, "queued")]) == NOW - timedelta(minutes=8)
    # a run triggered by hand, due later than the scheduled run but queued before it
    assert uncommitted_since([run(7, "queued"), run(2, "running")]) == NOW - timedelta(minutes=7)
    assert uncommitted_since([]) is None


def test_backfills_replays_and_redeliveries_are_not_live_runs():
    assert is_live(None) and is_live({}) and is_live({"redeliver": None, "replay_from": ""})
    assert not is_live({}, backfill=True)
    assert not is_live({"redeliver": "all"})
    assert not is_live({"replay_from": "2026-12-01T00:00:00Z", "replay_to": "2026-12-01T01:00:00Z"})


def test_an_alert_check_counts_from_when_it_first_saw_the_last_commit_and_starts_again_on_a_new_one():
    committed = NOW - timedelta(hours=2)
    first = watch(None, committed, paused=False, now=NOW)
    assert first == CommitWatch(committed, NOW)
    later = NOW + HALF_HOUR
    assert watch(first, committed, paused=False, now=later) == first  # the same commit: still since NOW
    assert watch(first, later, paused=False, now=later) == CommitWatch(later, later)  # a new commit
    assert watch(first, committed, paused=True, now=later) == CommitWatch(committed, later)  # paused: nothing due
    assert CommitWatch.from_json(first.to_json()) == first
    assert CommitWatch.from_json({"since": "x"}) is None


def test_the_reason_for_a_blocked_stream_is_the_receivers_answer_to_the_failed_delivery():
    failure = Failure("900002 sapi POST /api/v2/users", 1, 503, "Webhook answered 503 Service Unavailable", NOW)
    judged = status(signals(attempt=Attempt(MARK.log_id, NOW - HALF_HOUR), failures=(failure,)))
    assert judged.state == BLOCKED
    assert judged.reason.startswith("Delivery 900002 sapi POST /api/v2/users: the receiver answered 503.")


def test_a_trouble_comes_before_a_failed_delivery_in_the_reason_and_fails_the_stream():
    trouble = Trouble(AUTH0_REFUSED, NOW, "Auth0 refused the client secret of connection 'auth0_default'")
    failure = Failure("x", 1, None, "timed out", NOW)
    judged = status(signals(troubles=(trouble,), failures=(failure,)))
    assert (judged.state, judged.reason) == (FAILING, trouble.message)


def test_a_paused_dag_is_paused_whatever_else_is_wrong():
    assert status(signals(paused=True, failed_run="run x failed")).state == PAUSED


def test_incidents_are_a_block_longer_than_the_alert_period_parked_events_and_each_trouble():
    gap = Trouble(RETENTION_GAP, NOW - HALF_HOUR, "Retention gap: ...")
    found = incidents(
        signals(attempt=Attempt(MARK.log_id, NOW - HALF_HOUR), dead_letters=("900003",), troubles=(gap,)), HALF_HOUR
    )
    assert set(found) == {BLOCKED, PARKED_EVENTS, RETENTION_GAP}
    assert "900003" in found[PARKED_EVENTS].text
    assert found[BLOCKED].since == NOW - HALF_HOUR


def test_a_block_shorter_than_the_alert_period_is_no_incident():
    assert incidents(signals(attempt=Attempt(MARK.log_id, NOW - HALF_HOUR + timedelta(seconds=1))), HALF_HOUR) == {}


def test_an_incident_that_opens_is_announced_once_and_once_more_when_it_clears():
    refused = {AUTH0_REFUSED: Incident(AUTH0_REFUSED, NOW, "Auth0 refused ...")}
    opened = plan_alerts("auth0_webhooks", {}, refused)
    assert [(a.kind, a.cleared) for a in opened.send] == [(AUTH0_REFUSED, False)]
    assert opened.send[0].subject == "[auth0_webhooks] Auth0 refused our credentials"
    assert opened.send[0].text == "Auth0 refused ..."

    still = plan_alerts("auth0_webhooks", opened.open, refused)
    assert still.send == [] and still.open == opened.open

    cleared = plan_alerts("auth0_webhooks", still.open, {})
    assert [(a.kind, a.cleared) for a in cleared.send] == [(AUTH0_REFUSED, True)]
    assert cleared.send[0].subject == "[auth0_webhooks] cleared: Auth0 refused our credentials"
    assert cleared.open == {}


def test_a_gap_passed_by_on_gap_continue_is_open_for_its_period_only():
    passed = Trouble(RETENTION_GAP, NOW, "passed", until=NOW + timedelta(days=1))
    assert passed.open_at(NOW + timedelta(hours=23))
    assert not passed.open_at(NOW + timedelta(days=1))
    assert Trouble(RETENTION_GAP, NOW, "stops the stream").open_at(NOW + timedelta(days=30))


def test_a_failure_from_before_the_latest_commit_no_longer_fails_the_stream():
    failure = Failure("900002", 1, 422, "refused", NOW - timedelta(minutes=10))
    assert status(signals(failures=(failure,), committed_at=NOW - timedelta(minutes=5))).state == FLOWING
    assert status(signals(failures=(failure,), committed_at=NOW - timedelta(minutes=15))).state == FAILING


def test_an_alert_that_could_not_be_sent_leaves_its_incident_unannounced_so_the_next_check_sends_it():
    refused = {AUTH0_REFUSED: Incident(AUTH0_REFUSED, NOW, "refused"), BLOCKED: Incident(BLOCKED, NOW, "blocked")}
    plan = plan_alerts("s", {}, refused)
    sent_only_blocked = [alert for alert in plan.send if alert.kind == BLOCKED]
    after = announced({}, plan, sent_only_blocked)
    assert after == {BLOCKED: NOW}
    assert [alert.kind for alert in plan_alerts("s", after, refused).send] == [AUTH0_REFUSED]

    clearing = plan_alerts("s", after, {})
    assert announced(after, clearing, []) == after  # a clearing alert that did not go is sent again too
