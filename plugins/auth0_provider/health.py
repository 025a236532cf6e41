"""How the stream is doing, from what the DAG keeps: the status page's state and the alerts' incidents.

Pure: the status page (in the API server, from the metadata DB) and the alert task (through the
Task SDK) each gather ``Signals`` their own way, and both judge them here, so that the page and the
alerts never disagree about whether the stream is blocked.

A stream is blocked when no run has committed for ``BLOCKED_AFTER``, whichever task stopped it:

- runs have been starting from the same watermark without a commit moving it: the fetch begins an
  attempt (``records.Attempt``) when it starts from a new watermark, and the commit ends it once every
  delivery is accounted for;
- or runs have been failing or waiting before the fetch ever began one: a stream's ``read_logs`` that
  fails (Auth0 down, endless 429s, a broken watermark Variable), or a task that never starts because
  its pool is missing. The status page finds the oldest live run since the last that succeeded
  (``uncommitted_since``); the alerts, which see no runs, remember when they first saw the last live
  commit (``records.CommitWatch``, ``watch``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from auth0_provider.names import REDELIVER_PARAM, REPLAY_FROM_PARAM, REPLAY_TO_PARAM
from auth0_provider.records import AUTH0_REFUSED, RETENTION_GAP, Attempt, CommitWatch, Failure, Reading, Trouble
from auth0_provider.watermark import Watermark

FLOWING, BEHIND, BLOCKED, FAILING, PAUSED = "flowing", "behind", "blocked", "failing", "paused"
BLOCKED_AFTER = timedelta(minutes=15)  # three 5-minute runs from one watermark, none committed
PARKED_EVENTS = "parked"  # an incident kind, besides BLOCKED and the troubles' own


@dataclass(frozen=True)
class Signals:
    """What the DAG keeps about the stream, read at ``now``."""

    now: datetime
    watermark: Watermark | None
    attempt: Attempt | None
    reading: Reading | None
    troubles: Sequence[Trouble] = ()
    dead_letters: Sequence[str] = ()  # log ids in the dead-letter store
    failures: Sequence[Failure] = ()  # delivery tries that failed, newest first
    paused: bool = False
    failed_run: str | None = None  # "run <id> failed at <task>", when the latest run failed
    committed_at: datetime | None = None  # the latest commit: failures before it are over
    uncommitted_since: datetime | None = None  # since when live runs have started and none has committed

    @property
    def lag(self) -> timedelta | None:
        return self.reading.lag_behind(self.watermark) if self.reading else None

    def stuck_since(self, longer_than: timedelta) -> datetime | None:
        """Since when runs have started without committing, once that is ``longer_than`` ago."""
        starts = [moment for moment in (self.attempt and self.attempt.since, self.uncommitted_since) if moment]
        since = min(starts, default=None)
        if since is None or self.now - since < longer_than:
            return None
        return since

    def stuck(self, since: datetime) -> str:
        """A sentence: what the runs have done since ``since`` without committing."""
        if self.attempt is None:
            return (
                f"No run has committed since {since:%Y-%m-%d %H:%M} UTC, and none began reading: a task before "
                "the fetch fails or never starts (read_logs failing, a missing pool)."
            )
        at = f"log {self.attempt.from_log_id}" if self.attempt.from_log_id else "the start"
        return f"Runs have started from {at} since {since:%Y-%m-%d %H:%M} UTC without committing."

    def why(self) -> str | None:
        """What stops or fails the stream, most telling first; None when nothing does."""
        if self.troubles:
            return self.troubles[0].message
        for failure in self.failures:
            if self.committed_at is not None and failure.at <= self.committed_at:
                break
            answer = f"the receiver answered {failure.status}" if failure.status else "no answer from the receiver"
            return f"Delivery {failure.label}: {answer}. {failure.reason}"
        return self.failed_run


@dataclass(frozen=True)
class RunSeen:
    """One run of the stream's DAG, as the status page reads it."""

    queued_at: datetime
    state: str
    live: bool  # a scheduled or triggered run that may move the watermark: not a backfill, replay or redelivery


def is_live(conf: Mapping[str, Any] | None, backfill: bool = False) -> bool:
    """Whether a run may move the watermark: not a backfill, and its conf names no replay and no redelivery."""
    conf = conf or {}
    return not backfill and not any(conf.get(key) for key in (REPLAY_FROM_PARAM, REPLAY_TO_PARAM, REDELIVER_PARAM))


