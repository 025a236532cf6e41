"""A replay window: the events dated in ``[start, end)``, re-sent without touching the watermark.

A run replays a window when it is a backfill run (its data interval) or when it was triggered with
conf ``{"replay_from": ISO, "replay_to": ISO}``. A window too big for one run continues in a
follow-up run whose conf adds ``replay_after``: the last log id already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from auth0_provider.events import LogEvent, parse_date
from auth0_provider.exceptions import ReplayWindowError
from auth0_provider.names import REPLAY_AFTER_PARAM, REPLAY_FROM_PARAM, REPLAY_TO_PARAM

if TYPE_CHECKING:
    from airflow.sdk import Context

# Auth0 orders logs by log id, and dates may run a few seconds out of that order. Reading starts this
# much before the window and goes on this much after it, so no event dated inside is missed.
GRACE = timedelta(minutes=2)


@dataclass(frozen=True)
class ReplayWindow:
    start: datetime
    end: datetime
    after: str | None = None  # continue after this log id (a follow-up run of a window too big for one)

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ReplayWindowError(
                f"The replay window {self} is empty: replay_to must be after replay_from "
                "(a backfill run needs a data interval; the DAG's schedule gives 5 minutes)."
            )
        if self.after is not None and not isinstance(self.after, str):
            raise ReplayWindowError(f"Conf 'replay_after' must be an Auth0 log id, not {self.after!r}")

    def contains(self, event: LogEvent) -> bool:
        moment = event.moment
        return moment is not None and self.start <= moment < self.end

    def passed(self, event: LogEvent) -> bool:
        """Whether ``event`` is dated so far past the window that every later log id is too."""
        moment = event.moment
        return moment is not None and moment >= self.end + GRACE

    def may_predate_retention(self, first: LogEvent | None) -> bool:
        """Whether the window's first log comes late enough (or none comes) that retention may have cut it."""
        moment = first.moment if first is not None else None
        return moment is None or moment > self.start + GRACE

    def lost_to_retention(self, first: LogEvent | None, oldest: LogEvent | None) -> str:
        """``none``, ``part`` or ``all`` of the window, given its first log and the oldest log Auth0 keeps.

        A window whose start Auth0 still keeps lost nothing (the tenant was quiet). Otherwise, with no
        log in it at all everything is gone; when its first log is the oldest one kept, the part
        before it is.
        """
        kept_from = oldest.moment if oldest is not None else None
        if kept_from is None or kept_from <= self.start:
            return "none"
        if first is None:
            return "all"
        return "part" if oldest.log_id == first.log_id else "none"

    def to_conf(self, after: str | None = None) -> dict[str, str]:
        """The window as a run's conf; with ``after``, the conf of the run that replays the rest of it."""
        conf = {REPLAY_FROM_PARAM: _iso(self.start), REPLAY_TO_PARAM: _iso(self.end)}
        return conf if after is None else {**conf, REPLAY_AFTER_PARAM: after}

    @classmethod
    def from_conf(cls, conf: dict[str, Any]) -> ReplayWindow | None:
        """The window a run's conf asks for, or None when it names none (an empty UI form included)."""
        if conf.get(REPLAY_FROM_PARAM) is None and conf.get(REPLAY_TO_PARAM) is None:
            return None
        start, end = _conf_time(conf, REPLAY_FROM_PARAM), _conf_time(conf, REPLAY_TO_PARAM)
        return cls(start, end, conf.get(REPLAY_AFTER_PARAM))

    def __str__(self) -> str:
        return f"[{_iso(self.start)}, {_iso(self.end)})"

    @classmethod
    def of_run(cls, context: Context) -> ReplayWindow | None:
        """The window this run replays, or None for a run that goes on from the watermark."""
        dag_run = context["dag_run"]
        window = cls.from_conf(dict(dag_run.conf or {}))
        if window is None and dag_run.run_type == "backfill":
            window = cls(_plain_utc(context["data_interval_start"]), _plain_utc(context["data_interval_end"]))
        return window


def _conf_time(conf: dict[str, Any], key: str) -> datetime:
    value = conf.get(key)
    moment = parse_date(value)
    if moment is None:
        raise ReplayWindowError(
            f"Conf {key!r} is {value!r}. A replay needs both 'replay_from' and 'replay_to' as ISO 8601 "
            'times, for example {"replay_from": "2026-11-24T10:00:00Z", "replay_to": "2026-11-24T14:00:00Z"}.'
        )
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain_utc(moment: datetime) -> datetime:
    """A plain datetime in UTC: pendulum's (Airflow's context) loses its zone when a timedelta is added."""
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)
