"""Auth0WatermarkCommitOperator: move the watermark once every planned delivery is accounted for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from auth0_provider.exceptions import MissingReceiptsError
from auth0_provider.ledger import StreamLedger
from auth0_provider.names import DELIVER_TASK, STREAM, WATERMARK_VARIABLE
from auth0_provider.receipts import Verdict, judge, missing_message
from auth0_provider.records import Checkpoint, SkippedEvent
from auth0_provider.watermark import WatermarkStore, plan_commit

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context


class Auth0WatermarkCommitOperator(BaseOperator):
    """Commit the run's checkpoint on proof of delivery, unless another run has committed since it started.

    Every delivery the fetch planned must have a receipt, matched by idempotency key and log ids,
    never by map index or task state (``receipts.judge``). A delivery without one whose task
    instance is ``success`` was marked success by a person: the watermark passes it, and its events
    are named in the log and recorded in the stream asset's state store (``skipped/<log id>``). Any
    other delivery without a receipt fails the commit, with what to do about it.

    Wire it downstream of every delivery with ``trigger_rule="none_failed"`` (an empty map skips
    the deliveries; the watermark must still advance) and ``max_active_tis_per_dag=1`` so that two
    commits never interleave their read and write.

    :param checkpoint: the fetch task's ``records.Checkpoint``, as JSON; a replay's names its window,
        and then the watermark is not touched.
    """

    template_fields = ("checkpoint",)
    ui_color = "#16214d"
    ui_fgcolor = "#ffffff"

    def __init__(
        self, *, checkpoint: Any, watermark_variable: str = WATERMARK_VARIABLE, stream: Asset = STREAM, **kwargs: Any
    ) -> None:
        kwargs.setdefault("inlets", [stream])
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.watermark_variable = watermark_variable
        self.stream = stream

    def execute(self, context: Context) -> bool:
        checkpoint = Checkpoint.from_json(self.checkpoint)
        verdict = self._account(context, checkpoint)
        if checkpoint.window is not None:
            if verdict.skipped_by_hand:
                self.log.warning(
                    "Marked success by hand, so not replayed: log id(s) %s", ", ".join(verdict.skipped_log_ids)
                )
            self.log.info("A replay of %s: the watermark is not touched", checkpoint.window)
            return False
        store = WatermarkStore(self.watermark_variable)
        write, reason = plan_commit(checkpoint.start, checkpoint.end, store.read())
        if write:
            self._record_skipped(context, verdict)  # before the watermark passes them: never lost unrecorded
            store.write(checkpoint.end)
            StreamLedger(context, self.stream).end_attempt()
        elif verdict.skipped_by_hand:
            self.log.warning(
                "Marked success by hand and never delivered: log id(s) %s. Not recorded as skipped: this run "
                "does not move the watermark past them.",
                ", ".join(verdict.skipped_log_ids),
            )
        self.log.info("%s", reason)
        return write

    def _account(self, context: Context, checkpoint: Checkpoint) -> Verdict:
        """Each planned delivery's receipt, or failing that its task instance's state; fail on anything else."""
        if not checkpoint.planned:
            return Verdict((), (), ())
        receipts = StreamLedger(context, self.stream).receipts(checkpoint.receipts_since)
        ti = context["ti"]
        found = ti.get_task_states(dag_id=ti.dag_id, task_ids=[DELIVER_TASK], run_ids=[ti.run_id]).get(ti.run_id, {})
        prefix = f"{DELIVER_TASK}_"
        states = {int(name[len(prefix) :]): state for name, state in found.items() if name.startswith(prefix)}
        verdict = judge(checkpoint.planned, receipts, states)
        if verdict.missing:
            raise MissingReceiptsError(
                missing_message(verdict, len(checkpoint.planned), checkpoint.start, checkpoint.window is not None)
            )
        self.log.info(
            "All %d planned deliveries accounted for: %d with a receipt, %d marked success by hand",
            len(checkpoint.planned),
            len(verdict.delivered),
            len(verdict.skipped_by_hand),
        )
        return verdict

    def _record_skipped(self, context: Context, verdict: Verdict) -> None:
        if not verdict.skipped_by_hand:
            return
        ledger = StreamLedger(context, self.stream)
        now = datetime.now(UTC)
        run_id = context["run_id"]
        for planned in verdict.skipped_by_hand:
            for log_id in planned.log_ids:
                ledger.record_skipped(SkippedEvent(log_id, planned.key, run_id, planned.map_index, now))
        self.log.warning(
            "Marked success by hand, never delivered: the watermark passes %d event(s), log id(s) %s. They are "
            "recorded in the state store of the asset %r under skipped/<log id>.",
            len(verdict.skipped_log_ids),
            ", ".join(verdict.skipped_log_ids),
            self.stream.name,
        )
