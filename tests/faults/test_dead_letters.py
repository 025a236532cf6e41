"""One event the receiver refuses for good never stalls the stream: parking, the dead-letter store, redelivery.

Under a real scheduler (LocalExecutor). The stack parks a delivery refused for 20 s
(``AUTH0_WEBHOOKS_DEAD_LETTER_AFTER``) while other deliveries succeed, and its store holds 3 events at
most (``AUTH0_WEBHOOKS_DEAD_LETTER_MAX``); tests that need other settings restart the scheduler with
them (``Stack.settings``). Each test settles the promise and its row in docs/reliability.md ("Poison
events and dead letters").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth0_provider.dead_letters import read_index
from auth0_provider.names import COMMIT_TASK, DEAD_LETTER_PREFIX, DELIVER_TASK, REDELIVER_PARAM
from auth0_provider.records import batch_id
from tests.airflow_stack import Stack, unpaused_stack
from tests.faults.promise import Promise
from tests.support import user_events
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.scheduler
AFTER = 20  # seconds: AUTH0_WEBHOOKS_DEAD_LETTER_AFTER
QUIET = 180  # seconds each test needs without a scheduled run
REFUSED = 422


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    settings = {
        "AUTH0_WEBHOOKS_CONCURRENT_CALLS": "5",
        "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0",
        "AUTH0_WEBHOOKS_DEAD_LETTER_AFTER": f"{AFTER}s",
        "AUTH0_WEBHOOKS_DEAD_LETTER_MAX": "3",
    }
    with unpaused_stack(home, settings) as stack:
        yield stack


@pytest.fixture
def promise(request, stack) -> Iterator[Promise]:
    stack.quiet(QUIET)
    yield Promise(request.node.originalname, stack.receiver.delivered_log_ids, stack.watermark)
    stack.receiver.fail_keys.clear()
    stack.receiver.refuse_log_ids.clear()
    stack.receiver.hang.clear()


def expected(stack: Stack, promise: Promise, count: int) -> list[str]:
    log_ids = [event.log_id for event in user_events(stack.standin, count)]
    promise.expect(log_ids)
    return log_ids


def run(stack: Stack, promise: Promise, conf: dict | None = None) -> tuple[str, str]:
    run_id = stack.trigger(conf)
    state = stack.wait(run_id)
    promise.check_watermark()
    return run_id, state


def first_refusal(receiver: WebhookReceiver, log_id: str) -> float:
    return min(r.received_at for r in receiver.requests if r.status == REFUSED and log_id in r.body.decode())


def refused_bodies(receiver: WebhookReceiver, log_id: str) -> set[bytes]:
    return {r.body for r in receiver.requests if r.status == REFUSED and log_id in r.body.decode()}


def wait_past(moment: float, seconds: float) -> None:
    time.sleep(max(0.0, moment + seconds + 1 - time.time()))


def store_index(stack: Stack) -> list[str]:
    return read_index(stack.asset_state)


def parked(stack: Stack, promise: Promise, count: int) -> tuple[list[str], str, float, str]:
    """``count`` events, the second refused every time; the run fails on it, and the next, DEAD_LETTER_AFTER
    later, parks it. The events, the refused one, when it was first refused, and the id of the run that parked it."""
    events = expected(stack, promise, count)
    poison = events[1]
    stack.receiver.refuse_log_ids[poison] = REFUSED
    stack.receiver.hang[events[-1]] = 2.0  # answered after the refusal: another delivery succeeded meanwhile
    _, state = run(stack, promise)
    assert state == "failed"
    refused_at = first_refusal(stack.receiver, poison)

    promise.park([poison])  # the watermark may pass it now: the store must hold it (each test checks)
    wait_past(refused_at, AFTER)
    run_id, state = run(stack, promise)
    assert state == "success"
    return events, poison, refused_at, run_id


def test_a_poison_event_is_parked_after_dead_letter_after_and_the_events_after_it_are_delivered(stack, promise):
    """The first run after DEAD_LETTER_AFTER parks it and commits the rest: AFTER + 11 s after the first refusal
    on an idle machine (1 s past AFTER, then a run of about 10 s). The bound, AFTER + 120 s, gives that run more
    than 10 times its idle time, so a busy machine does not reach it."""
    events, poison, refused_at, run_id = parked(stack, promise, 3)
    took = time.time() - refused_at
    assert stack.watermark() == events[-1]
    assert took < AFTER + 120, f"the events after it were committed {took:.0f} s after the first refusal"
    deliver_log = "".join(stack.task_log(run_id, DELIVER_TASK, i) for i in stack.states(run_id, DELIVER_TASK))
    assert f"Parked 1 of 1 event(s) in the dead-letter store, refused by the webhook: log id(s) {poison}" in deliver_log
    assert "The dead-letter store holds 1 event(s)" in stack.task_log(run_id, COMMIT_TASK)

    letter = stack.asset_state(DEAD_LETTER_PREFIX + poison)
    assert letter["body"].encode() in refused_bodies(stack.receiver, poison)  # byte for byte as sent
    assert (letter["reason"], letter["status"], letter["attempts"]) == ("parked", REFUSED, 2)
    assert store_index(stack) == [poison]
    promise.settle(duplicates=0)


def test_a_parked_event_is_redelivered_by_a_conf_run_once_the_receiver_accepts_it(stack, promise):
    run(stack, promise, {REDELIVER_PARAM: "all"})  # whatever an earlier test left in the store
    _, poison, _, _ = parked(stack, promise, 3)
    watermark = stack.watermark()
    letter = stack.asset_state(DEAD_LETTER_PREFIX + poison)
    stack.receiver.refuse_log_ids.clear()

    run_id, state = run(stack, promise, {REDELIVER_PARAM: "all"})
    assert state == "success"
    (again,) = [d for d in stack.receiver.deliveries if d.key == letter["key"]]
    assert again.body == letter["body"].encode()
    assert again.verified == "ok"  # signed afresh
    assert stack.watermark() == watermark
    assert stack.asset_state(DEAD_LETTER_PREFIX + poison) is None
    assert store_index(stack) == []
    assert "Redelivered 1 dead letter(s); the dead-letter store holds 0" in stack.task_log(run_id, COMMIT_TASK)
    promise.settle(duplicates=0)


def test_a_poison_event_in_a_batch_of_100_is_parked_alone_and_its_99_neighbours_delivered(stack, promise):
    """Parked by the first run after DEAD_LETTER_AFTER, as a single event's is: AFTER + 11 s on an idle machine,
    bounded at AFTER + 120 s for the same reason."""
    with stack.settings(batch_size="100"):
        events = expected(stack, promise, 101)
        poison = events[37]
        stack.receiver.refuse_log_ids[poison] = REFUSED
        stack.receiver.hang[batch_id(events[100:])] = 2.0  # the second batch succeeds after the first is refused
        _, state = run(stack, promise)
        assert state == "failed"
        refused_at = first_refusal(stack.receiver, poison)

        promise.park([poison])
        wait_past(refused_at, AFTER)
        _, state = run(stack, promise)
        assert state == "success"
        assert time.time() - refused_at < AFTER + 120
    assert stack.watermark() == events[-1]
    letter = stack.asset_state(DEAD_LETTER_PREFIX + poison)
    assert json.loads(letter["body"])[0]["log_id"] == poison  # the event alone, as a batch of one
    assert letter["body"].encode() in refused_bodies(stack.receiver, poison)
    refused_posts = [r for r in stack.receiver.requests if r.status == REFUSED and poison in r.body.decode()]
    assert len(refused_posts) <= 2 + 7  # two whole-batch refusals, then one half in each of 7 cuts
    assert store_index(stack) == [poison]

    stack.receiver.refuse_log_ids.clear()
    _, state = run(stack, promise, {REDELIVER_PARAM: [poison]})
    assert state == "success"
    assert store_index(stack) == []
    promise.settle(duplicates=0)


def held_past_dead_letter_after(stack: Stack, promise: Promise, events: list[str], index: list[str] = ()) -> str:
    """Two runs more than DEAD_LETTER_AFTER apart fail: nothing more is parked (the store holds ``index``), the
    watermark waits. The second's id."""
    _, state = run(stack, promise)
    assert state == "failed"
    wait_past(time.time(), AFTER)
    run_id, state = run(stack, promise)
    assert state == "failed"
    assert stack.watermark() != events[-1]
    assert sorted(store_index(stack)) == sorted(index)
    return run_id


