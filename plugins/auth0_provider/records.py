"""What the tasks of a run hand each other, one typed shape each, serialised here and nowhere else.

- ``Delivery``: one POST, what a mapped ``deliver`` task sends (fetch -> deliver, as its mapped kwargs).
- ``PlannedDelivery`` and ``Checkpoint``: what the fetch read and planned (fetch -> commit, prefetch, drain).
- ``Receipt``: proof that the webhook answered 2xx to a delivery (deliver -> any later task or run),
  kept as an event of the stream asset.
- ``Attempt``: when runs began to start from the current watermark (fetch -> the next fetch), so a
  run that starts there again finds what an earlier one already delivered.
- ``SkippedEvent``: an event whose delivery a person marked success, recorded by the commit.

They are plain data: their tests need no Airflow running.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auth0_provider.events import LogEvent
from auth0_provider.exceptions import CheckpointError
from auth0_provider.payloads import render
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

    @classmethod
    def of(cls, events: Sequence[LogEvent], payload_format: str, *, batched: bool) -> Delivery:
        log_ids = tuple(event.log_id for event in events)
        if batched:
            key, label = batch_id(log_ids), f"{log_ids[0]}..{log_ids[-1]} ({len(log_ids)} events)"
        else:
            key, label = log_ids[0], events[0].label
        return cls(key, log_ids, render(events, payload_format, batched=batched), label)

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
        return {"key": self.key, "log_ids": list(self.log_ids), "body": self.body, "label": self.label}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Delivery:
        return cls(str(value["key"]), tuple(value["log_ids"]), str(value["body"]), str(value["label"]))


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
    of the earlier runs it resumes, can be found.
    """

    start: Watermark | None
    end: Watermark | None
    backlog: bool
    receipts_since: datetime
    planned: tuple[PlannedDelivery, ...] = ()
    window: ReplayWindow | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start and self.start.to_json(),
            "end": self.end and self.end.to_json(),
            "backlog": self.backlog,
            "receipts_since": iso(self.receipts_since),
            "planned": [planned.to_json() for planned in self.planned],
            "window": self.window and self.window.to_conf(after=self.window.after),
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
        )


RECEIPT_EXTRA_KEY = "receipt"  # the member of the asset event's extra that holds a receipt


@dataclass(frozen=True)
class Receipt:
    """The webhook answered ``status`` (a 2xx) to the delivery ``key`` carrying ``log_ids``, ``at`` then.

    ``run_id`` and ``map_index`` say which ``deliver`` instance sent it; Airflow records them with the
    asset event, so they are not part of the extra.
    """

    key: str
    log_ids: tuple[str, ...]
    status: int
    at: datetime
    run_id: str | None = None
    map_index: int | None = None

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
class SkippedEvent:
    """An event the watermark passed without a receipt, because a person marked its delivery success."""

    log_id: str
    key: str
    run_id: str
    map_index: int | None
    skipped_at: datetime
    reason: str = "marked success by hand"

    def to_json(self) -> dict[str, Any]:
        return {
            "log_id": self.log_id,
            "key": self.key,
            "run_id": self.run_id,
            "map_index": self.map_index,
            "skipped_at": iso(self.skipped_at),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> SkippedEvent:
        index = value.get("map_index")
        return cls(
            str(value["log_id"]),
            str(value["key"]),
            str(value["run_id"]),
            None if index is None else int(index),
            from_iso(value["skipped_at"]),
            str(value.get("reason") or "marked success by hand"),
        )
