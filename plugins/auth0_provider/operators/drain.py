"""Auth0DrainBacklogOperator: start the next run at once while a backlog remains."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowSkipException, DagRunTriggerException

from auth0_provider.records import Checkpoint

if TYPE_CHECKING:
    from airflow.sdk import Context


class Auth0DrainBacklogOperator(BaseOperator):
    """Trigger this DAG again now when the run stopped at its per-run cap with events still waiting.

    A busy hour or a day paused would otherwise drain at one capped run per 5-minute tick. The
    follow-up run is queued and starts when this one ends (``max_active_runs=1``), so runs never
    overlap and each commits its own progress. Wire it after the commit with the default
    ``all_success`` rule: after a failed delivery there is no follow-up; the schedule retries.

    It raises the task SDK's DagRunTriggerException, exactly what TriggerDagRunOperator raises,
    without importing that operator: the DAG file is parsed again for every task.

    A replay window too big for one run continues the same way: the follow-up run's conf names the
    window and the last log id read (``replay_after``).

    :param checkpoint: the fetch task's ``records.Checkpoint``; its ``backlog`` says whether more is waiting.
    """

    template_fields = ("checkpoint",)
    ui_color = "#f0e4ec"

    def __init__(self, *, checkpoint: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint

    def execute(self, context: Context) -> None:
        checkpoint = Checkpoint.from_json(self.checkpoint)
        if not checkpoint.backlog or checkpoint.end is None:
            raise AirflowSkipException("Caught up: nothing more is waiting, the schedule takes over")
        end = checkpoint.end.log_id
        if checkpoint.window is not None:  # the rest of a replay window, from where this run stopped
            kind, conf = "replay", checkpoint.window.to_conf(after=end)
        else:
            kind, conf = "drain", {"drain_after": end}
        run_id = f"{kind}__{datetime.now(UTC).isoformat()}"
        self.log.info("More logs are waiting after %s: starting run %s now", end, run_id)
        raise DagRunTriggerException(
            trigger_dag_id=self.dag_id,
            dag_run_id=run_id,
            conf=conf,
            logical_date=None,
            reset_dag_run=False,
            skip_when_already_exists=False,
            wait_for_completion=False,
            allowed_states=["success"],
            failed_states=["failed"],
            poke_interval=60,
            deferrable=False,
            note=f"Started by {context['run_id']} to {kind} the logs after {end}",
        )
