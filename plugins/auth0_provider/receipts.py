"""How a run accounts for its deliveries, from receipts: what not to send again, and whether to commit.

Pure decisions: receipts, task states and times in, a plan or a verdict out. The operators read the
receipts and states from Airflow and act on what these functions return.

The rules:
- A delivery with a receipt (same key, same log ids) was delivered, whatever its task state says; its
  receipt may say that some of its events were parked as dead letters instead (``dead_letters``).
- A delivery without a receipt whose task instance is ``success`` was marked success by a person, the
  one way to give an event up: the watermark passes it, and the commit records and names it.
- Any other delivery without a receipt (skipped, removed, upstream_failed, failed, no state) holds
  the watermark: the commit fails and says how to send or skip it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from auth0_provider.records import Attempt, Delivery, PlannedDelivery, Receipt
from auth0_provider.watermark import Watermark

# Receipts are timed by the API server, attempts by a worker: look this much further back, so a
# worker clock running ahead never hides a receipt (a receipt found needlessly costs nothing).
CLOCK_MARGIN = timedelta(minutes=2)
LISTED = 20  # deliveries named one by one in an error; the rest are counted


def attempt_for(previous: Attempt | None, start: Watermark | None, now: datetime) -> tuple[Attempt, bool]:
    """The attempt a live run belongs to, and whether it resumes one that started from the same watermark."""
    start_id = start.log_id if start else None
    if previous is not None and previous.from_log_id == start_id:
        return previous, True
    return Attempt(start_id, now), False


def receipts_since(moment: datetime) -> datetime:
    """Where to look for receipts issued from ``moment`` (a worker's clock) on."""
    return moment - CLOCK_MARGIN


def receipt_for(delivery: Delivery | PlannedDelivery, receipts: Iterable[Receipt]) -> Receipt | None:
    return next((receipt for receipt in receipts if receipt.covers(delivery)), None)


@dataclass(frozen=True)
class Plan:
    """The deliveries to send now (the mapped ``deliver`` instances, in order) and every one planned."""

    to_send: tuple[Delivery, ...]
    planned: tuple[PlannedDelivery, ...]

    @classmethod
    def of(cls, deliveries: Sequence[Delivery], receipts: Iterable[Receipt] = ()) -> Plan:
        """Deliveries that an earlier run's receipt covers are planned but not sent again."""
        by_key: dict[str, list[Receipt]] = {}
        for receipt in receipts:
            by_key.setdefault(receipt.key, []).append(receipt)
        to_send: list[Delivery] = []
        planned: list[PlannedDelivery] = []
        for delivery in deliveries:
            if receipt_for(delivery, by_key.get(delivery.key, ())) is not None:
                planned.append(PlannedDelivery(delivery.key, delivery.log_ids, None))
            else:
                planned.append(PlannedDelivery(delivery.key, delivery.log_ids, len(to_send)))
                to_send.append(delivery)
        return cls(tuple(to_send), tuple(planned))

    @property
    def already_delivered(self) -> int:
        return len(self.planned) - len(self.to_send)


@dataclass(frozen=True)
class Verdict:
    """What the receipts and task states say about a run's planned deliveries."""

    delivered: tuple[PlannedDelivery, ...]
    skipped_by_hand: tuple[PlannedDelivery, ...]
    missing: tuple[tuple[PlannedDelivery, str], ...]  # each with its task instance's state
    parked: tuple[str, ...] = ()  # log ids of delivered ones that their receipts say were parked instead

    @property
    def skipped_log_ids(self) -> list[str]:
        return [log_id for planned in self.skipped_by_hand for log_id in planned.log_ids]


def judge(planned: Sequence[PlannedDelivery], receipts: Iterable[Receipt], states: Mapping[int, str | None]) -> Verdict:
    """Sort the planned deliveries by the rules above. ``states`` maps a deliver map index to its state."""
    by_key: dict[str, list[Receipt]] = {}
    for receipt in receipts:
        by_key.setdefault(receipt.key, []).append(receipt)
    delivered, skipped, missing, parked = [], [], [], []
    for delivery in planned:
        receipt = receipt_for(delivery, by_key.get(delivery.key, ()))
        if receipt is not None:
            delivered.append(delivery)
            parked.extend(receipt.parked)
            continue
        state = states.get(delivery.map_index) if delivery.map_index is not None else None
        if state == "success":
            skipped.append(delivery)
        else:
            missing.append((delivery, state or "no state"))
    return Verdict(tuple(delivered), tuple(skipped), tuple(missing), tuple(parked))


def missing_message(verdict: Verdict, total: int, start: Watermark | None, replay: bool) -> str:
    """Why the commit refuses, and the two ways on: send them, or give them up."""
    counts: dict[str, int] = {}
    for _, state in verdict.missing:
        counts[state] = counts.get(state, 0) + 1
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    listed = [f"{planned.what} ({state})" for planned, state in verdict.missing[:LISTED]]
    more = len(verdict.missing) - LISTED
    held = (
        "This replay's watermark is never touched, but the rest of its window waits for this run"
        if replay
        else f"The watermark stays at {start.log_id if start else 'none (no watermark yet)'}"
    )
    return (
        f"{len(verdict.missing)} of {total} deliveries have no receipt ({states}): the webhook never "
        f"confirmed them. {held}. Missing: {'; '.join(listed)}{f'; and {more} more' if more > 0 else ''}. "
        "To send them, clear those deliver instances with their downstream tasks (for skipped ones, untick "
        "'Only failed' in the Clear dialog). To give them up, mark them success: the commit then records "
        "them as skipped by hand and goes on."
    )
