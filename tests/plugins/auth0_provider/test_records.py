"""The shapes tasks hand each other: each survives its own serialisation, and refuses what is not one."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from auth0_provider.events import LogEvent
from auth0_provider.exceptions import CheckpointError
from auth0_provider.records import (
    AUTH0_REFUSED,
    STALE_REJECTION,
    Attempt,
    Auth0Usage,
    Checkpoint,
    CommitRecord,
    Delivery,
    Failure,
    OpenIncidents,
    PlannedDelivery,
    Reading,
    Receipt,
    Rejection,
    Trouble,
    batch_id,
)
from auth0_provider.watermark import Watermark
from auth0_provider.window import ReplayWindow

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def event(n: int, **fields: object) -> LogEvent:
    return LogEvent.from_raw(json.dumps({"log_id": f"900{n:053d}", "type": "sapi", **fields}))


def through_json(value: dict) -> dict:
    """As XCom stores it: JSON text and back."""
    return json.loads(json.dumps(value))


def test_a_single_event_delivery_is_keyed_by_its_log_id_and_labelled_for_the_ui():
    (delivery,) = Delivery.batches([event(1)], batch_size=1, payload_format="event")
    assert delivery.key == delivery.log_ids[0] == event(1).log_id
    assert delivery.body == event(1).raw
    assert delivery.headers == {
        "Content-Type": "application/json",
        "Idempotency-Key": delivery.key,
        "webhook-id": delivery.key,
    }
    assert delivery.label.startswith(delivery.key)


def test_a_batch_is_keyed_by_a_digest_of_its_log_ids_in_order():
    events = [event(n) for n in range(1, 26)]
    batches = Delivery.batches(events, batch_size=10, payload_format="event")
    assert [len(b.log_ids) for b in batches] == [10, 10, 5]
    first = [e.log_id for e in events[:10]]
    assert batches[0].key == "batch_" + hashlib.sha256("\n".join(first).encode()).hexdigest()[:40]
    assert batch_id(first) != batch_id(list(reversed(first)))
    assert batches[0].label == f"{first[0]}..{first[-1]} (10 events)"


def test_a_delivery_survives_xcom_byte_for_byte():
    hostile = event(1, description="{{ conn.auth0_default.password }} \u202e\u0000 Zoë")
    (delivery,) = Delivery.batches([hostile], batch_size=1, payload_format="event")
    assert Delivery.from_json(through_json(delivery.to_json())) == delivery


def test_a_checkpoint_survives_xcom_with_its_plan_and_window():
    window = ReplayWindow(NOW, NOW.replace(hour=13), after="900123")
    checkpoint = Checkpoint(
        start=Watermark("900001", "2026-11-30T11:00:00.000Z"),
        end=Watermark("900009", None),
        backlog=True,
        receipts_since=NOW,
        planned=(PlannedDelivery("k1", ("900002",), 0), PlannedDelivery("k2", ("900003", "900004"), None)),
        window=window,
    )
    assert Checkpoint.from_json(through_json(checkpoint.to_json())) == checkpoint
    empty = Checkpoint(None, None, backlog=False, receipts_since=NOW)
    assert Checkpoint.from_json(through_json(empty.to_json())) == empty


def test_a_receipt_rides_in_an_asset_event_extra_and_covers_only_its_own_delivery():
    delivery = PlannedDelivery("batch_x", ("900002", "900003"), 4)
    receipt = Receipt("batch_x", ("900002", "900003"), 200, NOW)
    again = Receipt.from_event(through_json(receipt.to_extra()), "manual__1", 4)
    assert again == Receipt("batch_x", ("900002", "900003"), 200, NOW, "manual__1", 4)
    assert again.covers(delivery)
    assert not Receipt("batch_x", ("900002",), 200, NOW).covers(delivery)  # same key, other events
    assert not Receipt("batch_y", delivery.log_ids, 200, NOW).covers(delivery)


def test_an_asset_event_without_a_receipt_is_not_taken_for_one():
    for extra in (None, {}, {"from_rest_api": True}, {"receipt": "yes"}, {"receipt": {"key": "k"}}):
        assert Receipt.from_event(extra) is None


def test_an_attempt_survives_the_state_store_and_an_edited_one_is_a_new_start():
    attempt = Attempt("900001", NOW)
    assert Attempt.from_json(through_json(attempt.to_json())) == attempt
    assert Attempt.from_json(through_json(Attempt(None, NOW).to_json())) == Attempt(None, NOW)
    for edited in (None, "x", {"from": "900001"}, {"since": "yesterday"}):
        assert Attempt.from_json(edited) is None


@pytest.mark.parametrize("payload_format", ["event", "legacy", "log_stream"])
def test_a_batch_cut_in_halves_gives_batches_byte_for_byte_as_if_made_from_those_events(payload_format):
    events = [event(n, description="x" + str(n) + ", ]},[ {{ y }} Zo\u00eb \u202e") for n in range(1, 8)]
    (batch,) = Delivery.batches(events, batch_size=7, payload_format=payload_format)
    left, right = batch.halves()
    assert left == Delivery.batches(events[:3], batch_size=3, payload_format=payload_format)[0]
    assert right == Delivery.batches(events[3:], batch_size=4, payload_format=payload_format)[0]
    assert Delivery.from_json(through_json(batch.to_json())).halves() == (left, right)
    (alone,) = Delivery.batches(events[:1], batch_size=1, payload_format=payload_format)
    with pytest.raises(ValueError, match="not a batch"):
        alone.halves()


def test_a_rejection_counts_from_the_first_refusal_until_it_goes_stale():
    first = Rejection.after(None, "k", 422, "no", NOW)
    assert (first.first_at, first.attempts) == (NOW, 1)
    later = Rejection.after(first, "k", 400, "still no", NOW + timedelta(minutes=50))
    assert (later.first_at, later.last_at, later.attempts, later.status) == (NOW, NOW + timedelta(minutes=50), 2, 400)
    assert Rejection.after(later, "other", 422, "", NOW).attempts == 1
    stale = Rejection.after(later, "k", 422, "", later.last_at + STALE_REJECTION + timedelta(seconds=1))
    assert stale.attempts == 1
    assert Rejection.from_json(through_json(later.to_json())) == later
    for edited in (None, {}, {"key": "k"}, "x"):
        assert Rejection.from_json(edited) is None


def test_a_rejection_remembers_the_run_that_first_refused_it_and_reads_one_kept_without_it():
    first = Rejection.after(None, "k", 422, "no", NOW, "scheduled__1")
    later = Rejection.after(first, "k", 422, "no", NOW + timedelta(minutes=5), "scheduled__2")
    assert later.run_id == "scheduled__1"
    assert later.of_part("k-part", 422, "", NOW).run_id == "scheduled__1"
    assert Rejection.from_json(through_json(later.to_json())) == later
    kept_before = {key: value for key, value in later.to_json().items() if key != "run_id"}
    assert Rejection.from_json(kept_before).run_id is None


def test_a_receipt_names_the_events_it_parked_and_a_checkpoint_its_redelivery():
    receipt = Receipt("batch_x", ("900002", "900003"), 422, NOW, parked=("900003",))
    assert Receipt.from_event(through_json(receipt.to_extra())) == receipt
    checkpoint = Checkpoint(None, None, backlog=False, receipts_since=NOW, redelivery=True, gone=("900004",))
    assert Checkpoint.from_json(through_json(checkpoint.to_json())) == checkpoint
    assert not checkpoint.moves_watermark


def test_a_checkpoint_from_before_receipts_fails_saying_how_to_go_on():
    before_receipts = {"start": None, "end": {"log_id": "900009", "date": None}, "backlog": False}
    for value in (before_receipts, None):
        with pytest.raises(CheckpointError, match=r"before receipts.*Clear the whole run"):
            Checkpoint.from_json(value)


def test_what_the_status_page_and_the_alerts_read_comes_back_as_it_was_kept():

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    mark = Watermark("900001", "2026-12-01T11:00:00.000Z")
    kept = [
        (Auth0Usage, Auth0Usage(4, 1, 1.5)),
        (Reading, Reading(now, mark, Watermark("900002", "2026-12-01T11:30:00.000Z"), True)),
        (CommitRecord, CommitRecord(now, "live", True, mark, 7, 1)),
        (Failure, Failure("900002 {{ x }}", 1, None, "timed out", now)),
        (Trouble, Trouble(AUTH0_REFUSED, now, "refused", until=now + timedelta(days=1))),
        (OpenIncidents, OpenIncidents({AUTH0_REFUSED: now})),
    ]
    for kind, record in kept:
        assert kind.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_a_kept_record_edited_into_nonsense_reads_as_none_or_nothing_open():

    for kind in (CommitRecord, Failure, Reading, Trouble):
        assert kind.from_json({"at": "yesterday"}) is None
        assert kind.from_json("nonsense") is None
    assert OpenIncidents.from_json(["nonsense"]).since == {}


def test_the_lag_is_zero_once_the_watermark_has_reached_the_newest_log_read():

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    start, newest = Watermark("900001", "2026-12-01T11:00:00.000Z"), Watermark("900002", "2026-12-01T11:30:00.000Z")
    reading = Reading(now, start, newest, False)
    assert reading.lag_behind(start) == timedelta(minutes=30)
    assert reading.lag_behind(newest) == timedelta(0)
    assert reading.lag_behind(Watermark("900002")) == timedelta(0)
    assert reading.lag_behind(Watermark("900000")) is None  # a watermark with no date: unknown
