"""What a person does to a run in the Airflow UI, under a real scheduler, on both topologies.

Each test performs one operation through the REST API calls the UI makes (mark a task instance or a
run, clear task instances or a run) and settles the promise: nothing lost, the watermark never past
an event without a receipt unless a person marked its delivery success, and the figures of its row
in docs/reliability.md ("Operations in the UI").

The 5-minute schedule keeps ticking meanwhile; a scheduled run in the middle of a test would act on
the same events, so each test first waits for a quiet stretch (``Stack.quiet``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import local_airflow
from auth0_provider.names import COMMIT_TASK, DEAD_LETTER_INDEX, DEAD_LETTER_PREFIX, DELIVER_TASK, FETCH_TASK
from tests.airflow_stack import Stack, unpaused_stack
from tests.faults.promise import Promise
from tests.support import user_events

pytestmark = pytest.mark.scheduler
QUIET = 90  # seconds each test needs without a scheduled run (they take 12-30 s here)


@pytest.fixture(scope="module", params=["local", "production"])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    settings = {"AUTH0_WEBHOOKS_CONCURRENT_CALLS": "1", "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0"}
    with unpaused_stack(home, settings, production=request.param == "production") as stack:
        yield stack


@pytest.fixture
def promise(request, stack) -> Iterator[Promise]:
    stack.quiet(QUIET)
    stack.receiver.fail_keys.clear()
    yield Promise(request.node.originalname, stack.receiver.delivered_log_ids, stack.watermark)
    stack.receiver.fail_keys.clear()
    stack.receiver.delay = 0.0


def expected(stack: Stack, promise: Promise, count: int) -> list[str]:
    log_ids = [event.log_id for event in user_events(stack.standin, count)]
    promise.expect(log_ids)
    return log_ids


def failed_run(stack: Stack, promise: Promise, failing: str) -> str:
    """A run in which the receiver answers 500 to ``failing``: it fails, and commits nothing."""
    stack.receiver.fail_keys[failing] = 500
    run_id = stack.trigger()
    assert stack.wait(run_id) == "failed"
    promise.check_watermark()
    stack.receiver.fail_keys.clear()
    return run_id


def test_deliveries_skipped_by_a_timeout_or_by_hand_hold_the_watermark_until_they_are_sent(stack, promise):
    """The pending deliveries are set to skipped, as a dagrun_timeout does; the person then clears the
    failed one with its downstream tasks (the Clear dialog's defaults), and the commit runs."""
    before = stack.watermark()
    events = expected(stack, promise, 4)
    stack.receiver.fail_keys[events[0]] = 500
    stack.receiver.delay = 4.0  # one delivery at a time (CONCURRENT_CALLS=1), slowly
    run_id = stack.trigger()
    waiting: list[int] = []

    def failed_one_and_some_waiting() -> bool:
        """While a delivery is at the receiver, none of those waiting can start: skip them then."""
        states = stack.states(run_id, DELIVER_TASK)
        waiting[:] = [i for i, state in states.items() if state in (None, "scheduled")]
        return states.get(0) == "failed" and stack.receiver.in_flight == 1 and bool(waiting)

    local_airflow.wait_until(failed_one_and_some_waiting, 120, "the first delivery failed, another sending")
    for index in waiting:
        stack.mark(run_id, DELIVER_TASK, index, "skipped")
    assert stack.wait(run_id) == "failed"
    stack.receiver.fail_keys.clear()
    stack.receiver.delay = 0.0

    stack.clear(run_id, [(DELIVER_TASK, 0)])  # the failed one, downstream included
    assert stack.wait(run_id) == "failed"
    assert stack.states(run_id, COMMIT_TASK)[-1] == "failed"
    commit_log = stack.task_log(run_id, COMMIT_TASK)
    assert f"{len(waiting)} of 4 deliveries have no receipt ({len(waiting)} skipped)" in commit_log
    assert f"The watermark stays at {before or 'none (no watermark yet)'}" in commit_log
    assert stack.watermark() == before
    promise.check_watermark()

    stack.clear(run_id, [(DELIVER_TASK, i) for i in waiting], only_failed=False)  # as the message says
    assert stack.wait(run_id) == "success"
    assert stack.watermark() == events[-1]
    promise.settle(duplicates=0)


def test_a_running_run_marked_failed_then_cleared_sends_only_what_has_no_receipt(stack, promise):
    """Airflow marks every instance of the running deliver task failed, the delivered ones too; the
    run cleared again ("Clear Run", existing tasks), only what has no receipt is sent."""
    events = expected(stack, promise, 4)
    stack.receiver.delay = 4.0
    run_id = stack.trigger()

    def two_delivered_and_one_sending() -> bool:
        delivered = set(stack.receiver.delivered_log_ids()) & set(events)
        return len(delivered) == 2 and stack.receiver.in_flight == 1

    local_airflow.wait_until(two_delivered_and_one_sending, 120, "two delivered, one sending")
    stack.mark_run(run_id, "failed")  # the one in flight reaches the receiver, but its task never hears back
    assert set(stack.states(run_id, DELIVER_TASK).values()) <= {"failed", "skipped"}
    local_airflow.wait_until(lambda: stack.receiver.in_flight == 0, 30, "the receiver answering the last request")
    stack.receiver.delay = 0.0
    promise.check_watermark()

    stack.clear_run(run_id)
    assert stack.wait(run_id) == "success"
    assert "2 already delivered: their receipts were found, not sent again" in stack.task_log(run_id, FETCH_TASK)
    assert stack.watermark() == events[-1]
    promise.settle(duplicates=1)  # the one in flight: the receiver kept it, no receipt says so


def test_a_failed_delivery_marked_success_is_skipped_named_and_recorded(stack, promise):
    events = expected(stack, promise, 3)
    run_id = failed_run(stack, promise, events[1])
    promise.skip([events[1]])

    stack.mark(run_id, DELIVER_TASK, 1, "success")  # Airflow then runs the commit again
    assert stack.wait(run_id) == "success"
    commit_log = stack.task_log(run_id, COMMIT_TASK)
    assert f"Marked success by hand, never delivered: the watermark passes 1 event(s), log id(s) {events[1]}" in (
        commit_log
    )
    assert stack.watermark() == events[-1]
    recorded = stack.asset_state(DEAD_LETTER_PREFIX + events[1])
    assert recorded["run_id"] == run_id and recorded["reason"] == "skipped by hand"
    assert events[1] in stack.asset_state(DEAD_LETTER_INDEX)
    assert events[1] not in stack.receiver.delivered_log_ids()
    promise.settle(duplicates=0)


def test_fetch_logs_cleared_alone_after_the_watermark_moved_reads_nothing_and_says_why(stack, promise):
    events = expected(stack, promise, 2)
    old = failed_run(stack, promise, events[1])
    newer = stack.trigger()  # starts from the same watermark: sends only the one without a receipt
    assert stack.wait(newer) == "success"
    assert stack.watermark() == events[-1]
    before = stack.states(old, DELIVER_TASK)

    stack.clear(old, [(FETCH_TASK, -1)], only_failed=False, downstream=False)
    assert stack.wait(old) == "failed"
    assert "was cleared without its downstream tasks, but 2 deliveries of this run" in stack.task_log(old, FETCH_TASK)
    assert stack.states(old, DELIVER_TASK) == before
    assert stack.watermark() == events[-1]
    later = expected(stack, promise, 1)
    assert stack.wait(stack.trigger()) == "success"
    assert stack.watermark() == later[0]
    promise.settle(duplicates=0)


def test_a_whole_old_run_cleared_after_a_newer_run_committed_goes_on_from_the_watermark(stack, promise):
    events = expected(stack, promise, 2)
    old = failed_run(stack, promise, events[1])
    assert stack.wait(stack.trigger()) == "success"
    assert stack.watermark() == events[-1]
    later = expected(stack, promise, 1)

    stack.clear_run(old)  # its fetch reads from the watermark now, not its old logs
    assert stack.wait(old) == "success"
    assert stack.watermark() == later[0]
    promise.settle(duplicates=0)
