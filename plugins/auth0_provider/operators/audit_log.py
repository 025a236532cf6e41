"""Auth0AuditLogOperator: one run's read of the tenant logs, from the watermark onwards."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pendulum
from airflow.sdk import BaseOperator

from auth0_provider.events import LogEvent
from auth0_provider.filters import EventFilter
from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.payloads import render
from auth0_provider.watermark import DEFAULT_VARIABLE, Watermark, WatermarkStore

CHECKPOINT_XCOM_KEY = "checkpoint"
DEFAULT_MAX_EVENTS = 1000  # stays under Airflow's [core] max_map_length (1024)


def delivery_request(event: LogEvent, payload_format: str) -> dict[str, Any]:
    """Keyword arguments of one mapped webhook delivery: the body as data, never a template.

    The idempotency key is the log id, sent both as ``Idempotency-Key`` and as the Standard Webhooks
    ``webhook-id``, so a receiver can deduplicate a retry whichever convention it follows.
    """
    return {
        "data": render(event, payload_format),
        "headers": {"Content-Type": "application/json", "Idempotency-Key": event.log_id, "webhook-id": event.log_id},
        "delivery_label": event.label,
    }


class Auth0AuditLogOperator(BaseOperator):
    """Fetch the log events written after the watermark and keep the ones the user asked for.

    Returns the list of deliveries for the mapped webhook task, and pushes under the XCom key
    ``checkpoint`` what the commit needs: the watermark this run started from and the last log it
    fetched, filtered-out events included, so a run with no match still moves past what it read.

    :param start_from: where to begin when no watermark exists yet: ``oldest``, ``now`` or a log id.
    :param max_events: events fetched per run at most; the rest waits for the next run.
    :param payload_format: the body each delivery carries: ``event``, ``legacy`` or ``log_stream``.
    """

    template_fields = ()
    ui_color = "#eb5424"

    def __init__(
        self,
        *,
        log_types: Collection[str],
        api_endpoints: Collection[str] = (),
        start_from: str = "oldest",
        auth0_conn_id: str = Auth0Hook.default_conn_name,
        watermark_variable: str = DEFAULT_VARIABLE,
        max_events: int = DEFAULT_MAX_EVENTS,
        payload_format: str = "event",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.log_types = sorted(log_types)
        self.api_endpoints = list(api_endpoints)
        self.start_from = start_from
        self.auth0_conn_id = auth0_conn_id
        self.watermark_variable = watermark_variable
        self.max_events = max_events
        self.payload_format = payload_format

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from airflow.sdk.configuration import conf

        # Airflow refuses to map a longer list; matched events are never more than fetched ones.
        limit = min(self.max_events, conf.getint("core", "max_map_length"))
        store = WatermarkStore(self.watermark_variable)
        start = store.read()
        hook = Auth0Hook(self.auth0_conn_id)
        try:
            events, end = self._fetch(hook, start, limit)
        finally:
            hook.close()
        matched = EventFilter(frozenset(self.log_types), tuple(self.api_endpoints)).select(events)
        context["ti"].xcom_push(
            key=CHECKPOINT_XCOM_KEY,
            value={"start": start and start.to_json(), "end": end and end.to_json()},
        )
        self.log.info(
            "Fetched %d, matched %d; watermark %s -> %s; lag %s; %d Auth0 requests",
            len(events),
            len(matched),
            start.log_id if start else "none",
            end.log_id if end else "none",
            _lag(end),
            hook.requests_sent,
        )
        return [delivery_request(event, self.payload_format) for event in matched]

    def _fetch(self, hook: Auth0Hook, start: Watermark | None, limit: int) -> tuple[list[LogEvent], Watermark | None]:
        """New events in log-id order, and the watermark just past them."""
        events: list[LogEvent] = []
        if start is not None:
            checkpoint = start.log_id
        elif self.start_from == "now":
            newest = hook.edge_log(newest=True)
            if newest is None:
                return [], None
            self.log.info("No watermark yet: starting now, after log %s", newest.log_id)
            return [], Watermark(newest.log_id, newest.date)
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
        last = events[-1]
        return events, Watermark(last.log_id, last.date)


def _lag(end: Watermark | None) -> str:
    if end is None or end.date is None:
        return "unknown"
    try:
        seconds = (pendulum.now("UTC") - pendulum.parse(end.date)).total_seconds()
    except (ValueError, TypeError):
        return "unknown"
    return f"{seconds:.0f} s"
