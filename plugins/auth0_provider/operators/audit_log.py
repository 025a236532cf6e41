"""Auth0AuditLogOperator: one run's read of the tenant logs, from the watermark onwards."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.bases.skipmixin import XCOM_SKIPMIXIN_KEY, XCOM_SKIPMIXIN_SKIPPED, SkipMixin
from airflow.sdk.exceptions import AirflowFailException

from auth0_provider.events import LogEvent, parse_date
from auth0_provider.filters import EventFilter
from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.payloads import render
from auth0_provider.watermark import DEFAULT_VARIABLE, Watermark, WatermarkStore
from auth0_provider.window import GRACE, ReplayWindow

CHECKPOINT_XCOM_KEY = "checkpoint"
DEFAULT_MAX_EVENTS = 5_000  # per run: a few MB of XCom, and a short last chunk when a backlog drains
# Auth0 keeps logs 1 day at least (Starter). A watermark younger than this cannot have aged out, so
# only an older one costs the extra request that checks it is still kept.
RETENTION_CHECK_AGE = timedelta(hours=12)


class RetentionGapError(AirflowFailException):
    """Logs after the watermark were deleted by Auth0's retention before they were delivered."""


def run_limit(max_events: int, batch_size: int) -> int:
    """Events one run may take: Airflow refuses to map more than ``max_map_length`` deliveries."""
    from airflow.sdk.configuration import conf

    return min(max_events, conf.getint("core", "max_map_length") * batch_size)


def delivery_request(events: Sequence[LogEvent], payload_format: str, *, batched: bool) -> dict[str, Any]:
    """Keyword arguments of one mapped webhook delivery: the body as data, never a template.

    The idempotency key is sent both as ``Idempotency-Key`` and as the Standard Webhooks
    ``webhook-id``: the log id, or for a batch a digest of its log ids. A run that is retried or
    re-read later cuts the same batches from the same watermark, so the key stays the same.
    """
    if batched:
        key, label = batch_id(events), f"{events[0].log_id}..{events[-1].log_id} ({len(events)} events)"
    else:
        key, label = events[0].log_id, events[0].label
    return {
        "data": render(events, payload_format, batched=batched),
        "headers": {"Content-Type": "application/json", "Idempotency-Key": key, "webhook-id": key},
        "delivery_label": label,
    }


def batch_id(events: Sequence[LogEvent]) -> str:
    """A stable id for a batch: the same log ids in the same order always give the same id."""
    digest = hashlib.sha256("\n".join(event.log_id for event in events).encode()).hexdigest()
    return f"batch_{digest[:40]}"


