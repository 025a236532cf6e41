"""Auth0WatermarkCommitOperator: move the watermark once a run's deliveries have all succeeded."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from auth0_provider.watermark import DEFAULT_VARIABLE, Watermark, WatermarkStore, plan_commit


class Auth0WatermarkCommitOperator(BaseOperator):
    """Commit the run's checkpoint, unless another run has committed since this one started.

    Wire it downstream of every delivery with ``trigger_rule="none_failed"`` (an empty map skips
    the deliveries; the watermark must still advance) and ``max_active_tis_per_dag=1`` so that two
    commits never interleave their read and write.

    :param checkpoint: ``{"start": watermark | None, "end": watermark | None}`` from the fetch task;
        a replay's checkpoint also names its ``window``, and then nothing is committed.
    """

    template_fields = ("checkpoint",)
    ui_color = "#16214d"
    ui_fgcolor = "#ffffff"

    def __init__(self, *, checkpoint: Any, watermark_variable: str = DEFAULT_VARIABLE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.watermark_variable = watermark_variable

    def execute(self, context: Any) -> bool:
        if "window" in self.checkpoint:
            window = self.checkpoint["window"]
            self.log.info(
                "A replay of [%s, %s): the watermark is not touched", window["replay_from"], window["replay_to"]
            )
            return False
        start = Watermark.from_json(self.checkpoint["start"])
        end = Watermark.from_json(self.checkpoint["end"])
        store = WatermarkStore(self.watermark_variable)
        write, reason = plan_commit(start, end, store.read())
        if write:
            store.write(end)
        self.log.info("%s", reason)
        return write
