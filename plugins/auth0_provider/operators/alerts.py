"""Auth0StreamAlertOperator: tell a person when the stream needs them, once per incident and once when it clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from auth0_provider import notify
from auth0_provider.health import Signals, announced, incidents, plan_alerts, watch
from auth0_provider.ledger import StreamLedger
from auth0_provider.names import ALERTS_DAG_ID, DAG_ID, STREAM, stream_of
from auth0_provider.records import OpenIncidents

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context


class Auth0StreamAlertOperator(BaseOperator):
    """Send an alert through ``alert_conn_id`` when an incident opens, and one when it clears.

    The incidents (``health.incidents``): no run has committed for longer than ``alert_after``, whichever
    task stopped it, a task that never starts included (``health.watch``); events were parked in the
    dead-letter store; a retention gap was found; Auth0 refused our credentials. They are read from the
    stream's state store, where the fetch and the commit keep them, and whether the stream's DAG is
    paused, so this task needs nothing from the delivery DAG's runs and works while one of them is
    stuck in its retries. Which incidents were announced is kept there too (``alerts``): an incident
    that stays open sends nothing more. An alert that cannot be sent fails the task and is sent by the
    next run.

    :param alert_conn_id: an Airflow connection the notifier sends through (``notify``).
    :param alert_after: how long the stream may be blocked before a person is told.
    """

    ui_color = "#ffcc00"

    def __init__(
        self,
        *,
        alert_conn_id: str,
        alert_after: timedelta,
        stream: Asset = STREAM,
        stream_name: str = DAG_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alert_conn_id = alert_conn_id
        self.alert_after = alert_after
        self.stream = stream
        self.stream_name = stream_name

    def execute(self, context: Context) -> list[str]:
        ledger = StreamLedger(context, self.stream)
        now = datetime.now(UTC)
        troubles = [trouble for trouble in ledger.troubles() if trouble.open_at(now)]
        attempt, failure = ledger.attempt(), ledger.last_failure()
        current = (failure,) if failure is not None and attempt is not None and failure.at >= attempt.since else ()
        last = ledger.last_commit()
        previous = ledger.commit_watch()
        seen = watch(previous, last and last.at, self._stream_paused(context), now)
        if seen != previous:
            ledger.note_commit_watch(seen)
        signals = Signals(now, None, attempt, None, troubles, ledger.index(), current, uncommitted_since=seen.since)
        already = ledger.open_incidents().since
        plan = plan_alerts(self.stream_name, already, incidents(signals, self.alert_after))
        if not plan.send:
            self.log.info("Nothing to tell: %s", ", ".join(sorted(already)) or "no incident open")
            return []
        sent, failed = [], []
        setting = stream_of(self._stream_dag_id).setting("ALERT_CONN_ID")
        for alert in plan.send:
            try:
                notify.send(self.alert_conn_id, alert.subject, alert.text, setting)
            except Exception as exc:  # the others still go out; this one goes with the next run
                self.log.error("Could not send the alert %r: %s", alert.subject, exc)
                failed.append(exc)
                continue
            self.log.warning("Alert sent: %s", alert.subject)
            sent.append(alert)
        ledger.note_open_incidents(OpenIncidents(announced(already, plan, sent)))
        if failed:
            raise failed[0]
        return [alert.subject for alert in plan.send]

    def _stream_paused(self, context: Context) -> bool:
        """Whether the stream's DAG is paused (nothing is due, so nothing is blocked); unknown counts as not."""
        try:
            return bool(context["ti"].get_dag(self._stream_dag_id).is_paused)
        except Exception:
            self.log.warning("Could not tell whether %s is paused", self._stream_dag_id, exc_info=True)
            return False

    @property
    def _stream_dag_id(self) -> str:
        return self.dag_id.replace(ALERTS_DAG_ID, DAG_ID, 1)
