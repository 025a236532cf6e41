"""Auth0PrefetchOperator: read the follow-up run's events while this run delivers its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException

from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.names import AUTH0_CONN_ID, WATERMARK_VARIABLE, is_read_pool
from auth0_provider.operators.audit_log import pushing_usage, read_within, run_budget, text_size
from auth0_provider.records import Checkpoint, ReadAhead
from auth0_provider.staging import DEFAULT_MAX_BYTES, stage_events
from auth0_provider.watermark import Watermark, WatermarkStore

if TYPE_CHECKING:
    from airflow.sdk import Context


class Auth0PrefetchOperator(BaseOperator):
    """While a backlog drains, read the next chunk of logs in parallel with this run's deliveries.

    Reading is paced by Auth0's rate limit and delivering by Airflow; one after the other they add up.
    This task reads what the next run would read first, right after this run's checkpoint, keeps the
    events in XCom pages (``staging.stage_events``), returns where they are (``records.ReadAhead``) and
    notes run and log id in the Variable ``<watermark variable>_read_ahead``. Whichever
    run comes next (a follow-up, a scheduled tick, a manual trigger) takes the chunk only when it
    starts exactly at the committed watermark (see ``Auth0AuditLogOperator``), so a chunk can never
    skip or repeat events; otherwise it is ignored and the logs are read again.

    It is best effort: when reading, keeping or noting the chunk fails, the task is skipped with a
    warning and the follow-up run reads for itself, so a run whose deliveries all succeeded is never
    marked failed by it.

    :param checkpoint: the fetch task's ``records.Checkpoint``; nothing is read unless its ``backlog`` is set.
    :param max_events: as for the fetch task; the follow-up run ignores a chunk cut to another cap.
    :param max_bytes: as for the fetch task, likewise.
    """

    template_fields = ("checkpoint",)
    only_with_backlog = True  # a fetch task that is caught up has it skipped before it starts
    ui_color = "#f6b9a3"

    def __init__(
        self,
        *,
        checkpoint: Any,
        auth0_conn_id: str = AUTH0_CONN_ID,
        watermark_variable: str = WATERMARK_VARIABLE,
        max_events: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        batch_size: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.watermark_variable = watermark_variable
        self.auth0_conn_id = auth0_conn_id
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.batch_size = batch_size

    def execute(self, context: Context) -> None:
        checkpoint = Checkpoint.from_json(self.checkpoint)
        if not checkpoint.backlog or checkpoint.end is None:
            raise AirflowSkipException("Caught up: no follow-up run to read ahead for")
        if checkpoint.window is not None:
            raise AirflowSkipException("A replay: reading ahead is only for runs that go on from the watermark")
        try:
            self._read_ahead(context, checkpoint.end)
        except AirflowSkipException:
            raise
        except Exception:
            self.log.warning(
                "Reading ahead after %s failed; the follow-up run reads for itself",
                checkpoint.end.log_id,
                exc_info=True,
            )
            raise AirflowSkipException("Read-ahead failed; the follow-up run reads these logs itself") from None

    def _read_ahead(self, context: Context, start: Watermark) -> None:
        budget = run_budget(self.max_events, self.max_bytes, self.batch_size)
        settle = is_read_pool(self.pool)  # other streams' readers come next (Auth0Hook.settle_on_exit)
        with Auth0Hook(self.auth0_conn_id, settle_on_exit=settle) as hook, pushing_usage(context, hook):
            events = read_within(hook, start.log_id, budget)
        if not events:
            raise AirflowSkipException(f"Nothing was waiting after {start.log_id} after all")
        events, more = budget.cut(events, text_size)
        end = Watermark.at(events[-1])
        self.log.info(
            "Read %d events ahead after %s (up to %s) in %d Auth0 requests, for the follow-up run",
            len(events),
            start.log_id,
            end.log_id,
            hook.requests_sent,
        )
        pages = stage_events(context["ti"], events)
        read_ahead = ReadAhead(start.log_id, end, budget.limits, pages, len(events), more)
        context["ti"].xcom_push(key="return_value", value=read_ahead.to_json())  # stored before the pointer names it
        WatermarkStore(self.watermark_variable).note_read_ahead(context["run_id"], self.task_id, start)
