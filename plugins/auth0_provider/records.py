"""What the tasks of a run hand each other, one typed shape each, serialised here and nowhere else.

- ``Delivery``: one POST, what a mapped ``deliver`` task sends (fetch -> deliver, in an XCom page), and
  ``DeliveryRef``: which page holds it (fetch -> deliver, as its mapped kwargs).
- ``ReadAhead``: the logs a prefetch task read for the follow-up run (prefetch -> the next run's fetch).
- ``PlannedDelivery`` and ``Checkpoint``: what the fetch read and planned (fetch -> commit, prefetch, drain).
- ``Receipt``: proof that the webhook answered 2xx to a delivery (deliver -> any later task or run),
  kept as an event of the stream asset.
- ``Attempt``: when runs began to start from the current watermark (fetch -> the next fetch), so a
  run that starts there again finds what an earlier one already delivered.
- ``Rejection``: a delivery whose content the receiver has refused since ``first_at`` (deliver -> its
  next tries, in this run or later ones), kept in the stream asset's state store.
- ``DeadLetter``: an event the watermark passed without delivering it, parked after rejections or
  marked success by a person, kept in the dead-letter store until a redelivery run sends it.

They are plain data: their tests need no Airflow running.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auth0_provider.events import LogEvent, parse_date
from auth0_provider.exceptions import CheckpointError
from auth0_provider.payloads import elements, join
from auth0_provider.watermark import Watermark
from auth0_provider.window import ReplayWindow


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def from_iso(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    """One POST to the webhook: a body and the idempotency key it is sent under.

    The key is sent both as ``Idempotency-Key`` and as the Standard Webhooks ``webhook-id``: the log
    id, or for a batch a digest of its log ids, so the same events in the same order always get the
    same key, on a retry as in a later run that reads them again.
    """

    key: str
    log_ids: tuple[str, ...]
    body: str
    label: str  # what the Airflow UI shows for the mapped instance
    # a batch's elements, by length in the body, so that it can be cut into smaller batches exactly
    parts: tuple[int, ...] = ()
    redelivery: bool = False  # sent again from the dead-letter store, which it leaves once delivered

    @classmethod
    def of(cls, events: Sequence[LogEvent], payload_format: str, *, batched: bool) -> Delivery:
        log_ids = tuple(event.log_id for event in events)
        texts = elements(events, payload_format)
        if batched:
            return cls.batch(log_ids, texts)
        body = join(texts) if payload_format == "log_stream" else texts[0]
        return cls(log_ids[0], log_ids, body, events[0].label)

    @classmethod
    def batch(cls, log_ids: Sequence[str], texts: Sequence[str]) -> Delivery:
        """A batch of these events, from their elements' exact text; its key depends on the log ids alone."""
        log_ids = tuple(log_ids)
        label = f"{log_ids[0]}..{log_ids[-1]} ({len(log_ids)} events)"
        return cls(batch_id(log_ids), log_ids, join(texts), label, tuple(len(text) for text in texts))

    def elements(self) -> list[str]:
        """The exact text of each event of a batch, as it stands in the body."""
        texts, position = [], 1  # after the "["
        for length in self.parts:
            texts.append(self.body[position : position + length])
            position += length + 1  # and the ","
        return texts

    def singles(self) -> list[Delivery]:
        """Each event alone, as it is sent on its own: a batch of one from a batch, the delivery itself otherwise."""
        if not self.parts:
            return [self]
        return [Delivery.batch((log_id,), (text,)) for log_id, text in zip(self.log_ids, self.elements(), strict=True)]

    def halves(self) -> tuple[Delivery, Delivery]:
        """The batch cut in two, each a batch of its own under its own key, byte for byte the same elements."""
        if len(self.parts) < 2:
            raise ValueError(f"delivery {self.key} is not a batch of two or more events")
        texts, middle = self.elements(), len(self.parts) // 2
        return (
            Delivery.batch(self.log_ids[:middle], texts[:middle]),
            Delivery.batch(self.log_ids[middle:], texts[middle:]),
        )

    @classmethod
    def batches(cls, events: Sequence[LogEvent], batch_size: int, payload_format: str) -> list[Delivery]:
        """The events cut into deliveries of ``batch_size``, in log-id order (one event each at size 1)."""
        batched = batch_size > 1
        chunks = [events[i : i + batch_size] for i in range(0, len(events), batch_size)]
        return [cls.of(chunk, payload_format, batched=batched) for chunk in chunks]

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Idempotency-Key": self.key, "webhook-id": self.key}

    def to_json(self) -> dict[str, Any]:
        value = {"key": self.key, "log_ids": list(self.log_ids), "body": self.body, "label": self.label}
        if self.parts:
            value["parts"] = list(self.parts)
        if self.redelivery:
            value["redelivery"] = True
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Delivery:
        parts = tuple(int(length) for length in value.get("parts") or ())
        return cls(
            str(value["key"]),
            tuple(value["log_ids"]),
            str(value["body"]),
            str(value["label"]),
            parts,
            bool(value.get("redelivery")),
        )