def recovers(stack: Stack, promise: Promise, events: list[str]) -> None:
    """Once the receiver accepts everything, the next run delivers what waited and commits."""
    stack.receiver.fail_keys.clear()
    stack.receiver.refuse_log_ids.clear()
    _, state = run(stack, promise)
    assert state == "success"
    assert stack.watermark() == events[-1]


def test_the_endpoint_down_for_longer_than_dead_letter_after_parks_nothing_and_the_stream_waits(stack, promise):
    events = expected(stack, promise, 3)
    for log_id in events:
        stack.receiver.fail_keys[log_id] = 503
    run_id = held_past_dead_letter_after(stack, promise, events)
    assert "Webhook answered 503" in stack.task_log(run_id, DELIVER_TASK, 0)
    assert "Park" not in stack.task_log(run_id, DELIVER_TASK, 0)
    recovers(stack, promise, events)
    promise.settle(duplicates=0)


def test_a_receiver_that_refuses_every_event_for_longer_than_dead_letter_after_parks_nothing(stack, promise):
    events = expected(stack, promise, 2)
    for log_id in events:
        stack.receiver.refuse_log_ids[log_id] = REFUSED
    run_id = held_past_dead_letter_after(stack, promise, events)
    assert "no other delivery succeeded since" in stack.task_log(run_id, DELIVER_TASK, 0)
    recovers(stack, promise, events)
    promise.settle(duplicates=0)


