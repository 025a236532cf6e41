"""The stream asset as a run's ledger: its events are the receipts, its state store the rest.

Airflow keeps both in the metadata DB, where every worker and every later run can read them:

- each delivery the webhook accepted is an event of the stream asset whose extra is its receipt
  (``records.Receipt``). It is emitted with the task's success, in the same transaction, so a
  ``deliver`` instance that succeeded by running always has one, and one marked success never has;
- the asset's state store keeps the current ``attempt`` (``records.Attempt``: begun by the fetch of a
  run that starts from a new watermark, ended by the commit that moves it), ``rejected/<key>`` for
  each delivery the receiver keeps refusing (``records.Rejection``), and the dead-letter store:
  ``dead/<log id>`` (``records.DeadLetter``) and its index ``dead-letters`` (``dead_letters``); and
  for the status page and the alerts, the last live ``reading`` (``records.Reading``), the
  ``last-failure`` of a delivery (``records.Failure``), each
  ``trouble/<kind>`` a person must fix (``records.Trouble``) and the ``alerts`` sent and not yet cleared
  (``records.OpenIncidents``).

Both are reached by the asset's name, not through the task's inlets, so that the delivery task,
mapped a thousand times a run, declares none (see WebhookDeliveryOperator): a task with inlets costs
one more call to the API server before it starts. Airflow 3.3's execution API allows this to any
task (its routes note that a later version may require the task to declare the asset); the fetch
and the commit declare the stream among their inlets, which also keeps the asset active.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from auth0_provider.dead_letters import MAX_INDEX_PAGES, index_key, index_pages, read_index
from auth0_provider.names import (
    ATTEMPT_KEY,
    COMMIT_WATCH_KEY,
    DEAD_LETTER_PREFIX,
    LAST_COMMIT_KEY,
    LAST_FAILURE_KEY,
    OPEN_INCIDENTS_KEY,
    READING_KEY,
    REJECTED_PREFIX,
    STREAM,
    TROUBLE_PREFIX,
)
from auth0_provider.records import (
    AUTH0_REFUSED,
    RETENTION_GAP,
    Attempt,
    CommitRecord,
    CommitWatch,
    DeadLetter,
    Failure,
    OpenIncidents,
    Reading,
    Receipt,
    Rejection,
    Trouble,
    iso,
)

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

    # -- deliveries the receiver refuses -------------------------------------------------------

    def rejection(self, key: str) -> Rejection | None:
        return Rejection.from_json(self._state.get(REJECTED_PREFIX + key))

    def record_rejection(self, rejection: Rejection) -> None:
        self._state.set(REJECTED_PREFIX + rejection.key, rejection.to_json())

    def forget_rejection(self, key: str) -> None:
        """Delivered, parked, or failed for the endpoint's sake: the next refusal counts from the start."""
        self._state.delete(REJECTED_PREFIX + key)

    # -- the dead-letter store -----------------------------------------------------------------

    def dead_letter(self, log_id: str) -> DeadLetter | None:
        return DeadLetter.from_json(self._state.get(DEAD_LETTER_PREFIX + log_id))

    def keep(self, letters: Iterable[DeadLetter]) -> None:
        """Write dead letters; only ``index`` makes them count (``dead_letters.index_with``)."""
        for letter in letters:
            self._state.set(DEAD_LETTER_PREFIX + letter.log_id, letter.to_json())

    def discard(self, log_id: str) -> None:
        self._state.delete(DEAD_LETTER_PREFIX + log_id)

    def index(self) -> list[str]:
        return read_index(self._state.get)

    def write_index(self, log_ids: list[str]) -> None:
        """Write the index page by page (``dead_letters.index_key``), and delete the pages it no longer needs."""
        pages = index_pages(log_ids)
        for page, ids in enumerate(pages):
            self._state.set(index_key(page), ids)
        for stale in range(len(pages), MAX_INDEX_PAGES):
            if self._state.get(index_key(stale)) is None:
                break
            self._state.delete(index_key(stale))

    # -- what the status page and the alerts read ------------------------------------------------

    def note_reading(self, reading: Reading) -> None:
        self._state.set(READING_KEY, reading.to_json())

    def troubles(self) -> list[Trouble]:
        found = (Trouble.from_json(self._state.get(TROUBLE_PREFIX + kind)) for kind in (AUTH0_REFUSED, RETENTION_GAP))
        return [trouble for trouble in found if trouble is not None]

    def report(self, trouble: Trouble) -> None:
        """Keep the trouble, since when it was first found: found again while open, it keeps its first date."""
        earlier = Trouble.from_json(self._state.get(TROUBLE_PREFIX + trouble.kind))
        if earlier is not None and earlier.open_at(trouble.since):
            trouble = replace(trouble, since=earlier.since)
        self._state.set(TROUBLE_PREFIX + trouble.kind, trouble.to_json())

    def resolve(self, kind: str) -> None:
        self._state.delete(TROUBLE_PREFIX + kind)

    def resolve_gap(self) -> None:
        """The watermark's log is kept again: a gap that stopped the stream is over (a passed one ends by itself)."""
        gap = Trouble.from_json(self._state.get(TROUBLE_PREFIX + RETENTION_GAP))
        if gap is not None and gap.until is None:
            self.resolve(RETENTION_GAP)

    def note_failure(self, failure: Failure) -> None:
        """The latest failed delivery try (mapped deliveries race here: any recent one will do as the reason)."""
        self._state.set(LAST_FAILURE_KEY, failure.to_json())

    def last_failure(self) -> Failure | None:
        return Failure.from_json(self._state.get(LAST_FAILURE_KEY))

    def note_commit(self, record: CommitRecord) -> None:
        """A live run committed: whatever stopped the runs before it is over (``health.watch``)."""
        self._state.set(LAST_COMMIT_KEY, record.to_json())

    def last_commit(self) -> CommitRecord | None:
        return CommitRecord.from_json(self._state.get(LAST_COMMIT_KEY))

    def commit_watch(self) -> CommitWatch | None:
        return CommitWatch.from_json(self._state.get(COMMIT_WATCH_KEY))

    def note_commit_watch(self, watch: CommitWatch) -> None:
        self._state.set(COMMIT_WATCH_KEY, watch.to_json())

    def open_incidents(self) -> OpenIncidents:
        return OpenIncidents.from_json(self._state.get(OPEN_INCIDENTS_KEY))

    def note_open_incidents(self, incidents: OpenIncidents) -> None:
        self._state.set(OPEN_INCIDENTS_KEY, incidents.to_json())

    @property
    def _state(self):
        from airflow.sdk.execution_time.context import AssetStateStoreAccessor

        return AssetStateStoreAccessor(name=self.stream.name)