@dataclass(frozen=True)
class DeliveryRef:
    """Where a mapped ``deliver`` instance finds its delivery: the fetch task's XCom page ``page``.

    The fetch task returns one of these per delivery, its label and key beside the page number, and
    keeps the deliveries themselves in pages (``staging.paged``). Airflow pulls a mapped task's whole
    input list for each instance; a list of these stays small, and each instance then pulls the one
    page that holds its own body.
    """

    key: str
    label: str
    page: int

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "page": self.page}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> DeliveryRef:
        return cls(str(value["key"]), str(value["label"]), int(value["page"]))


@dataclass(frozen=True)
class ReadAhead:
    """The logs a prefetch task read for the follow-up run: after ``start``, up to ``end``, in ``pages``.

    The events' exact text is kept in the prefetch task's XCom pages ``events/0`` .. ``events/<pages - 1>``;
    ``budget`` is the run budget they were read under, so a run under another budget reads afresh;
    ``more`` says that logs were waiting after ``end`` (``staging.RunBudget.cut``).
    """

    start: str
    end: Watermark
    budget: tuple[int, int]  # max events, max bytes
    pages: int
    events: int
    more: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end.to_json(),
            "budget": list(self.budget),
            "pages": self.pages,
            "events": self.events,
            "more": self.more,
        }

    @classmethod
    def from_json(cls, value: Any) -> ReadAhead | None:
        """The read-ahead, or None for anything else (an earlier version's chunk, a hand-made value)."""
        try:
            events, end = int(value["events"]), Watermark.from_json(value["end"])
            max_events, max_bytes = (int(n) for n in value["budget"])
            if end is None:
                return None
            pages, more = int(value["pages"]), bool(value["more"])
            return cls(str(value["start"]), end, (max_events, max_bytes), pages, events, more)
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class LogsRead:
    """What a stream's ``read_logs`` task read for ``fetch_logs`` in the same run, kept as a read-ahead's is.

    ``start`` is the watermark's log id it read after (None: no watermark yet, or a replay, which reads a
    window); ``end`` where the reading stopped and ``more`` whether logs were waiting after it, as
    ``Auth0AuditLogOperator`` would have found them itself. The events' exact text is in the reader's XCom
    pages ``events/0`` .. ``events/<pages - 1>``.
    """

    start: str | None
    end: Watermark | None
    more: bool
    pages: int
    events: int
    requests: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end.to_json() if self.end else None,
            "more": self.more,
            "pages": self.pages,
            "events": self.events,
            "requests": self.requests,
        }

    @classmethod
    def from_json(cls, value: Any) -> LogsRead | None:
        """The reading, or None for anything else (nothing read: the reader found the logs read ahead)."""
        try:
            start = None if value["start"] is None else str(value["start"])
            end = Watermark.from_json(value["end"]) if value["end"] is not None else None
            counts = int(value["pages"]), int(value["events"]), int(value["requests"])
            return cls(start, end, bool(value["more"]), *counts)
        except (KeyError, TypeError, ValueError):
            return None


