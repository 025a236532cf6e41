"""Auth0WatermarkCommitOperator: move the watermark once every planned delivery is accounted for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from auth0_provider.dead_letters import dead_letter, index_with
from auth0_provider.exceptions import MissingReceiptsError
from auth0_provider.ledger import StreamLedger
from auth0_provider.names import DELIVER_TASK, FETCH_TASK, STREAM, WATERMARK_VARIABLE, StreamNames
from auth0_provider.receipts import Verdict, judge, missing_message
from auth0_provider.records import SKIPPED_BY_HAND, Checkpoint, CommitRecord, DeadLetter, DeliveryRef
from auth0_provider.settings import DEFAULT_DEAD_LETTER_MAX
from auth0_provider.staging import staged_delivery
from auth0_provider.watermark import Watermark, WatermarkStore, plan_commit

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context


class Auth0WatermarkCommitOperator(BaseOperator):
    """Commit the run's checkpoint on proof of delivery, unless another run has committed since it started.

    Every delivery the fetch planned must have a receipt, matched by idempotency key and log ids,
    never by map index or task state (``receipts.judge``). A delivery without one whose task
    instance is ``success`` was marked success by a person: the watermark passes it, and its events
    are named in the log and kept in the dead-letter store. Any other delivery without a receipt
    fails the commit, with what to do about it.

    The commit is the one writer of the dead-letter store's index (``dead_letters``): it adds the
    events this run's deliveries parked and those skipped by hand, always, so that every event the
    watermark passes can be redelivered. ``dead_letter_max`` bounds parking, not the index: once the
    store holds that many, deliveries park nothing more and the stream waits on them
    (``dead_letters.park_decision``). A redelivery run's commit takes what it delivered off the
    index; neither touches the watermark.

    Wire it downstream of every delivery with ``trigger_rule="none_failed"`` (an empty map skips
    the deliveries; the watermark must still advance) and ``max_active_tis_per_dag=1`` so that two
    commits never interleave their read and write.

    :param checkpoint: the fetch task's ``records.Checkpoint``, as JSON; a replay's names its window,
        and then the watermark is not touched.
    :param dead_letter_max: how many events the dead-letter store holds before parking stops (for the log).
    """

    template_fields = ("checkpoint",)
    ui_color = "#16214d"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        checkpoint: Any,
        watermark_variable: str = WATERMARK_VARIABLE,
        stream: Asset = STREAM,
        dead_letter_max: int = DEFAULT_DEAD_LETTER_MAX,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("inlets", [stream])
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.watermark_variable = watermark_variable
        self.stream = stream
        self.dead_letter_max = dead_letter_max

    def execute(self, context: Context) -> dict[str, Any]:
        """Returns what the commit did, a ``records.CommitRecord``: the status page adds them up."""
        checkpoint = Checkpoint.from_json(self.checkpoint)
        verdict = self._account(context, checkpoint)
        ledger = StreamLedger(context, self.stream)
        if checkpoint.redelivery:
            self._end_redelivery(ledger, checkpoint, verdict)
            return self._record("redelivery", verdict, moved=False).to_json()
        if checkpoint.window is not None:
            if verdict.skipped_by_hand:
                self.log.warning(
                    "Marked success by hand, so not replayed: log id(s) %s", ", ".join(verdict.skipped_log_ids)
                )
            self._index(ledger, verdict.parked)
            self.log.info("A replay of %s: the watermark is not touched", checkpoint.window)
            return self._record("replay", verdict, moved=False).to_json()
        store = WatermarkStore(self.watermark_variable)
        write, reason = plan_commit(checkpoint.start, checkpoint.end, store.read())
        # before the watermark passes them: never lost unrecorded
        self._index(ledger, verdict.parked, self._skipped_letters(context, verdict) if write else ())
        if write:
            store.write(checkpoint.end)
        elif verdict.skipped_by_hand:
            self.log.warning(
                "Marked success by hand and never delivered: log id(s) %s. Not recorded as skipped: this run "
                "does not move the watermark past them.",
                ", ".join(verdict.skipped_log_ids),
            )
        if write or not checkpoint.read_new:  # caught up: the stream is not blocked at this watermark
            ledger.end_attempt()
        self.log.info("%s", reason)
        record = self._record("live", verdict, moved=write, end=checkpoint.end if write else None)
        ledger.note_commit(record)
        return record.to_json()

    def _record(self, kind: str, verdict: Verdict, *, moved: bool, end: Watermark | None = None) -> CommitRecord:
        parked = len(verdict.parked)
        delivered = sum(len(planned.log_ids) for planned in verdict.delivered) - parked
        return CommitRecord(datetime.now(UTC), kind, moved, end, delivered, parked)

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
                missing_message(verdict, len(checkpoint.planned), checkpoint.start, not checkpoint.moves_watermark)
            )
        self.log.info(
            "All %d planned deliveries accounted for: %d with a receipt (%d event(s) of them parked), %d marked "
            "success by hand",
            len(checkpoint.planned),
            len(verdict.delivered),
            len(verdict.parked),
            len(verdict.skipped_by_hand),
        )
        return verdict

    def _skipped_letters(self, context: Context, verdict: Verdict) -> list[DeadLetter]:
        """The events of the deliveries marked success by hand, as dead letters: bodies from the fetch's pages."""
        if not verdict.skipped_by_hand:
            return []
        ti = context["ti"]
        sent = ti.xcom_pull(task_ids=FETCH_TASK) or []
        now, run_id = datetime.now(UTC), context["run_id"]
        letters = []
        for planned in verdict.skipped_by_hand:
            delivery = staged_delivery(ti, DeliveryRef.from_json(sent[planned.map_index]["delivery_ref"]), FETCH_TASK)
            letters += dead_letter(delivery, None, SKIPPED_BY_HAND, run_id, planned.map_index, now)
        self.log.warning(
            "Marked success by hand, never delivered: the watermark passes %d event(s), log id(s) %s. They are "
            "kept in the dead-letter store (the state store of the asset %r, 'dead/<log id>'); a run triggered "
            'with conf {"redeliver": "all"} sends them.',
            len(verdict.skipped_log_ids),
            ", ".join(verdict.skipped_log_ids),
            self.stream.name,
        )
        return letters

    def _index(self, ledger: StreamLedger, parked: Sequence[str], skipped: Sequence[DeadLetter] = ()) -> None:
        """Count parked and skipped events in the dead-letter store: every one, whatever its bound."""
        if not parked and not skipped:
            return
        index = index_with(ledger.index(), [*parked, *(letter.log_id for letter in skipped)])
        ledger.keep(skipped)
        ledger.write_index(index)
        self.log.warning(
            "The dead-letter store holds %d event(s) (parking stops at %d); %d parked by this run: %s",
            len(index),
            self.dead_letter_max,
            len(parked),
            ", ".join(parked) or "none",
        )
        if len(index) >= self.dead_letter_max:
            self.log.warning(
                "The dead-letter store is full: deliveries the receiver refuses are no longer parked, so the "
                'stream waits on them. Redeliver what the receiver now accepts (conf {"redeliver": "all"}, or '
                "the status page), or raise %s.",
                StreamNames.of_watermark(self.watermark_variable).setting("DEAD_LETTER_MAX"),
            )

    def _end_redelivery(self, ledger: StreamLedger, checkpoint: Checkpoint, verdict: Verdict) -> None:
        delivered = {log_id for planned in verdict.delivered for log_id in planned.log_ids}
        index = ledger.index()
        kept = [log_id for log_id in index if log_id not in delivered and log_id not in checkpoint.gone]
        ledger.write_index(kept)
        self.log.info(
            "Redelivered %d dead letter(s); the dead-letter store holds %d. The watermark is not touched.",
            len(delivered),
            len(kept),
        )
