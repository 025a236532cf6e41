"""How much one run may take, and how what it takes is cut into XCom pages: plain data, no Airflow.

A run is bounded twice (``RunBudget``): in events, because Airflow maps at most ``max_map_length``
deliveries, and in bytes, because everything a run reads is held in its fetch task's memory and
stored in XCom. An event larger than the byte cap is still taken, alone: a cap must never leave the
stream stuck in front of one event.

What the fetch task hands its deliveries is stored as pages (``paged``): each delivery's instance
pulls only the page that holds its delivery, a few KB to ``PAGE_BYTES``, however many deliveries
the run has. Airflow would otherwise pull the fetch task's whole output for every mapped instance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from auth0_provider.events import LogEvent
from auth0_provider.names import DELIVERY_PAGE_PREFIX, EVENT_PAGE_PREFIX
from auth0_provider.records import Delivery, DeliveryRef, LogsRead, ReadAhead

T = TypeVar("T")

# A page of XCom holds deliveries (or read-ahead events) up to this many characters of body; one
# larger than that is a page of its own. Small enough that pulling a page costs a mapped instance
# about what pulling a short list does, large enough that a run of 1,024 small events is ~20 pages.
PAGE_BYTES = 64 * 1024
# A page of events read ahead: the next run's fetch pulls them all, so only the size of one XCom value
# (and the API server's memory while it stores one) bounds it; fewer pages are fewer calls.
EVENT_PAGE_BYTES = 8 * 1024 * 1024

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 64 * MIB  # AUTH0_WEBHOOKS_MAX_BYTES_PER_RUN
DEFAULT_MAX_EVENTS = 5_000  # AUTH0_WEBHOOKS_MAX_EVENTS_PER_RUN, at BATCH_SIZE up to 100
DELIVERIES_PER_RUN = 50  # at larger batch sizes the event cap grows to this many deliveries a run
_SIZE = re.compile(r"^(\d+)\s*(B|KB|MB|GB)?$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "MB": MIB, "GB": 1024 * MIB}


def default_max_events(batch_size: int) -> int:
    """Events per run when the setting is not given: 5,000, or 50 deliveries when batches are larger.

    Fewer, larger runs drain a backlog with fewer hand-overs between runs; but the last run's
    deliveries are waited for before the watermark moves, so a run is kept to about 50 of them.
    """
    return max(DEFAULT_MAX_EVENTS, DELIVERIES_PER_RUN * batch_size)


def parse_size(text: str) -> int:
    """``"64MB"``, ``"512 KB"`` or ``"1048576"`` as bytes; ValueError for anything else."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size")
    return int(match.group(1)) * _UNITS[(match.group(2) or "B").upper()]


def size_text(size: int) -> str:
    """A byte count as people write it: ``64 MB``, ``512 KB``, ``100 bytes``."""
    for unit in ("GB", "MB", "KB"):
        if size >= _UNITS[unit] and size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]} {unit}"
    return f"{size:,} bytes"


@dataclass(frozen=True)
class RunBudget:
    """What one run may read: at most ``max_events`` events and ``max_bytes`` of their text.

    The first event is always taken, whatever its size, so that a huge event is delivered on its own
    instead of stopping the stream.
    """

    max_events: int
    max_bytes: int

    def __post_init__(self) -> None:
        if self.max_events < 1 or self.max_bytes < 1:
            raise ValueError(f"a run budget needs at least one event and one byte, not {self}")

    def __str__(self) -> str:
        return f"{self.max_events:,} events or {size_text(self.max_bytes)}"

    @property
    def limits(self) -> tuple[int, int]:
        return self.max_events, self.max_bytes

    def open(self, count: int, size: int) -> bool:
        """Whether a read that holds ``count`` events of ``size`` bytes may ask Auth0 for more."""
        return count < self.max_events and size < self.max_bytes

    def next_take(self, count: int, size: int, page: int) -> int:
        """How many events to ask for next, at most ``page``: fewer once the events read are large.

        The average size so far predicts how many more fit, so a run of megabyte events does not read
        a page of 100 of them only to drop most; small events always take whole pages.
        """
        take = min(page, self.max_events - count)
        if count and size:
            fit = math.ceil((self.max_bytes - size) / (size / count))
            take = min(take, max(1, fit))
        return max(1, take)

    def cut(self, events: Sequence[T], size: Callable[[T], int]) -> tuple[list[T], bool]:
        """The events that fit, in order (the first always), and whether more are waiting after them.

        More are waiting when events were cut off, or when the kept ones fill the budget: the read
        stopped there, not at the end of the tenant's logs.
        """
        kept: list[T] = []
        total = 0
        for event in events:
            grown = total + size(event)
            if kept and (len(kept) >= self.max_events or grown > self.max_bytes):
                break
            kept.append(event)
            total = grown
        more = len(kept) < len(events) or len(kept) >= self.max_events or total >= self.max_bytes
        return kept, more