def batch_id(log_ids: Sequence[str]) -> str:
    """A stable id for a batch: the same log ids in the same order always give the same id."""
    digest = hashlib.sha256("\n".join(log_ids).encode()).hexdigest()
    return f"batch_{digest[:40]}"


@dataclass(frozen=True)
class PlannedDelivery:
    """A delivery the run must account for before its checkpoint is committed.

    ``map_index`` is the ``deliver`` instance that sends it, or None when a receipt from an earlier
    run that started from the same watermark already covers it, so it is not sent again.
    """

    key: str
    log_ids: tuple[str, ...]
    map_index: int | None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "log_ids": list(self.log_ids), "map_index": self.map_index}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> PlannedDelivery:
        index = value.get("map_index")
        return cls(str(value["key"]), tuple(value["log_ids"]), None if index is None else int(index))

    @property
    def what(self) -> str:
        """Which deliver instance and which events, for a log line."""
        where = f"deliver[{self.map_index}]" if self.map_index is not None else "(not sent: an earlier run's)"
        return f"{where} log id(s) {', '.join(self.log_ids)}"


@dataclass(frozen=True)
class Checkpoint:
    """What a run read and what it must deliver before ``end`` may become the watermark.

    ``start`` is the watermark the run started from, ``end`` the last log it read (filtered-out ones
    included); ``backlog`` says more logs wait after ``end``; a replay names its ``window`` and never
    moves the watermark. ``receipts_since`` is how far back the receipts of this run's deliveries, and
    of the earlier runs it resumes, can be found. A ``redelivery`` sends dead letters again and never
    moves the watermark either; ``gone`` names the log ids its conf asked for that the store no longer
    holds (delivered by an earlier redelivery whose run failed), for the commit to take off the index.
    """

    start: Watermark | None
    end: Watermark | None
    backlog: bool
    receipts_since: datetime
    planned: tuple[PlannedDelivery, ...] = ()
    window: ReplayWindow | None = None
    redelivery: bool = False
    gone: tuple[str, ...] = ()

    @property
    def moves_watermark(self) -> bool:
        return self.window is None and not self.redelivery

    @property
    def read_new(self) -> bool:
        """Did the run read past its start? If not, the tenant logged nothing new since."""
        return self.end is not None and self.end.is_after(self.start)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start and self.start.to_json(),
            "end": self.end and self.end.to_json(),
            "backlog": self.backlog,
            "receipts_since": iso(self.receipts_since),
            "planned": [planned.to_json() for planned in self.planned],
            "window": self.window and self.window.to_conf(after=self.window.after),
            "redelivery": self.redelivery,
            "gone": list(self.gone),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Checkpoint:
        if not isinstance(value, Mapping) or "receipts_since" not in value:
            raise CheckpointError(
                f"This run's checkpoint cannot be read ({str(value)[:200]}): a run read by an earlier version of "
                "the provider, before receipts, cannot be committed on proof of delivery. Clear the whole run "
                "(Clear Run) so that it reads again, or leave it: the next run delivers its events."
            )
        window = value.get("window")
        return cls(
            start=Watermark.from_json(value.get("start")),
            end=Watermark.from_json(value.get("end")),
            backlog=bool(value.get("backlog")),
            receipts_since=from_iso(value["receipts_since"]),
            planned=tuple(PlannedDelivery.from_json(p) for p in value.get("planned") or ()),
            window=ReplayWindow.from_conf(window) if window else None,
            redelivery=bool(value.get("redelivery")),
            gone=tuple(str(log_id) for log_id in value.get("gone") or ()),
        )


RECEIPT_EXTRA_KEY = "receipt"  # the member of the asset event's extra that holds a receipt