def uncommitted_since(runs: Sequence[RunSeen]) -> datetime | None:
    """When the first of the live runs after the newest successful one was queued (``runs`` newest first, by
    when they are due): a run that fails, or waits for ever on a task that never starts, counts whichever
    task stopped it. The earliest queue time, not the last run's: a run triggered by hand may be queued
    before a scheduled run that is due earlier."""
    since = None
    for run in runs:
        if not run.live:
            continue
        if run.state == "success":
            break
        since = min(since or run.queued_at, run.queued_at)
    return since


def watch(previous: CommitWatch | None, committed_at: datetime | None, paused: bool, now: datetime) -> CommitWatch:
    """What an alert check remembers: the last live commit it saw, and since when it has seen that one.

    A new commit, or a paused DAG (nothing is due), starts the count again at ``now``.
    """
    if paused or previous is None or previous.committed_at != committed_at:
        return CommitWatch(committed_at, now)
    return previous


@dataclass(frozen=True)
class Status:
    state: str  # FLOWING, BEHIND, BLOCKED, FAILING or PAUSED
    reason: str
    since: datetime | None = None  # BLOCKED: since when runs start from the same watermark


def status(signals: Signals) -> Status:
    """The state the status page shows, with its reason."""
    if signals.paused:
        return Status(PAUSED, "The DAG is paused: no run starts, and nothing is read or delivered.")
    why = signals.why()
    since = signals.stuck_since(BLOCKED_AFTER)
    if since is not None:
        return Status(BLOCKED, why or signals.stuck(since), since)
    if why is not None:
        return Status(FAILING, why)
    if signals.reading is not None and signals.reading.backlog:
        return Status(BEHIND, "A backlog is draining: Auth0 had more logs than the last run read.")
    return Status(FLOWING, "Every run commits: the watermark follows Auth0's newest log.")


@dataclass(frozen=True)
class Incident:
    """Something a person must be told about, open since ``since``."""

    kind: str
    since: datetime
    text: str


def incidents(signals: Signals, alert_after: timedelta) -> dict[str, Incident]:
    """The incidents open now: blocked longer than ``alert_after``, events parked, and each trouble."""
    found: dict[str, Incident] = {}
    since = signals.stuck_since(alert_after)
    if since is not None:
        why = signals.why()
        text = f"The stream has been blocked since {since:%Y-%m-%d %H:%M} UTC. {signals.stuck(since)}"
        text += f" {why}" if why else ""
        found[BLOCKED] = Incident(BLOCKED, since, text)
    if signals.dead_letters:
        shown = ", ".join(signals.dead_letters[:10]) + (", ..." if len(signals.dead_letters) > 10 else "")
        text = (
            f"{len(signals.dead_letters)} event(s) parked in the dead-letter store, refused by the receiver: {shown}. "
            'Redeliver them from the status page, or trigger the DAG with conf {"redeliver": "all"}.'
        )
        found[PARKED_EVENTS] = Incident(PARKED_EVENTS, signals.now, text)
    for trouble in signals.troubles:
        found[trouble.kind] = Incident(trouble.kind, trouble.since, trouble.message)
    return found


TITLES = {
    BLOCKED: "stream blocked",
    PARKED_EVENTS: "events parked",
    AUTH0_REFUSED: "Auth0 refused our credentials",
    RETENTION_GAP: "retention gap",
}


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str
    text: str
    cleared: bool


@dataclass(frozen=True)
class AlertPlan:
    """What to send now, and the incidents open once it is sent."""

    send: list[Alert] = field(default_factory=list)
    open: dict[str, datetime] = field(default_factory=dict)


def plan_alerts(stream: str, already_open: Mapping[str, datetime], now_open: Mapping[str, Incident]) -> AlertPlan:
    """One alert when an incident opens and one when it clears; nothing while it stays open."""
    plan = AlertPlan(open=dict(already_open))
    for kind, incident in now_open.items():
        if kind not in already_open:
            subject = f"[{stream}] {TITLES.get(kind, kind)}"
            plan.send.append(Alert(kind, subject, incident.text, cleared=False))
            plan.open[kind] = incident.since
    for kind, since in already_open.items():
        if kind not in now_open:
            subject = f"[{stream}] cleared: {TITLES.get(kind, kind)}"
            text = f"Cleared: {TITLES.get(kind, kind)} (open since {since:%Y-%m-%d %H:%M} UTC) is over."
            plan.send.append(Alert(kind, subject, text, cleared=True))
            del plan.open[kind]
    return plan


def announced(already: Mapping[str, datetime], plan: AlertPlan, sent: Sequence[Alert]) -> dict[str, datetime]:
    """The incidents announced once ``sent`` (of ``plan.send``) went out: one whose alert did not go is
    left as it was, so the next check sends it again."""
    result = dict(already)
    for alert in sent:
        if alert.cleared:
            result.pop(alert.kind, None)
        else:
            result[alert.kind] = plan.open[alert.kind]
    return result
