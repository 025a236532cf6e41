"""Auth0PrefetchOperator: read the follow-up run's events while this run delivers its own."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.operators.audit_log import DEFAULT_MAX_EVENTS, run_limit
from auth0_provider.watermark import DEFAULT_VARIABLE, Watermark, WatermarkStore


class Auth0PrefetchOperator(BaseOperator):
    """While a backlog drains, read the next chunk of logs in parallel with this run's deliveries.

    Reading is paced by Auth0's rate limit and delivering by Airflow; one after the other they add up.
    This task reads what the next run would read first, right after this run's checkpoint, returns
    it as XCom and notes run and log id in the Variable ``<watermark variable>_read_ahead``. Whichever
    run comes next (a follow-up, a scheduled tick, a manual trigger) takes the chunk only when it
    starts exactly at the committed watermark (see ``Auth0AuditLogOperator``), so a chunk can never
    skip or repeat events; otherwise it is ignored and the logs are read again.

    It is best effort: when the read fails, the task is skipped with a warning and the follow-up run
    reads for itself, so a run whose deliveries all succeeded is never marked failed by it.

    :param checkpoint: the fetch task's checkpoint; nothing is read unless its ``backlog`` is set.
    :param max_events: as for the fetch task; the follow-up run ignores a chunk cut to another cap.
    """

    template_fields = ("checkpoint",)
    only_with_backlog = True  # a fetch task that is caught up has it skipped before it starts
    ui_color = "#f6b9a3"

    def __init__(
        self,
        *,
        checkpoint: Any,
        auth0_conn_id: str = Auth0Hook.default_conn_name,
        watermark_variable: str = DEFAULT_VARIABLE,
        max_events: int = DEFAULT_MAX_EVENTS,
        batch_size: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.watermark_variable = watermark_variable
        self.auth0_conn_id = auth0_conn_id
        self.max_events = max_events
        self.batch_size = batch_size

    def execute(self, context: Any) -> None:
        if not (self.checkpoint or {}).get("backlog"):
            raise AirflowSkipException("Caught up: no follow-up run to read ahead for")
        if self.checkpoint.get("window"):
            raise AirflowSkipException("A replay: reading ahead is only for runs that go on from the watermark")
        start = Watermark.from_json(self.checkpoint["end"])
        limit = run_limit(self.max_events, self.batch_size)
        hook = Auth0Hook(self.auth0_conn_id)
        try:
            events = hook.read_logs(start.log_id, limit)
        except Exception:
            self.log.warning(
                "Reading ahead after %s failed; the follow-up run reads for itself", start.log_id, exc_info=True
            )
            raise AirflowSkipException("Read-ahead failed; the follow-up run reads these logs itself") from None
        finally:
            hook.close()
        if not events:
            raise AirflowSkipException(f"Nothing was waiting after {start.log_id} after all")
        end = Watermark.at(events[-1])
        self.log.info(
            "Read %d events ahead after %s (up to %s) in %d Auth0 requests, for the follow-up run",
            len(events),
            start.log_id,
            end.log_id,
            hook.requests_sent,
        )
        chunk = {"start": start.log_id, "end": end.to_json(), "limit": limit, "events": [e.raw for e in events]}
        context["ti"].xcom_push(key="return_value", value=chunk)  # stored before the pointer names it
        WatermarkStore(self.watermark_variable).note_read_ahead(context["run_id"], self.task_id, start)
