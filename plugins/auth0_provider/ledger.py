"""The stream asset as a run's ledger: its events are the receipts, its state store the rest.

Airflow keeps both in the metadata DB, where every worker and every later run can read them:

- each delivery the webhook accepted is an event of the stream asset whose extra is its receipt
  (``records.Receipt``). It is emitted with the task's success, in the same transaction, so a
  ``deliver`` instance that succeeded by running always has one, and one marked success never has;
- the asset's state store keeps the current ``attempt`` (``records.Attempt``: begun by the fetch of a
  run that starts from a new watermark, ended by the commit that moves it) and, under
  ``skipped/<log id>``, every event a person gave up by marking its delivery success.

Its state store is read through the task's inlets. Receipts are read and issued without them, so
that the delivery task, mapped a thousand times a run, declares neither (see WebhookDeliveryOperator).
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
        """Every receipt issued since ``since``, by any run (one request).

        The same query ``context["inlet_events"][stream]`` makes, without needing the stream among the
        task's inlets.
        """
        from airflow.sdk.execution_time.context import InletEventsAccessor

        events = InletEventsAccessor(asset_name=self.stream.name, asset_uri=self.stream.uri).after(iso(since))
        found = (Receipt.from_event(e.extra, e.source_run_id, e.source_map_index) for e in events)
        return [receipt for receipt in found if receipt is not None]

    def issue(self, receipt: Receipt) -> None:
        """Make this task instance's success an event of the stream, with the receipt as its extra.

        Airflow emits an event for every asset among the task's outlets when the task succeeds,
        in the same transaction that records the success, so the stream is added to them here, at
        run time.
        """
        task = self.context["ti"].task
        if self.stream not in task.outlets:
            task.outlets = [*task.outlets, self.stream]
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
