"""Auth0AuditLogOperator: one run's read of the tenant logs, from the watermark onwards."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.bases.skipmixin import XCOM_SKIPMIXIN_KEY, XCOM_SKIPMIXIN_SKIPPED, SkipMixin

from auth0_provider import metrics
from auth0_provider.dead_letters import to_redeliver
from auth0_provider.events import LogEvent, parse_date
from auth0_provider.exceptions import (
    Auth0ConfigError,
    ClearedWithoutDeliveriesError,
    RedeliveryError,
    ReplayWindowError,
    RetentionGapError,
)
from auth0_provider.filters import EventFilter
from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.ledger import StreamLedger
from auth0_provider.names import (
    AUTH0_CONN_ID,
    CHECKPOINT_XCOM_KEY,
    DELIVER_TASK,
    FETCH_TASK,
    REDELIVER_PARAM,
    STREAM,
    USAGE_XCOM_KEY,
    WATERMARK_VARIABLE,
    StreamNames,
    is_read_pool,
)
from auth0_provider.receipts import Plan, attempt_for, receipts_since
from auth0_provider.records import (
    AUTH0_REFUSED,
    RETENTION_GAP,
    Checkpoint,
    Delivery,
    LogsRead,
    ReadAhead,
    Reading,
    Receipt,
    Trouble,
)
from auth0_provider.staging import (
    DEFAULT_MAX_BYTES,
    RunBudget,
    default_max_events,
    stage_deliveries,
    stage_events,
    staged_events,
)
from auth0_provider.watermark import Watermark, WatermarkStore
from auth0_provider.window import GRACE, ReplayWindow

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context

# Auth0 keeps logs 1 day at least (Starter). A watermark younger than this cannot have aged out, so
# only an older one costs the extra request that checks it is still kept.
RETENTION_CHECK_AGE = timedelta(hours=12)
GAP_SHOWN_FOR = timedelta(days=1)  # a gap passed by AUTH0_WEBHOOKS_ON_GAP=continue, on the page and in an alert


def run_budget(max_events: int | None, max_bytes: int, batch_size: int) -> RunBudget:
    """What one run may take: Airflow refuses to map more than ``max_map_length`` deliveries."""
    from airflow.sdk.configuration import conf

    events = default_max_events(batch_size) if max_events is None else max_events
    return RunBudget(min(events, conf.getint("core", "max_map_length") * batch_size), max_bytes)


def text_size(event: LogEvent) -> int:
    """What an event weighs against the byte cap: the characters of its JSON text, about its bytes."""
    return len(event.raw)


def read_within(
    hook: Auth0Hook,
    after: str,
    budget: RunBudget,
    taken: Sequence[LogEvent] = (),
    stop: Callable[[LogEvent], bool] | None = None,
) -> list[LogEvent]:
    """The logs after ``after``, as many as ``budget`` leaves beside the events already ``taken``."""
    left = budget.max_events - len(taken)
    room = budget.max_bytes - sum(text_size(event) for event in taken)
    return hook.read_logs(after, left, max_bytes=max(room, 1), stop=stop) if left > 0 else []


@contextmanager
def pushing_usage(context: Context, hook: Auth0Hook) -> Iterator[None]:
    """Push what the hook asked of Auth0 (``records.Auth0Usage``), failed or not: the status page adds it up."""
    try:
        yield
    finally:
        context["ti"].xcom_push(key=USAGE_XCOM_KEY, value=hook.usage.to_json())


class Auth0AuditLogOperator(BaseOperator, SkipMixin):
    """Fetch the log events written after the watermark and keep the ones the user asked for.

    Returns the deliveries to send, as the mapped ``deliver`` task's keyword arguments, and pushes
    under the XCom key ``checkpoint`` (``records.Checkpoint``) what the commit needs: the watermark
    this run started from, the last log it fetched (filtered-out events included, so a run with no
    match still moves past what it read), and every delivery it planned.

    A run that starts from the same watermark as an earlier one does not send again what that run
    delivered: the stream's receipts cover it (``receipts.Plan``).

    :param start_from: where to begin when no watermark exists yet: ``oldest``, ``now`` or a log id.
    :param batch_size: events per delivery; above 1 each delivery POSTs a JSON array.
    :param max_events: events fetched per run at most (also bounded by Airflow's ``max_map_length``
        deliveries); the rest is left for a follow-up run, which the checkpoint's ``backlog`` asks for.
        None: ``staging.default_max_events(batch_size)``.
    :param max_bytes: the text of the events fetched per run at most; an event larger than that is
        taken alone (``staging.RunBudget``).
    :param payload_format: the body each delivery carries: ``event``, ``legacy`` or ``log_stream``.
    :param on_gap: when Auth0 no longer keeps the watermark's log and newer ones were deleted with it:
        ``fail`` the run, saying what was lost, or ``continue`` from the oldest log still kept.
    :param stream: the asset whose events are this stream's receipts.
    :param read_by: the task that reads Auth0 for this one in the same run (``Auth0ReadLogsOperator``), or
        None to read here. A stream's DAG reads in its tenant's read pool while this task stays out of it.

    A backfill run, or a run triggered with conf ``replay_from``/``replay_to``, replays a window
    instead (see ``ReplayWindow``): it never reads or writes the watermark. Neither does a run
    triggered with conf ``redeliver`` (``"all"`` or a list of log ids), which sends those events
    again from the dead-letter store (``dead_letters``).
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
        auth0_conn_id: str = AUTH0_CONN_ID,
        watermark_variable: str = WATERMARK_VARIABLE,
        max_events: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        batch_size: int = 1,
        payload_format: str = "event",
        on_gap: str = "fail",
        stream: Asset = STREAM,
        read_by: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("inlets", [stream])
        super().__init__(**kwargs)
        self.log_types = sorted(log_types)
        self.api_endpoints = list(api_endpoints)
        self.start_from = start_from
        self.auth0_conn_id = auth0_conn_id
        self.watermark_variable = watermark_variable
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.batch_size = batch_size
        self.payload_format = payload_format
        self.on_gap = on_gap
        self.stream = stream
        self.read_by = read_by

    def execute(self, context: Context) -> list[dict[str, Any]]:
        self._refuse_if_cleared_alone(context)
        budget = run_budget(self.max_events, self.max_bytes, self.batch_size)
        window = ReplayWindow.of_run(context)
        redeliver = (context["dag_run"].conf or {}).get(REDELIVER_PARAM)
        if redeliver not in (None, "", []):  # the Trigger form sends its empty fields too
            if window is not None:
                raise RedeliveryError(
                    f'conf asks for both a replay ({window}) and a redelivery ("redeliver"): trigger one run for each.'
                )
            return self._redeliver(context, redeliver)
        if window is not None:
            return self._replay(context, window, budget)
        ledger = StreamLedger(context, self.stream)
        store = WatermarkStore(self.watermark_variable)
        start = store.read()
        attempt, resumed = attempt_for(ledger.attempt(), start, datetime.now(UTC))
        if not resumed:
            ledger.begin(attempt)
        taken = self._take_read_ahead(context, store, start, budget) or self._take_reading(context, start)
        if taken is not None:
            events, end, more, source = taken
        else:
            with self._auth0(context) as hook:
                events, end, more = self._fetch(context, hook, start, budget)
            source = f"{hook.requests_sent} Auth0 requests"
        since = receipts_since(attempt.since)
        checkpoint = Checkpoint(start, end, backlog=more, receipts_since=since)
        reading = Reading(datetime.now(UTC), start, end, checkpoint.backlog)
        ledger.note_reading(reading)
        lag = reading.lag_behind(start)
        if lag is not None:
            metrics.lag(lag.total_seconds())
        summary = f"watermark {start.log_id if start else 'none'} -> {end.log_id if end else 'none'}; lag {_lag(end)}"
        # only a run that starts where an earlier one did can find receipts of its deliveries
        return self._deliveries(context, events, checkpoint, f"{summary}; {source}", resume=resumed)

    def _replay(self, context: Context, window: ReplayWindow, budget: RunBudget) -> list[dict[str, Any]]:
        """Deliver the matching events dated in ``window``; the watermark is neither read nor written."""
        taken = self._take_reading(context, None)
        if taken is not None:
            read, _, more, source = taken
        else:
            with self._auth0(context) as hook:
                read, more = self._read_window(hook, window, budget)
            source = f"{hook.requests_sent} Auth0 requests"
        end = Watermark.at(read[-1]) if read else None
        since = receipts_since(datetime.now(UTC))  # only this run's own receipts count
        checkpoint = Checkpoint(None, end, backlog=more, receipts_since=since, window=window)
        dated = [event for event in read if window.contains(event)]
        summary = f"replay of {window}: {len(read)} logs read, {len(dated)} dated inside; watermark untouched"
        if more:
            summary += (
                f"; the rest of the window, after log {end.log_id if end else '?'}, follows in a run that starts "
                "once every delivery of this one is confirmed (a failed one holds it: clear it to go on)"
            )
        return self._deliveries(context, dated, checkpoint, f"{summary}; {source}")

    def _redeliver(self, context: Context, asked: Any) -> list[dict[str, Any]]:
        """Send dead letters again, byte for byte under the same keys; the watermark is neither read nor written."""
        ledger = StreamLedger(context, self.stream)
        log_ids = to_redeliver(asked, ledger.index(), self.stream.name)
        letters = {log_id: ledger.dead_letter(log_id) for log_id in log_ids}
        gone = tuple(log_id for log_id, letter in letters.items() if letter is None)
        deliveries = [letter.delivery for letter in letters.values() if letter is not None]
        checkpoint = Checkpoint(
            None, None, backlog=False, receipts_since=receipts_since(datetime.now(UTC)), redelivery=True, gone=gone
        )
        plan = Plan.of(deliveries)
        refs = stage_deliveries(context["ti"], plan.to_send)
        self._push(context, replace(checkpoint, planned=plan.planned))
        self.log.info(
            "Redelivering %d dead letter(s) of %d in the store%s; the watermark is not touched",
            len(deliveries),
            len(letters),
            f" ({len(gone)} already delivered by an earlier redelivery: {', '.join(gone)})" if gone else "",
        )
        return [{"delivery_ref": ref.to_json()} for ref in refs]

    @contextmanager
    def _auth0(self, context: Context) -> Iterator[Auth0Hook]:
        """The Auth0 hook for one read: what it cost is pushed for the status page, and a refusal is reported.

        Credentials or a scope that Auth0 refuses are kept as a trouble for the status page and the
        alerts until a read succeeds again.
        """
        ledger = StreamLedger(context, self.stream)
        settle = is_read_pool(self.pool)  # other streams' readers come next (Auth0Hook.settle_on_exit)
        with Auth0Hook(self.auth0_conn_id, settle_on_exit=settle) as hook, pushing_usage(context, hook):
            try:
                yield hook
            except Auth0ConfigError as exc:
                ledger.report(Trouble(AUTH0_REFUSED, datetime.now(UTC), str(exc)))
                raise
        ledger.resolve(AUTH0_REFUSED)

    def _push(self, context: Context, checkpoint: Checkpoint) -> None:
        """The checkpoint for the commit; a run with no backlog skips what only a live backlog needs."""
        context["ti"].xcom_push(key=CHECKPOINT_XCOM_KEY, value=checkpoint.to_json())
        if not checkpoint.backlog or not checkpoint.moves_watermark:  # a replay or redelivery never reads ahead
            self._skip_backlog_tasks(context)

    def _deliveries(
        self, context: Context, events: list[LogEvent], checkpoint: Checkpoint, summary: str, resume: bool = False
    ) -> list[dict[str, Any]]:
        """Plan the matches as deliveries, push the checkpoint, and skip what only a live backlog needs."""
        matched = EventFilter(frozenset(self.log_types), tuple(self.api_endpoints)).select(events)
        deliveries = Delivery.batches(matched, self.batch_size, self.payload_format)
        receipts = self._earlier_receipts(context, checkpoint) if resume and deliveries else ()
        plan = Plan.of(deliveries, receipts)
        refs = stage_deliveries(context["ti"], plan.to_send)
        checkpoint = replace(checkpoint, planned=plan.planned)
        self._push(context, checkpoint)
        self.log.info(
            "Fetched %d, matched %d in %d deliveries%s; %s%s",
            len(events),
            len(matched),
            len(deliveries),
            f" ({plan.already_delivered} already delivered: their receipts were found, not sent again)"
            if plan.already_delivered
            else "",
            summary,
            "; more waiting, a follow-up run will continue" if checkpoint.backlog and not checkpoint.window else "",
        )
        return [{"delivery_ref": ref.to_json()} for ref in refs]

    def _earlier_receipts(self, context: Context, checkpoint: Checkpoint) -> list[Receipt]:
        """Receipts of earlier runs from the same watermark; unreadable, they cost duplicates, never events."""
        try:
            return StreamLedger(context, self.stream).receipts(checkpoint.receipts_since)
        except Exception:
            self.log.warning("Could not read the receipts of earlier runs: sending every delivery", exc_info=True)
            return []

    def _refuse_if_cleared_alone(self, context: Context) -> None:
        """Fail before reading when this task was cleared without its deliveries.

        The deliveries are mapped over what this task returns. Read again, it would return other
        events under the same map indexes, while each delivery kept the state of what it sent before:
        a commit would take one event's success for another's. Only a first try cannot have any.
        """
        ti = context["ti"]
        if ti.try_number <= 1:
            return
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[DELIVER_TASK], run_ids=[ti.run_id])
        held = {
            name: state
            for name, state in states.get(ti.run_id, {}).items()
            if name.startswith(f"{DELIVER_TASK}_") and state is not None
        }
        if held:
            counts: dict[str, int] = {}
            for state in held.values():
                counts[state] = counts.get(state, 0) + 1
            raise ClearedWithoutDeliveriesError(
                f"{self.task_id} was cleared without its downstream tasks, but {len(held)} deliveries of this run "
                f"still hold results for the logs it read before ({', '.join(f'{n} {s}' for s, n in counts.items())}). "
                "Reading again would give them other events. Nothing was read and the watermark is untouched. "
                f"To run it again, clear {self.task_id} with its downstream tasks ('Downstream' in the Clear "
                "dialog); to retry only what failed, clear the failed deliver instances instead."
            )

    def _skip_backlog_tasks(self, context: Context) -> None:
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

    def _read_ahead_fitting(
        self, context: Context, store: WatermarkStore, start: Watermark | None, budget: RunBudget
    ) -> tuple[ReadAhead, str, str] | None:
        """The chunk an earlier run's prefetch task read ahead, with its run and task, if it follows the watermark.

        Anything else (nothing read ahead, the run that read ahead failed to commit, the watermark
        was moved, another budget) is ignored and read afresh: taking a chunk that does not start at
        the watermark would skip or repeat events. Logs are never changed once written, so a chunk
        read minutes ago is still exact; whatever came after it is read by the run after.
        """
        pointer = store.read_ahead()
        if start is None or pointer is None or pointer.get("start") != start.log_id:
            return None
        run_id, task_id = str(pointer.get("run_id")), str(pointer.get("task_id"))
        try:
            read_ahead = ReadAhead.from_json(context["ti"].xcom_pull(task_ids=task_id, run_id=run_id))
        except Exception:  # the run was cleaned up, say: reading again is always correct
            self.log.warning("Could not get the logs run %s read ahead; reading", run_id, exc_info=True)
            return None
        fits = read_ahead is not None and read_ahead.start == start.log_id and read_ahead.budget == budget.limits
        # taking an empty chunk would not move on: every run would take it again
        if read_ahead is None or not fits or not read_ahead.events:
            self.log.info("The logs run %s read ahead do not fit this run; reading", run_id)
            return None
        return read_ahead, run_id, task_id

    def _take_read_ahead(
        self, context: Context, store: WatermarkStore, start: Watermark | None, budget: RunBudget
    ) -> tuple[list[LogEvent], Watermark | None, bool, str] | None:
        """The events an earlier run's prefetch task read ahead, if they follow the watermark exactly."""
        found = self._read_ahead_fitting(context, store, start, budget)
        if found is None:
            return None
        read_ahead, run_id, task_id = found
        try:
            events = staged_events(context["ti"], read_ahead, task_id, run_id)
        except Exception:
            self.log.warning("Could not get the logs run %s read ahead; reading", run_id, exc_info=True)
            return None
        return events, read_ahead.end, read_ahead.more, f"read ahead by run {run_id}"

    def _take_reading(
        self, context: Context, start: Watermark | None
    ) -> tuple[list[LogEvent], Watermark | None, bool, str] | None:
        """What ``read_by`` read for this run (``records.LogsRead``), when it read after this watermark.

        None when there is no such task, when it read nothing (it found the logs read ahead) or after
        another watermark (moved by hand in between): then this task reads for itself.
        """
        if self.read_by is None:
            return None
        ti = context["ti"]
        reading = LogsRead.from_json(ti.xcom_pull(task_ids=self.read_by))
        if reading is None:
            return None
        if reading.start != (start.log_id if start else None):
            self.log.warning(
                "%s read after log %s, but the watermark is now at %s; reading again",
                self.read_by,
                reading.start,
                start.log_id if start else "none",
            )
            return None
        events = staged_events(ti, reading, self.read_by, ti.run_id)
        return events, reading.end, reading.more, f"{reading.requests} Auth0 requests by {self.read_by}"

    def _read_window(self, hook: Auth0Hook, window: ReplayWindow, budget: RunBudget) -> tuple[list[LogEvent], bool]:
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
            self._check_window_is_kept(hook, window, first)
            if first is None:
                return [], False
            events.append(first)
            checkpoint = first.log_id
        events += read_within(hook, checkpoint, budget, events, stop=window.passed)
        kept, more = budget.cut(events, text_size)
        return kept, more and not any(window.passed(event) for event in kept)

    def _check_window_is_kept(self, hook: Auth0Hook, window: ReplayWindow, first: LogEvent | None) -> None:
        """A window older than Auth0's retention is said so: failed when none of it is kept, warned when part is."""
        if not window.may_predate_retention(first):
            return
        oldest = hook.edge_log(newest=False)
        lost = window.lost_to_retention(first, oldest)
        if lost == "all":
            raise ReplayWindowError(
                f"Nothing can be replayed from {window}: Auth0 no longer keeps logs that old. The oldest log it "
                f"keeps, {oldest.log_id}, is dated {oldest.date}. Choose a window after that."
            )
        if lost == "part":
            self.log.warning(
                "Part of %s can no longer be replayed: Auth0 keeps logs only from %s (log %s); whatever was "
                "logged before that in the window is gone. Replaying the rest.",
                window,
                oldest.date,
                oldest.log_id,
            )

    def _fetch(
        self, context: Context, hook: Auth0Hook, start: Watermark | None, budget: RunBudget
    ) -> tuple[list[LogEvent], Watermark | None, bool]:
        """New events in log-id order, the watermark just past them, and whether more are waiting."""
        events: list[LogEvent] = []
        oldest = self._retention_gap(context, hook, start) if start is not None else None
        if oldest is None:  # no gap here (no watermark: nothing can be missing before the start)
            StreamLedger(context, self.stream).resolve_gap()
        if start is not None:
            checkpoint = start.log_id
            if oldest is not None:  # AUTH0_WEBHOOKS_ON_GAP=continue
                events.append(oldest)
                checkpoint = oldest.log_id
        elif self.start_from == "now":
            newest = hook.edge_log(newest=True)
            if newest is None:
                return [], None, False
            self.log.info("No watermark yet: starting now, after log %s", newest.log_id)
            return [], Watermark.at(newest), False
        elif self.start_from == "oldest":
            oldest = hook.edge_log(newest=False)
            if oldest is None:
                self.log.info("No watermark yet and the tenant has no logs")
                return [], None, False
            self.log.info("No watermark yet: starting from the oldest retained log %s", oldest.log_id)
            events.append(oldest)
            checkpoint = oldest.log_id
        else:
            self.log.info("No watermark yet: starting after log %s (%s)", self.start_from, self._setting("START_FROM"))
            checkpoint = self.start_from
        events += read_within(hook, checkpoint, budget, events)
        if not events:
            return [], start, False
        kept, more = budget.cut(events, text_size)
        if len(kept) < len(events):
            self.log.info("Took %d of the %d events read, the run's cap (%s)", len(kept), len(events), budget)
        return kept, Watermark.at(kept[-1]), more

    def _setting(self, key: str) -> str:
        """How messages name a setting of this task's stream (``StreamNames.setting``)."""
        return StreamNames.of_watermark(self.watermark_variable).setting(key)

    def _retention_gap(self, context: Context, hook: Auth0Hook, start: Watermark) -> LogEvent | None:
        """The oldest log still kept, when Auth0 has deleted the watermark's log and newer ones.

        Raises RetentionGapError unless ``on_gap`` is ``continue``. A gap is never passed silently: it
        is kept as a trouble for the status page and the alerts, a gap that stops the stream until
        the watermark moves on, one passed for ``GAP_SHOWN_FOR``.
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
        ledger, now = StreamLedger(context, self.stream), datetime.now(UTC)
        on_gap, start_from = self._setting("ON_GAP"), self._setting("START_FROM")
        if self.on_gap == "continue":
            self.log.warning("Retention gap: %s. Continuing from %s (%s=continue).", what, oldest.log_id, on_gap)
            passed = f"Retention gap passed ({on_gap}=continue): {what}."
            ledger.report(Trouble(RETENTION_GAP, now, passed, until=now + GAP_SHOWN_FOR))
            return oldest
        error = RetentionGapError(
            f"Retention gap: {what}. To go on from the oldest log Auth0 keeps, either set "
            f"{on_gap}=continue, or delete the Variable {self.watermark_variable!r} so that the "
            f"next run starts from {start_from} ('oldest' by default). If the tenant logged "
            "nothing in that span, nothing was lost."
        )
        ledger.report(Trouble(RETENTION_GAP, now, str(error)))
        raise error


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


class Auth0ReadLogsOperator(Auth0AuditLogOperator):
    """A stream's reading of the tenant, for the ``fetch_logs`` task after it (``read_by``).

    The streams of a tenant take turns reading it in its read pool (``names.StreamNames.read_pool``), so
    that together they stay under its rate limit. This task holds the pool's slot only for as long as
    reading takes; ``fetch_logs`` then filters and plans outside the pool. It reads what ``fetch_logs``
    would (from the watermark, or a replay's window, with the same retention checks), keeps the events'
    exact text in XCom pages and returns a ``records.LogsRead``. It reads nothing, returning None, for a
    redelivery and when the logs after the watermark were read ahead: ``fetch_logs`` takes those itself.
    """

    ui_color = "#f08a6c"

    def execute(self, context: Context) -> dict[str, Any] | None:  # type: ignore[override]
        budget = run_budget(self.max_events, self.max_bytes, self.batch_size)
        window = ReplayWindow.of_run(context)
        if (context["dag_run"].conf or {}).get(REDELIVER_PARAM) not in (None, "", []):
            self.log.info("A redelivery: nothing to read from Auth0")
            return None
        store = WatermarkStore(self.watermark_variable)
        start = None if window is not None else store.read()
        if window is None and self._read_ahead_fitting(context, store, start, budget) is not None:
            after = start.log_id if start else None
            self.log.info("The logs after %s were read ahead: %s takes them, nothing to read", after, FETCH_TASK)
            return None
        with self._auth0(context) as hook:
            if window is not None:
                events, more = self._read_window(hook, window, budget)
                end = Watermark.at(events[-1]) if events else None
            else:
                events, end, more = self._fetch(context, hook, start, budget)
        pages = stage_events(context["ti"], events)
        self.log.info("Read %d events in %d Auth0 requests for %s", len(events), hook.requests_sent, FETCH_TASK)
        reading = LogsRead(start.log_id if start else None, end, more, pages, len(events), hook.requests_sent)
        return reading.to_json()