class Auth0AuditLogOperator(BaseOperator, SkipMixin):
    """Fetch the log events written after the watermark and keep the ones the user asked for.

    Returns the list of deliveries for the mapped webhook task, and pushes under the XCom key
    ``checkpoint`` what the commit needs: the watermark this run started from and the last log it
    fetched, filtered-out events included, so a run with no match still moves past what it read.

    :param start_from: where to begin when no watermark exists yet: ``oldest``, ``now`` or a log id.
    :param batch_size: events per delivery; above 1 each delivery POSTs a JSON array.
    :param max_events: events fetched per run at most (also bounded by Airflow's ``max_map_length``
        deliveries); the rest is left for a follow-up run, which the checkpoint's ``backlog`` asks for.
    :param payload_format: the body each delivery carries: ``event``, ``legacy`` or ``log_stream``.
    :param on_gap: when Auth0 no longer keeps the watermark's log and newer ones were deleted with it:
        ``fail`` the run, saying what was lost, or ``continue`` from the oldest log still kept.

    A backfill run, or a run triggered with conf ``replay_from``/``replay_to``, replays a window
    instead (see ``ReplayWindow``): it never reads or writes the watermark.
    """

    template_fields = ()
    ui_color = "#eb5424"
    inherits_from_skipmixin = True  # lets the scheduler skip the backlog-only tasks without running them

    def __init__(
        self,
        *,
        log_types: Collection[str],
        api_endpoints: Collection[str] = (),
        start_from: str = "oldest",
        auth0_conn_id: str = Auth0Hook.default_conn_name,
        watermark_variable: str = DEFAULT_VARIABLE,
        max_events: int = DEFAULT_MAX_EVENTS,
        batch_size: int = 1,
        payload_format: str = "event",
        on_gap: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.log_types = sorted(log_types)
        self.api_endpoints = list(api_endpoints)
        self.start_from = start_from
        self.auth0_conn_id = auth0_conn_id
        self.watermark_variable = watermark_variable
        self.max_events = max_events
        self.batch_size = batch_size
        self.payload_format = payload_format
        self.on_gap = on_gap

    def execute(self, context: Any) -> list[dict[str, Any]]:
        limit = run_limit(self.max_events, self.batch_size)
        window = ReplayWindow.of_run(context)
        if window is not None:
            return self._replay(context, window, limit)
        store = WatermarkStore(self.watermark_variable)
        start = store.read()
        taken = self._take_read_ahead(context, store, start, limit)
        if taken is not None:
            events, end, source = taken
        else:
            hook = Auth0Hook(self.auth0_conn_id)
            try:
                events, end = self._fetch(hook, start, limit)
            finally:
                hook.close()
            source = f"{hook.requests_sent} Auth0 requests"
        backlog = len(events) >= limit  # stopped at the cap, not at an empty page: more is waiting
        checkpoint = {"start": start and start.to_json(), "end": end and end.to_json(), "backlog": backlog}
        summary = f"watermark {start.log_id if start else 'none'} -> {end.log_id if end else 'none'}; lag {_lag(end)}"
        return self._deliveries(context, events, checkpoint, f"{summary}; {source}")

    def _replay(self, context: Any, window: ReplayWindow, limit: int) -> list[dict[str, Any]]:
        """Deliver the matching events dated in ``window``; the watermark is neither read nor written."""
        hook = Auth0Hook(self.auth0_conn_id)
        try:
            read, more = self._read_window(hook, window, limit)
        finally:
            hook.close()
        end = Watermark.at(read[-1]) if read else None
        checkpoint = {"start": None, "end": end and end.to_json(), "backlog": more, "window": window.to_conf()}
        dated = [event for event in read if window.contains(event)]
        summary = f"replay of {window}: {len(read)} logs read, {len(dated)} dated inside; watermark untouched"
        return self._deliveries(context, dated, checkpoint, f"{summary}; {hook.requests_sent} Auth0 requests")

    def _deliveries(
        self, context: Any, events: list[LogEvent], checkpoint: dict[str, Any], summary: str
    ) -> list[dict[str, Any]]:
        """Push the checkpoint, skip what only a live backlog needs, and cut the matches into deliveries."""
        matched = EventFilter(frozenset(self.log_types), tuple(self.api_endpoints)).select(events)
        backlog = checkpoint["backlog"]
        context["ti"].xcom_push(key=CHECKPOINT_XCOM_KEY, value=checkpoint)
        if not backlog or "window" in checkpoint:  # a replay never reads ahead: that is for the watermark
            self._skip_backlog_tasks(context)
        batches = [matched[i : i + self.batch_size] for i in range(0, len(matched), self.batch_size)]
        self.log.info(
            "Fetched %d, matched %d in %d deliveries; %s%s",
            len(events),
            len(matched),
            len(batches),
            summary,
            "; more waiting, a follow-up run will continue" if backlog else "",
        )
        batched = self.batch_size > 1
        return [delivery_request(batch, self.payload_format, batched=batched) for batch in batches]

    def _skip_backlog_tasks(self, context: Any) -> None:
        """Mark the downstream tasks that only work on a backlog (``only_with_backlog``) as skipped.

        Done the way ShortCircuitOperator does it, through the XCom the scheduler's
        NotPreviouslySkippedDep reads, so they are skipped without a task instance ever starting:
        in a 5-minute run that is caught up, starting them would cost more than what they do. Only
        for tasks off the run's failure path: a leaf skipped this early could no longer turn
        ``upstream_failed``, and the run would end "success" after a failed delivery.
        """
        relatives = self.get_direct_relatives(upstream=False)
        skipped = sorted(t.task_id for t in relatives if getattr(t, "only_with_backlog", False))
        if skipped:
            context["ti"].xcom_push(key=XCOM_SKIPMIXIN_KEY, value={XCOM_SKIPMIXIN_SKIPPED: skipped})

    def _take_read_ahead(
        self, context: Any, store: WatermarkStore, start: Watermark | None, limit: int
    ) -> tuple[list[LogEvent], Watermark, str] | None:
        """The events an earlier run's prefetch task read ahead, if they follow the watermark exactly.

        Anything else (nothing read ahead, the run that read ahead failed to commit, the watermark
        was moved, another cap) is ignored and read afresh: taking a chunk that does not start at the
        watermark would skip or repeat events. Logs are never changed once written, so a chunk read
        minutes ago is still exact; whatever came after it is read by the run after.
        """
        pointer = store.read_ahead()
        if start is None or pointer is None or pointer.get("start") != start.log_id:
            return None
        run_id, task_id = str(pointer.get("run_id")), str(pointer.get("task_id"))
        try:
            chunk = context["ti"].xcom_pull(task_ids=task_id, run_id=run_id)
        except Exception:  # the run was cleaned up, say: reading again is always correct
            self.log.warning("Could not get the logs run %s read ahead; reading", run_id, exc_info=True)
            return None
        if not isinstance(chunk, dict) or chunk.get("start") != start.log_id or chunk.get("limit") != limit:
            self.log.info("The logs run %s read ahead do not fit this run; reading", run_id)
            return None
        if not chunk.get("events"):  # taking an empty chunk would not move on: every run would take it again
            return None
        events = [LogEvent.from_raw(raw) for raw in chunk["events"]]
        return events, Watermark.from_json(chunk["end"]), f"read ahead by run {run_id}"

    def _read_window(self, hook: Auth0Hook, window: ReplayWindow, limit: int) -> tuple[list[LogEvent], bool]:
        """Logs from just before the window until they are dated past it, and whether more remain.

        A date search finds where to begin (searches page through 1,000 results at most), then
        checkpoint paging goes on by log id until a page holds a log dated ``GRACE`` past the end,
        so the few logs whose dates run out of log-id order are read too.
        """
        events: list[LogEvent] = []
        if window.after is not None:
            checkpoint = window.after
        else:
            first = hook.edge_log(newest=False, dated=(window.start - GRACE, window.end + GRACE))
            if first is None:
                return [], False
            events.append(first)
            checkpoint = first.log_id
        events += hook.read_logs(checkpoint, limit - len(events), stop=window.passed)
        more = len(events) >= limit and not any(window.passed(event) for event in events)
        return events, more

    def _fetch(self, hook: Auth0Hook, start: Watermark | None, limit: int) -> tuple[list[LogEvent], Watermark | None]:
        """New events in log-id order, and the watermark just past them."""
        events: list[LogEvent] = []
        if start is not None:
            checkpoint = start.log_id
            oldest = self._retention_gap(hook, start)
            if oldest is not None:  # AUTH0_WEBHOOKS_ON_GAP=continue
                events.append(oldest)
                checkpoint = oldest.log_id
        elif self.start_from == "now":
            newest = hook.edge_log(newest=True)
            if newest is None:
                return [], None
            self.log.info("No watermark yet: starting now, after log %s", newest.log_id)
            return [], Watermark.at(newest)
        elif self.start_from == "oldest":
            oldest = hook.edge_log(newest=False)
            if oldest is None:
                self.log.info("No watermark yet and the tenant has no logs")
                return [], None
            self.log.info("No watermark yet: starting from the oldest retained log %s", oldest.log_id)
            events.append(oldest)
            checkpoint = oldest.log_id
        else:
            self.log.info("No watermark yet: starting after log %s (AUTH0_WEBHOOKS_START_FROM)", self.start_from)
            checkpoint = self.start_from
        events += hook.read_logs(checkpoint, limit - len(events))
        if not events:
            return [], start
        return events, Watermark.at(events[-1])

    def _retention_gap(self, hook: Auth0Hook, start: Watermark) -> LogEvent | None:
        """The oldest log still kept, when Auth0 has deleted the watermark's log and newer ones.

        Raises RetentionGapError unless ``on_gap`` is ``continue``. A gap is never passed silently.
        """
        if not _may_have_aged_out(start) or hook.log_exists(start.log_id):
            return None
        oldest = hook.edge_log(newest=False)
        if oldest is None or not Watermark.at(oldest).is_after(start):
            return None
        lost = _span(start.date, oldest.date)
        what = (
            f"Auth0 no longer keeps log {start.log_id} (dated {start.date or 'unknown'}), where the watermark "
            f"stands: its log retention deleted it and every later log up to the oldest it still keeps, "
            f"{oldest.log_id} (dated {oldest.date or 'unknown'}). Events logged in that span ({lost}) were "
            "never delivered and can no longer be read"
        )
        if self.on_gap == "continue":
            self.log.warning(
                "Retention gap: %s. Continuing from %s (AUTH0_WEBHOOKS_ON_GAP=continue).", what, oldest.log_id
            )
            return oldest
        raise RetentionGapError(
            f"Retention gap: {what}. To go on from the oldest log Auth0 keeps, either set "
            f"AUTH0_WEBHOOKS_ON_GAP=continue, or delete the Variable {self.watermark_variable!r} so that the "
            "next run starts from AUTH0_WEBHOOKS_START_FROM ('oldest' by default). If the tenant logged "
            "nothing in that span, nothing was lost."
        )


def _may_have_aged_out(watermark: Watermark) -> bool:
    moment = parse_date(watermark.date)
    return moment is None or datetime.now(UTC) - moment > RETENTION_CHECK_AGE


def _span(since: str | None, until: str | None) -> str:
    start, end = parse_date(since), parse_date(until)
    if start is None or end is None:
        return "of unknown length"
    hours = (end - start).total_seconds() / 3600
    return f"about {hours / 24:.1f} days" if hours >= 48 else f"about {hours:.1f} hours"


def _lag(end: Watermark | None) -> str:
    moment = parse_date(end.date) if end else None
    return "unknown" if moment is None else f"{(datetime.now(UTC) - moment).total_seconds():.0f} s"
