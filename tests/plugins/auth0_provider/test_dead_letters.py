"""When a refused delivery is parked, what a dead letter holds, and the store's index and bound."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from auth0_provider.dead_letters import (
    INDEX_PAGE,
    dead_letter,
    index_key,
    index_pages,
    index_with,
    park_decision,
    read_index,
    to_redeliver,
)
from auth0_provider.events import LogEvent
from auth0_provider.exceptions import RedeliveryError
from auth0_provider.records import PARKED, SKIPPED_BY_HAND, DeadLetter, Delivery, Receipt, Rejection

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def event(n: int) -> LogEvent:
    return LogEvent.from_raw(json.dumps({"log_id": f"900{n:053d}", "type": "sapi", "description": f"{{{{ n{n} }}}}"}))


def refused_since(first: datetime, attempts: int = 3, run_id: str | None = None) -> Rejection:
    return Rejection("k", first, NOW, attempts, 422, "unknown field", run_id)


def other_receipt(at: datetime, run_id: str | None = None) -> Receipt:
    return Receipt("other", ("900099",), 200, at, run_id)


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


def test_a_poison_whose_neighbours_in_its_first_run_were_accepted_before_it_was_refused_is_parked():
    """The backlog fills every run to its cap: later runs send it alone, so nothing succeeds after it."""
    neighbours = [other_receipt(NOW - HOUR - timedelta(seconds=s), "scheduled__1") for s in (1, 2, 3)]
    park, why = park_decision(refused_since(NOW - HOUR, run_id="scheduled__1"), HOUR, NOW, lambda: neighbours)
    assert park
    assert "3 other(s) succeeded" in why


def test_deliveries_accepted_before_the_first_refusal_by_another_run_do_not_park_it():
    earlier = [other_receipt(NOW - HOUR - timedelta(seconds=1), "scheduled__0")]
    park, why = park_decision(refused_since(NOW - HOUR, run_id="scheduled__1"), HOUR, NOW, lambda: earlier)
    assert not park
    assert "nor in the run that first refused it" in why


def test_a_receiver_that_refuses_every_delivery_of_the_run_parks_none_of_them():
    refused_too = [Receipt("other", ("900099",), 422, NOW - HOUR, "scheduled__1", parked=("900099",))]
    park, _ = park_decision(refused_since(NOW - HOUR, run_id="scheduled__1"), HOUR, NOW, lambda: refused_too)
    assert not park


def test_a_full_store_parks_nothing_more_and_says_how_to_make_room():
    rejection = refused_since(NOW - HOUR)
    others = [other_receipt(NOW - HOUR / 2)]
    park, why = park_decision(rejection, HOUR, NOW, lambda: others, held=lambda: 3, bound=3)
    assert not park
    assert "holds 3 event(s), AUTH0_WEBHOOKS_DEAD_LETTER_MAX is 3" in why
    assert '{"redeliver": "all"}' in why and "raise AUTH0_WEBHOOKS_DEAD_LETTER_MAX" in why
    assert park_decision(rejection, HOUR, NOW, lambda: others, held=lambda: 2, bound=3)[0]


def test_the_store_is_not_counted_for_a_delivery_that_would_not_be_parked_anyway():
    def uncounted():
        raise AssertionError("the store was read for a delivery refused too briefly")

    park, _ = park_decision(refused_since(NOW), HOUR, NOW, lambda: [], held=uncounted, bound=3)
    assert not park


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


def test_the_index_grows_in_order_without_repeats_and_takes_everything_it_is_given():
    assert index_with(["a", "b"], ["b", "c"]) == ["a", "b", "c"]
    assert len(index_with([str(n) for n in range(1000)], [str(n) for n in range(1000, 2500)])) == 2500


def test_the_index_is_split_over_keys_each_within_the_state_stores_64_kb_and_read_back_whole():
    log_ids = [f"90020261130{n:045d}" for n in range(2 * INDEX_PAGE + 1)]
    store = {index_key(page): ids for page, ids in enumerate(index_pages(log_ids))}
    assert list(store) == ["dead-letters", "dead-letters/2", "dead-letters/3"]
    assert all(len(json.dumps(ids).encode()) < 64 * 1024 for ids in store.values())
    assert read_index(store.get) == log_ids
    assert read_index({}.get) == []


def test_a_redelivery_of_an_unknown_log_id_names_the_streams_own_asset():
    with pytest.raises(RedeliveryError, match="status page of 'auth0_webhooks__crm'"):
        to_redeliver(["z"], ["a"], "auth0_webhooks__crm")


def test_a_redelivery_takes_all_or_the_named_log_ids_and_refuses_what_the_store_does_not_hold():
    index = ["a", "b", "c"]
    assert to_redeliver("all", index) == index
    assert to_redeliver(["c", "a", "c"], index) == ["c", "a"]
    with pytest.raises(RedeliveryError, match="not in the dead-letter store: z"):
        to_redeliver(["a", "z"], index)
    for bad in ("some", [], [1], {"a": 1}):
        with pytest.raises(RedeliveryError, match='Use "all"'):
            to_redeliver(bad, index)