@dataclass(frozen=True)
class Receipt:
    """The webhook answered ``status`` (a 2xx) to the delivery ``key`` carrying ``log_ids``, ``at`` then.

    Or, when ``parked`` names some of its log ids, the delivery was refused (``status``, a 4xx) for
    long enough to be parked (``dead_letters``): those events are in the dead-letter store, the rest
    were delivered in parts. Either way, the delivery is accounted for.

    ``run_id`` and ``map_index`` say which ``deliver`` instance sent it; Airflow records them with the
    asset event, so they are not part of the extra.
    """

    key: str
    log_ids: tuple[str, ...]
    status: int
    at: datetime
    run_id: str | None = None
    map_index: int | None = None
    parked: tuple[str, ...] = ()  # log ids parked in the dead-letter store instead of delivered

    def covers(self, planned: PlannedDelivery | Delivery) -> bool:
        """Matched by key and log ids, never by map index or task state."""
        return self.key == planned.key and self.log_ids == tuple(planned.log_ids)

    def to_extra(self) -> dict[str, Any]:
        """The asset event's extra: the receipt under one member, so other extras are never taken for one."""
        return {
            RECEIPT_EXTRA_KEY: {
                "key": self.key,
                "log_ids": list(self.log_ids),
                "status": self.status,
                "at": iso(self.at),
                **({"parked": list(self.parked)} if self.parked else {}),
            }
        }

    @classmethod
    def from_event(
        cls, extra: Mapping[str, Any] | None, run_id: str | None = None, map_index: int | None = None
    ) -> Receipt | None:
        """The receipt an asset event carries, or None for an event that carries none."""
        value = (extra or {}).get(RECEIPT_EXTRA_KEY)
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(
                str(value["key"]),
                tuple(value["log_ids"]),
                int(value["status"]),
                from_iso(value["at"]),
                run_id,
                map_index,
                tuple(str(log_id) for log_id in value.get("parked") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Attempt:
    """Runs have been starting from the watermark ``from_log_id`` (None: no watermark yet) since ``since``."""

    from_log_id: str | None
    since: datetime

    def to_json(self) -> dict[str, Any]:
        return {"from": self.from_log_id, "since": iso(self.since)}

    @classmethod
    def from_json(cls, value: Any) -> Attempt | None:
        """None for anything that is not an attempt (a value edited by hand is simply a new start)."""
        if not isinstance(value, Mapping) or "since" not in value:
            return None
        try:
            start = value.get("from")
            return cls(None if start is None else str(start), from_iso(str(value["since"])))
        except ValueError:
            return None


@dataclass(frozen=True)
class CommitWatch:
    """What the alerts remember between checks: the last live commit they saw (None: none yet), since when."""

    committed_at: datetime | None
    since: datetime

    def to_json(self) -> dict[str, Any]:
        return {"committed_at": iso(self.committed_at) if self.committed_at else None, "since": iso(self.since)}

    @classmethod
    def from_json(cls, value: Any) -> CommitWatch | None:
        """None for anything else: the count starts again, which alerts later, never sooner."""
        try:
            committed = value["committed_at"]
            return cls(from_iso(str(committed)) if committed else None, from_iso(str(value["since"])))
        except (KeyError, TypeError, ValueError):
            return None


# A blocked delivery is refused again at least every retry delay (10 minutes at most) or run (5 minutes).
STALE_REJECTION = timedelta(days=1)


@dataclass(frozen=True)
class Rejection:
    """The receiver has refused the delivery ``key`` since ``first_at`` (in the run ``run_id``): ``attempts``
    times, last with ``status``."""

    key: str
    first_at: datetime
    last_at: datetime
    attempts: int
    status: int
    excerpt: str  # the start of the receiver's last answer, redacted
    run_id: str | None = None  # the run that first refused it; None in a rejection kept by an earlier version

    @classmethod
    def after(
        cls, earlier: Rejection | None, key: str, status: int, excerpt: str, now: datetime, run_id: str | None = None
    ) -> Rejection:
        """This rejection, counted with the earlier ones of the same delivery.

        One refused more than ``STALE_REJECTION`` ago was since delivered, or its stream moved on: the count
        starts again (a delivered delivery's rejection is not deleted, which would cost every delivery a call).
        """
        if earlier is None or earlier.key != key or now - earlier.last_at > STALE_REJECTION:
            return cls(key, now, now, 1, status, excerpt, run_id)
        return cls(key, earlier.first_at, now, earlier.attempts + 1, status, excerpt, earlier.run_id)

    def of_part(self, key: str, status: int, excerpt: str, now: datetime) -> Rejection:
        """A part of this refused batch, refused on its own: refused since the batch was."""
        return Rejection(key, self.first_at, now, self.attempts, status, excerpt, self.run_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "first_at": iso(self.first_at),
            "last_at": iso(self.last_at),
            "attempts": self.attempts,
            "status": self.status,
            "excerpt": self.excerpt,
            **({"run_id": self.run_id} if self.run_id is not None else {}),
        }

    @classmethod
    def from_json(cls, value: Any) -> Rejection | None:
        """None for anything that is not a rejection: the count then starts again, which parks later, never sooner."""
        try:
            return cls(
                str(value["key"]),
                from_iso(value["first_at"]),
                from_iso(value["last_at"]),
                int(value["attempts"]),
                int(value["status"]),
                str(value["excerpt"]),
                str(value["run_id"]) if value.get("run_id") is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


PARKED = "parked"  # rejected by the receiver for DEAD_LETTER_AFTER while other deliveries succeeded
SKIPPED_BY_HAND = "skipped by hand"  # its delivery marked success by a person


@dataclass(frozen=True)
class DeadLetter:
    """One event the watermark passed undelivered, as the dead-letter store keeps it.

    ``body`` and ``key`` are what a redelivery sends: the event alone, byte for byte as it was (or
    would have been) sent on its own, and the idempotency key it was sent under.
    """

    log_id: str
    key: str
    body: str
    reason: str  # PARKED or SKIPPED_BY_HAND
    status: int | None  # the receiver's last answer; None when it never answered (skipped by hand)
    excerpt: str
    attempts: int
    first_at: datetime
    last_at: datetime
    run_id: str
    map_index: int | None

    @property
    def delivery(self) -> Delivery:
        """What a redelivery run sends: the same body under the same key."""
        return Delivery(self.key, (self.log_id,), self.body, f"{self.log_id} (redelivery)", redelivery=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "key": self.key,
            "body": self.body,
            "reason": self.reason,
            "status": self.status,
            "excerpt": self.excerpt,
            "attempts": self.attempts,
            "first_at": iso(self.first_at),
            "last_at": iso(self.last_at),
            "run_id": self.run_id,
            "map_index": self.map_index,
        }

    @classmethod
    def from_json(cls, value: Any) -> DeadLetter | None:
        try:
            status, index = value.get("status"), value.get("map_index")
            return cls(
                str(value["log_id"]),
                str(value["key"]),
                str(value["body"]),
                str(value["reason"]),
                None if status is None else int(status),
                str(value.get("excerpt") or ""),
                int(value.get("attempts") or 0),
                from_iso(value["first_at"]),
                from_iso(value["last_at"]),
                str(value["run_id"]),
                None if index is None else int(index),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


# -- what the status page and the alerts read ------------------------------------------------


@dataclass(frozen=True)
class Auth0Usage:
    """What one task asked of Auth0 (fetch, prefetch -> the status page): requests, and rate-limit waits."""

    requests: int
    rate_limit_waits: int = 0
    waited_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rate_limit_waits": self.rate_limit_waits,
            "waited_seconds": self.waited_seconds,
        }

    @classmethod
    def from_json(cls, value: Any) -> Auth0Usage | None:
        try:
            return cls(int(value["requests"]), int(value["rate_limit_waits"]), float(value["waited_seconds"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Reading:
    """Where a live run started (the watermark) and the newest log Auth0 had for it, ``at`` then.

    Kept in the stream's state store by the fetch of every run that may move the watermark; the
    status page measures the lag with it: how far the watermark is behind Auth0's newest log.
    ``backlog`` says Auth0 had more than the run read, so the newest log is at least ``end``.
    """

    at: datetime
    start: Watermark | None
    end: Watermark | None
    backlog: bool

    def lag_behind(self, watermark: Watermark | None) -> timedelta | None:
        """How much older the watermark is than the newest log read; None when a date is unknown."""
        newest = parse_date(self.end.date) if self.end else None
        if newest is None:
            return timedelta(0) if self.end is None or self.end == watermark else None
        if watermark is not None and not self.end.is_after(watermark):
            return timedelta(0)
        stood = parse_date(watermark.date) if watermark else None
        return None if stood is None else max(newest - stood, timedelta(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "start": self.start and self.start.to_json(),
            "end": self.end and self.end.to_json(),
            "backlog": self.backlog,
        }

    @classmethod
    def from_json(cls, value: Any) -> Reading | None:
        try:
            return cls(
                from_iso(value["at"]),
                Watermark.from_json(value.get("start")),
                Watermark.from_json(value.get("end")),
                bool(value.get("backlog")),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class CommitRecord:
    """What a run's commit did (commit -> the status page): delivered and parked events, and the watermark.

    ``kind`` is ``live``, ``replay`` or ``redelivery``; only a live commit can move the watermark.
    """

    at: datetime
    kind: str
    moved: bool
    end: Watermark | None
    delivered: int  # events the webhook accepted in this run's deliveries (and earlier runs' it resumed)
    parked: int

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "kind": self.kind,
            "moved": self.moved,
            "end": self.end and self.end.to_json(),
            "delivered": self.delivered,
            "parked": self.parked,
        }

    @classmethod
    def from_json(cls, value: Any) -> CommitRecord | None:
        try:
            return cls(
                from_iso(value["at"]),
                str(value["kind"]),
                bool(value["moved"]),
                Watermark.from_json(value.get("end")),
                int(value["delivered"]),
                int(value["parked"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Failure:
    """A delivery's try that failed (deliver -> the status page): the receiver's status, or None if none came."""

    label: str
    events: int
    status: int | None
    reason: str  # the error, as the task log has it: redacted
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "events": self.events,
            "status": self.status,
            "reason": self.reason,
            "at": iso(self.at),
        }

    @classmethod
    def from_json(cls, value: Any) -> Failure | None:
        try:
            status = value.get("status")
            return cls(
                str(value["label"]),
                int(value["events"]),
                None if status is None else int(status),
                str(value["reason"]),
                from_iso(value["at"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


AUTH0_REFUSED = "auth0-refused"  # Auth0 refused the connection's credentials or scope
RETENTION_GAP = "retention-gap"  # logs after the watermark aged out before they were delivered


@dataclass(frozen=True)
class Trouble:
    """Something a person must fix, as the fetch found it (fetch -> the status page and the alerts).

    Kept in the stream's state store until a fetch reads from Auth0 again (``AUTH0_REFUSED``) or
    finds the watermark's log kept again (``RETENTION_GAP``), or, for one that is over by itself (a gap
    passed by ``AUTH0_WEBHOOKS_ON_GAP=continue``), ``until`` then.
    """

    kind: str
    since: datetime
    message: str
    until: datetime | None = None

    def open_at(self, now: datetime) -> bool:
        return self.until is None or now < self.until

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "since": iso(self.since),
            "message": self.message,
            "until": self.until and iso(self.until),
        }

    @classmethod
    def from_json(cls, value: Any) -> Trouble | None:
        try:
            until = value.get("until")
            return cls(str(value["kind"]), from_iso(value["since"]), str(value["message"]), until and from_iso(until))
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class OpenIncidents:
    """The incidents an alert has announced and no alert has cleared yet, by kind (alert task -> its next run)."""

    since: Mapping[str, datetime]

    def to_json(self) -> dict[str, Any]:
        return {kind: iso(moment) for kind, moment in self.since.items()}

    @classmethod
    def from_json(cls, value: Any) -> OpenIncidents:
        """Nothing open for anything unreadable: an incident still open is then announced again, never missed."""
        try:
            return cls({str(kind): from_iso(moment) for kind, moment in (value or {}).items()})
        except (AttributeError, TypeError, ValueError):
            return cls({})
