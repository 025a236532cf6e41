"""A run's budget in events and bytes, and the XCom pages its deliveries travel in: plain data, no Airflow."""

from __future__ import annotations

import json

import pytest

from auth0_provider.events import LogEvent
from auth0_provider.records import Delivery, DeliveryRef, LogsRead, ReadAhead
from auth0_provider.staging import (
    PAGE_BYTES,
    RunBudget,
    default_max_events,
    paged,
    parse_size,
    size_text,
    stage_deliveries,
    stage_events,
    staged_delivery,
    staged_events,
)
from auth0_provider.watermark import Watermark


class TaskInstance:
    """Just what staging asks of Airflow's task instance: XCom by key, kept as Airflow would (JSON values)."""

    def __init__(self) -> None:
        self.xcom: dict[tuple[str, str, str], object] = {}
        self.pushes = 0

    def xcom_push(self, key: str, value: object) -> None:
        self.pushes += 1
        self.xcom[("run", "fetch", key)] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int, run_id: str = "run") -> object:
        assert map_indexes == -1, "pages are pushed by unmapped tasks: read them at map index -1"
        return self.xcom.get((run_id, task_ids, key))


def event(n: int, size: int = 0) -> LogEvent:
    return LogEvent.from_raw(f'{{"log_id":"{900 + n}","type":"sapi","pad":"{"x" * size}"}}')


def test_a_budget_keeps_events_up_to_its_byte_cap_and_says_more_are_waiting():
    events = [event(n, 100) for n in range(10)]
    kept, more = RunBudget(100, 3 * len(events[0].raw)).cut(events, lambda e: len(e.raw))
    assert kept == events[:3]
    assert more


def test_an_event_larger_than_the_byte_cap_is_taken_alone_never_skipped():
    events = [event(0, 5000), event(1)]
    kept, more = RunBudget(100, 1000).cut(events, lambda e: len(e.raw))
    assert kept == events[:1]
    assert more


def test_a_read_that_ends_below_both_caps_has_nothing_more_waiting():
    events = [event(n) for n in range(5)]
    assert RunBudget(100, 10_000).cut(events, lambda e: len(e.raw)) == (events, False)


def test_a_read_that_fills_the_event_cap_exactly_leaves_a_follow_up_run_to_look():
    events = [event(n) for n in range(5)]
    assert RunBudget(5, 10_000).cut(events, lambda e: len(e.raw)) == (events, True)


def test_small_events_are_read_in_whole_pages_and_large_ones_in_fewer_per_request():
    budget = RunBudget(5_000, 64 * 1024 * 1024)
    assert budget.next_take(0, 0, 100) == 100
    assert budget.next_take(100, 200_000, 100) == 100  # 2 KB events: whole pages
    assert budget.next_take(10, 10 * 1024 * 1024, 100) == 54  # 1 MB events: only what still fits
    assert budget.next_take(63, 63 * 1024 * 1024 + 10, 100) == 1  # at least one, to learn whether more wait
    assert RunBudget(30, 10**9).next_take(20, 100, 100) == 10


def test_the_event_cap_grows_with_large_batches_to_about_50_deliveries_a_run():
    assert default_max_events(1) == default_max_events(100) == 5_000
    assert default_max_events(1000) == 50_000


@pytest.mark.parametrize(("text", "size"), [("64MB", 64 << 20), ("512 kb", 512 << 10), ("1GB", 1 << 30), ("70", 70)])
def test_sizes_are_written_with_a_unit(text, size):
    assert parse_size(text) == size
    assert parse_size(size_text(size).replace(" bytes", "").replace(",", "")) == size


@pytest.mark.parametrize("text", ["", "64 MiB", "-1MB", "1.5GB", "lots"])
def test_a_size_without_a_known_unit_is_refused(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_pages_keep_order_and_put_an_item_larger_than_a_page_alone():
    sizes = [10, 20, 30, 100, 5, 5, 60]
    assert paged(sizes, lambda n: n, page_bytes=50) == [[10, 20], [30], [100], [5, 5], [60]]
    assert paged([], len) == []


def test_each_delivery_is_found_in_its_own_page_byte_for_byte():
    deliveries = [Delivery.of([event(n, 3000)], "event", batched=False) for n in range(60)]
    ti = TaskInstance()
    refs = stage_deliveries(ti, deliveries)
    assert [ref.key for ref in refs] == [d.key for d in deliveries]
    assert refs[-1].page > 0, "60 deliveries of 3 KB fill more than one page"
    assert ti.pushes == refs[-1].page + 1
    for ref, delivery in zip(refs, deliveries, strict=True):
        assert DeliveryRef.from_json(ref.to_json()) == ref
        assert staged_delivery(ti, ref, "fetch") == delivery
    largest_page = max(len(str(value)) for value in ti.xcom.values())
    assert largest_page < PAGE_BYTES + 4000


def test_a_delivery_missing_from_its_page_is_a_clear_error():
    ti = TaskInstance()
    (ref,) = stage_deliveries(ti, [Delivery.of([event(1)], "event", batched=False)])
    ti.xcom.clear()
    with pytest.raises(LookupError, match=r"not in page 0 of fetch's XCom"):
        staged_delivery(ti, ref, "fetch")


def test_events_read_ahead_come_back_in_order_with_their_exact_text():
    events = [event(n, 2 * 1024 * 1024) for n in range(5)]
    ti = TaskInstance()
    pages = stage_events(ti, events)
    assert pages == 2, "10 MB of events: pages of up to 8 MB, which the next run's fetch pulls one by one"
    read_ahead = ReadAhead("900", Watermark.at(events[-1]), (100, 10**6), pages, len(events), more=True)
    assert ReadAhead.from_json(read_ahead.to_json()) == read_ahead
    assert [e.raw for e in staged_events(ti, read_ahead, "fetch", "run")] == [e.raw for e in events]
    ti.xcom.pop(("run", "fetch", "events/1"))
    with pytest.raises(LookupError, match="page 1"):
        staged_events(ti, read_ahead, "fetch", "run")


@pytest.mark.parametrize("value", [None, {}, {"start": "1", "end": None, "budget": [1, 2], "pages": 1, "events": 1}])
def test_a_read_ahead_of_another_shape_is_not_taken(value):
    assert ReadAhead.from_json(value) is None


@pytest.mark.parametrize("start", ["900", None])  # None: no watermark yet, or a replay's window
def test_what_a_streams_reader_read_comes_back_whole_for_its_fetch(start):
    events = [event(n, 100) for n in range(3)]
    ti = TaskInstance()
    reading = LogsRead(start, Watermark.at(events[-1]), True, stage_events(ti, events), len(events), requests=2)
    assert LogsRead.from_json(json.loads(json.dumps(reading.to_json()))) == reading
    assert [e.raw for e in staged_events(ti, reading, "fetch", "run")] == [e.raw for e in events]
    nothing = LogsRead(start, None, False, stage_events(ti, []), 0, requests=1)  # a caught-up tenant
    assert LogsRead.from_json(nothing.to_json()) == nothing and staged_events(ti, nothing, "fetch", "run") == []


@pytest.mark.parametrize("value", [None, {}, {"start": "1", "end": None, "more": False, "pages": "x"}])
def test_a_reading_of_another_shape_is_not_taken(value):
    assert LogsRead.from_json(value) is None
