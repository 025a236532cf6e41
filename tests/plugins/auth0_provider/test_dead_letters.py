"""When a refused delivery is parked, what a dead letter holds, and the store's index and bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from auth0_provider.dead_letters import dead_letter, index_with, park_decision, to_redeliver
from auth0_provider.events import LogEvent
from auth0_provider.exceptions import DeadLetterStoreFull, RedeliveryError
from auth0_provider.records import PARKED, SKIPPED_BY_HAND, DeadLetter, Delivery, Receipt, Rejection

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def event(n: int) -> LogEvent:
    return LogEvent.from_raw(json.dumps({"log_id": f"900{n:053d}", "type": "sapi", "description": f"{{{{ n{n} }}}}"}))


def refused_since(first: datetime, attempts: int = 3) -> Rejection:
    return Rejection("k", first, NOW, attempts, 422, "unknown field")


def other_receipt(at: datetime) -> Receipt:
    return Receipt("other", ("900099",), 200, at)


def test_a_delivery_refused_for_the_whole_period_while_others_succeed_is_parked():
    park, why = park_decision(refused_since(NOW - HOUR), HOUR, NOW, lambda: [other_receipt(NOW - HOUR / 2)])
    assert park
    assert "1 other(s) succeeded" in why


def test_a_delivery_refused_for_less_than_the_period_is_not_parked_and_no_receipt_is_read():
    def unread():
        raise AssertionError("receipts read before the period was over")

    park, why = park_decision(refused_since(NOW - HOUR + timedelta(seconds=1)), HOUR, NOW, unread)
    assert not park
    assert "AUTH0_WEBHOOKS_DEAD_LETTER_AFTER" in why


def test_a_delivery_is_not_parked_when_nothing_else_succeeded_since_it_was_first_refused():
    receipts = [
        other_receipt(NOW - 2 * HOUR),  # before the first refusal
        Receipt("k", ("900001",), 200, NOW - HOUR / 2),  # its own key
        Receipt("parked", ("900098",), 422, NOW - HOUR / 2, parked=("900098",)),  # parked, not accepted
    ]
    park, why = park_decision(refused_since(NOW - HOUR), HOUR, NOW, lambda: receipts)
    assert not park
    assert "no other delivery succeeded" in why


def test_parking_turned_off_never_parks():
    park, why = park_decision(refused_since(NOW - 30 * HOUR), None, NOW, lambda: [other_receipt(NOW)])
    assert not park
    assert "never" in why


def test_a_batch_dead_letter_keeps_each_event_alone_byte_for_byte_under_the_key_it_is_sent_with():
    events = [event(n) for n in range(1, 4)]
    (batch,) = Delivery.batches(events, batch_size=3, payload_format="log_stream")
    letters = dead_letter(batch, None, SKIPPED_BY_HAND, "manual__1", 2, NOW)
    for letter, one in zip(letters, events, strict=True):
        (alone,) = Delivery.batches([one], batch_size=3, payload_format="log_stream")
        assert (letter.log_id, letter.key, letter.body) == (one.log_id, alone.key, alone.body)
        assert (letter.reason, letter.status, letter.attempts) == (SKIPPED_BY_HAND, None, 0)
        assert letter.delivery.redelivery and letter.delivery.key == alone.key
        assert DeadLetter.from_json(json.loads(json.dumps(letter.to_json()))) == letter


def test_a_single_dead_letter_is_the_delivery_as_it_was_refused():
    (single,) = Delivery.batches([event(1)], batch_size=1, payload_format="event")
    (letter,) = dead_letter(single, refused_since(NOW - HOUR, attempts=13), PARKED, "scheduled__1", 0, NOW)
    assert (letter.key, letter.body) == (single.key, single.body)
    assert (letter.status, letter.excerpt, letter.attempts, letter.first_at) == (422, "unknown field", 13, NOW - HOUR)


def test_the_index_grows_in_order_without_repeats_and_refuses_to_pass_its_bound():
    assert index_with(["a", "b"], ["b", "c"], 3) == ["a", "b", "c"]
    with pytest.raises(DeadLetterStoreFull, match=r"holds 2 event\(s\).*would add 2.*DEAD_LETTER_MAX \(3\)"):
        index_with(["a", "b"], ["c", "d"], 3)


def test_a_redelivery_takes_all_or_the_named_log_ids_and_refuses_what_the_store_does_not_hold():
    index = ["a", "b", "c"]
    assert to_redeliver("all", index) == index
    assert to_redeliver(["c", "a", "c"], index) == ["c", "a"]
    with pytest.raises(RedeliveryError, match="not in the dead-letter store: z"):
        to_redeliver(["a", "z"], index)
    for bad in ("some", [], [1], {"a": 1}):
        with pytest.raises(RedeliveryError, match='Use "all"'):
            to_redeliver(bad, index)