def paged(items: Sequence[T], size: Callable[[T], int], page_bytes: int = PAGE_BYTES) -> list[list[T]]:
    """The items in order, cut into pages of at most ``page_bytes``; an item larger than that alone."""
    pages: list[list[T]] = []
    current: list[T] = []
    total = 0
    for item in items:
        weight = size(item)
        if current and total + weight > page_bytes:
            pages.append(current)
            current, total = [], 0
        current.append(item)
        total += weight
    if current:
        pages.append(current)
    return pages


# -- the pages in XCom: ``ti`` is the running task instance (``context["ti"]``) --------------------
# Pages are pushed by unmapped tasks, so they are read at map index -1: one row by its key. Without it a mapped
# instance's pull asks Airflow for every map index's value of that key (the /slice call) instead.
UNMAPPED = -1


def stage_deliveries(ti: Any, deliveries: Sequence[Delivery]) -> list[DeliveryRef]:
    """Push ``deliveries`` as XCom pages of this task; what each mapped instance is given to find its own."""
    refs: list[DeliveryRef] = []
    for number, page in enumerate(paged(deliveries, lambda delivery: len(delivery.body))):
        ti.xcom_push(key=f"{DELIVERY_PAGE_PREFIX}{number}", value=[delivery.to_json() for delivery in page])
        refs += [DeliveryRef(delivery.key, delivery.label, number) for delivery in page]
    return refs


def staged_delivery(ti: Any, ref: DeliveryRef, task_id: str) -> Delivery:
    """The delivery ``ref`` points at, from task ``task_id``'s page of this run."""
    page = ti.xcom_pull(task_ids=task_id, key=f"{DELIVERY_PAGE_PREFIX}{ref.page}", map_indexes=UNMAPPED) or []
    for value in page:
        if value.get("key") == ref.key:
            return Delivery.from_json(value)
    raise LookupError(
        f"delivery {ref.key} ({ref.label}) is not in page {ref.page} of {task_id}'s XCom: was the XCom deleted?"
    )


def stage_events(ti: Any, events: Sequence[LogEvent]) -> int:
    """Push the events' exact text as XCom pages of this task; how many pages."""
    pages = paged([event.raw for event in events], len, EVENT_PAGE_BYTES)
    for number, page in enumerate(pages):
        ti.xcom_push(key=f"{EVENT_PAGE_PREFIX}{number}", value=page)
    return len(pages)


def staged_events(ti: Any, read_ahead: ReadAhead | LogsRead, task_id: str, run_id: str) -> list[LogEvent]:
    """The events a read-ahead or a reading kept, in order, from the pages of task ``task_id`` in run ``run_id``."""
    events: list[LogEvent] = []
    for number in range(read_ahead.pages):
        page = ti.xcom_pull(task_ids=task_id, run_id=run_id, key=f"{EVENT_PAGE_PREFIX}{number}", map_indexes=UNMAPPED)
        if not isinstance(page, list):
            raise LookupError(f"page {number} of the logs run {run_id} read ahead is missing")
        events += [LogEvent.from_raw(raw) for raw in page]
    if len(events) != read_ahead.events:
        raise LookupError(f"run {run_id} read {read_ahead.events} events ahead, its pages hold {len(events)}")
    return events
