"""The stream asset as a run's ledger: its events are the receipts, its state store the rest.

Airflow keeps both in the metadata DB, where every worker and every later run can read them:

- each delivery the webhook accepted is an event of the stream asset whose extra is its receipt
  (``records.Receipt``). It is emitted with the task's success, in the same transaction, so a
  ``deliver`` instance that succeeded by running always has one, and one marked success never has;
- the asset's state store keeps the current ``attempt`` (``records.Attempt``: begun by the fetch of a
  run that starts from a new watermark, ended by the commit that moves it) and, under
  ``skipped/<log id>``, every event a person gave up by marking its delivery success.

A task reads through it only with the stream among its inlets, and issues receipts only with it
among its outlets.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from auth0_provider.names import ATTEMPT_KEY, SKIPPED_PREFIX, STREAM
from auth0_provider.records import Attempt, Receipt, SkippedEvent, iso

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context


class StreamLedger:
    def __init__(self, context: Context, stream: Asset = STREAM) -> None:
        self.context = context
        self.stream = stream

    def receipts(self, since: datetime) -> list[Receipt]:
        """Every receipt issued since ``since``, by any run (one request)."""
        events = self.context["inlet_events"][self.stream].after(iso(since))
        found = (Receipt.from_event(e.extra, e.source_run_id, e.source_map_index) for e in events)
        return [receipt for receipt in found if receipt is not None]

    def issue(self, receipt: Receipt) -> None:
        """Attach the receipt to the asset event Airflow emits when this task instance succeeds."""
        self.context["outlet_events"][self.stream].extra = receipt.to_extra()

    def attempt(self) -> Attempt | None:
        return Attempt.from_json(self._state.get(ATTEMPT_KEY))

    def begin(self, attempt: Attempt) -> None:
        self._state.set(ATTEMPT_KEY, attempt.to_json())

    def end_attempt(self) -> None:
        """The watermark moved: the next run starts a new attempt, with nothing to resume."""
        self._state.delete(ATTEMPT_KEY)

    def record_skipped(self, event: SkippedEvent) -> None:
        self._state.set(SKIPPED_PREFIX + event.log_id, event.to_json())

    def skipped(self, log_id: str) -> SkippedEvent | None:
        value = self._state.get(SKIPPED_PREFIX + log_id)
        return SkippedEvent.from_json(value) if isinstance(value, dict) else None

    @property
    def _state(self):
        return self.context["asset_state_store"][self.stream]