def test_with_parking_turned_off_a_poison_event_holds_the_stream(stack, promise):
    with stack.settings(dead_letter_after="never"):
        events = expected(stack, promise, 3)
        stack.receiver.refuse_log_ids[events[1]] = REFUSED
        stack.receiver.hang[events[2]] = 2.0  # another delivery succeeds after the refusal
        run_id = held_past_dead_letter_after(stack, promise, events)
        assert "Not parked: parking is off (AUTH0_WEBHOOKS_DEAD_LETTER_AFTER=never)" in stack.task_log(
            run_id, DELIVER_TASK, 0
        )
        recovers(stack, promise, events)
    promise.settle(duplicates=0)


def test_a_run_that_parks_more_than_dead_letter_max_indexes_every_one_and_a_full_store_only_stops_parking(
    stack, promise
):
    """DEAD_LETTER_MAX is 3 and one resumed run parks 5: all 5 are indexed, redeliverable, and the watermark moves.
    The store, full, parks nothing more: a sixth refused event holds the stream, with the way out in its log,
    until the healed receiver gets the 5 by a redelivery and the sixth by the next run. No hand edit."""
    run(stack, promise, {REDELIVER_PARAM: "all"})  # whatever an earlier test left in the store
    events = expected(stack, promise, 6)
    poisons = events[:5]  # more than the store's bound, refused in one run
    for log_id in poisons:
        stack.receiver.refuse_log_ids[log_id] = REFUSED
    _, state = run(stack, promise)
    assert state == "failed"
    promise.park(poisons)
    wait_past(max(first_refusal(stack.receiver, log_id) for log_id in poisons), AFTER)
    run_id, state = run(stack, promise)
    assert state == "success"
    assert stack.watermark() == events[-1]
    assert sorted(store_index(stack)) == sorted(poisons)  # every one reachable by redelivery
    commit_log = stack.task_log(run_id, COMMIT_TASK)
    assert "The dead-letter store holds 5 event(s) (parking stops at 3)" in commit_log
    assert "The dead-letter store is full" in commit_log and "AUTH0_WEBHOOKS_DEAD_LETTER_MAX" in commit_log

    sixth, after_it = expected(stack, promise, 2)  # refused while the store is full: it waits, it is not parked
    stack.receiver.refuse_log_ids[sixth] = REFUSED
    run_id = held_past_dead_letter_after(stack, promise, [sixth, after_it], index=poisons)
    deliver_log = stack.task_log(run_id, DELIVER_TASK, 0)
    assert "the dead-letter store is full: it holds 5 event(s), AUTH0_WEBHOOKS_DEAD_LETTER_MAX is 3" in deliver_log
    assert (
        "Redeliver what the receiver now accepts" in deliver_log
        and "raise AUTH0_WEBHOOKS_DEAD_LETTER_MAX" in deliver_log
    )

    stack.receiver.refuse_log_ids.clear()  # healed: a redelivery sends the 5, the next run the sixth
    _, state = run(stack, promise, {REDELIVER_PARAM: "all"})
    assert state == "success"
    assert store_index(stack) == []
    recovers(stack, promise, [sixth, after_it])
    promise.settle(duplicates=0)


def test_a_poison_last_in_a_run_at_its_cap_is_parked_though_every_later_run_sends_it_alone(stack, promise):
    """The backlog fills every run to MAX_EVENTS_PER_RUN, so each run that resumes re-reads the same window and
    sends only the refused delivery: nothing succeeds after its first refusal. Its neighbours, accepted before it
    in the run that first refused it, show the receiver works, so it is parked and the backlog drains."""
    with stack.settings(max_events_per_run="4"):
        events = expected(stack, promise, 8)
        poison = events[3]
        stack.receiver.refuse_log_ids[poison] = REFUSED
        stack.receiver.hang[poison] = 8.0  # refused after its neighbours, sent beside it, were accepted
        _, state = run(stack, promise)
        assert state == "failed"
        refused_at = first_refusal(stack.receiver, poison)
        accepted = [r.received_at for r in stack.receiver.requests if r.status == 200]
        assert accepted and max(accepted) < refused_at  # every neighbour was accepted before the refusal

        promise.park([poison])
        wait_past(refused_at, AFTER)
        run_id, state = run(stack, promise)
        assert state == "success"
        assert "refused 2 time(s)" in stack.task_log(run_id, DELIVER_TASK, 0)
        assert store_index(stack) == [poison]
        for _ in range(3):  # the rest of the backlog, in runs of 4 (a drain run may have taken it already)
            if stack.watermark() == events[-1]:
                break
            run(stack, promise)
    assert stack.watermark() == events[-1]
    stack.receiver.refuse_log_ids.clear()
    _, state = run(stack, promise, {REDELIVER_PARAM: [poison]})
    assert state == "success"
    promise.settle(duplicates=0)
