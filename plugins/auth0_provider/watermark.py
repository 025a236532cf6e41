"""The watermark: the last Auth0 log id the DAG has read and delivered everything up to.

It lives in an Airflow Variable as JSON, ``{"log_id": ..., "date": ...}``. Variables have no
compare-and-set, so the commit operator runs one instance at a time (``max_active_tis_per_dag=1``)
and only writes when the stored value is still the one its run started from.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from auth0_provider.events import LogEvent, log_id_key
from auth0_provider.exceptions import WatermarkError
from auth0_provider.names import WATERMARK_VARIABLE, StreamNames, read_ahead_variable


@dataclass(frozen=True)
class Watermark:
    log_id: str
    date: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def at(cls, event: LogEvent) -> Watermark:
        """The watermark just past ``event``."""
        return cls(event.log_id, event.date)

    @classmethod
    def from_json(cls, value: Any) -> Watermark | None:
        if value is None:
            return None
        if isinstance(value, dict) and isinstance(value.get("log_id"), str) and value["log_id"]:
            date = value.get("date")
            return cls(value["log_id"], date if isinstance(date, str) else None)
        raise ValueError(f"not a watermark: {value!r}")

    def is_after(self, other: Watermark | None) -> bool:
        return other is None or log_id_key(self.log_id) > log_id_key(other.log_id)


def plan_commit(start: Watermark | None, end: Watermark | None, stored: Watermark | None) -> tuple[bool, str]:
    """May a run that started from ``start`` and read up to ``end`` write ``end`` now? And why.

    Only if it read something new, and nobody committed since it started: a run retried from the
    UI hours later must not move the watermark back over what newer runs delivered.
    """
    since = start.log_id if start else "none"
    if end is None or not end.is_after(start):
        return False, f"Nothing new was read; the watermark stays at {since}"
    if stored != start:
        now = stored.log_id if stored else "none"
        return False, (
            f"Not committing: the watermark moved since this run started (run started from {since}, "
            f"stored is now {now}). Another run has committed; the stored watermark is left as it is."
        )
    return True, f"Watermark committed: {since} -> {end.log_id} ({end.date})"


class WatermarkStore:
    """Reads and guards the watermark Variable."""

    def __init__(self, variable: str = WATERMARK_VARIABLE) -> None:
        self.variable = variable

    def read(self) -> Watermark | None:
        from airflow.sdk import Variable

        self._refuse_env_shadow()
        raw = Variable.get(self.variable, default=None)
        if raw is None or raw.strip() == "":
            return None
        try:
            return Watermark.from_json(json.loads(raw))
        except ValueError:
            raise WatermarkError(
                f"Variable {self.variable!r} does not hold a watermark: {raw[:200]!r}. It must be JSON like "
                '{"log_id": "900...", "date": "2024-01-01T00:00:00.000Z"}. Fix it, or delete it to start '
                f"again from {StreamNames.of_watermark(self.variable).setting('START_FROM')}."
            ) from None

    def read_ahead(self) -> dict[str, Any] | None:
        """Which task of which run last read logs ahead, and from which log id (see Auth0PrefetchOperator)."""
        from airflow.sdk import Variable

        try:
            pointer = Variable.get(self.read_ahead_variable, default=None, deserialize_json=True)
        except ValueError:
            return None
        return pointer if isinstance(pointer, dict) else None

    def note_read_ahead(self, run_id: str, task_id: str, start: Watermark) -> None:
        from airflow.sdk import Variable

        pointer = {"run_id": run_id, "task_id": task_id, "start": start.log_id}
        Variable.set(self.read_ahead_variable, json.dumps(pointer), description="Auth0 webhooks: logs read ahead")

    @property
    def read_ahead_variable(self) -> str:
        return read_ahead_variable(self.variable)

    def write(self, watermark: Watermark) -> None:
        from airflow.sdk import Variable

        Variable.set(self.variable, json.dumps(watermark.to_json()), description="Auth0 webhooks watermark")
        if self.read() != watermark:
            raise WatermarkError(
                f"Variable {self.variable!r} was written but reads back differently: a secrets backend "
                "shadows it, so the watermark can never move. Remove it from the secrets backend."
            )

    def _refuse_env_shadow(self) -> None:
        env_name = f"AIRFLOW_VAR_{self.variable.upper()}"
        if env_name in os.environ:
            raise WatermarkError(
                f"The environment variable {env_name} shadows the watermark Variable {self.variable!r}: "
                "Airflow would read it instead of the database, so the watermark could never move. "
                f"Unset {env_name}; to start from a given log id use "
                f"{StreamNames.of_watermark(self.variable).setting('START_FROM')}."
            )
