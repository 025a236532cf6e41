"""Alerts for the Auth0 webhook stream, every 5 minutes, when AUTH0_WEBHOOKS_ALERT_CONN_ID is set.

check_stream tells a person, through that connection (SMTP, or a Slack incoming webhook), when the
stream has been blocked longer than AUTH0_WEBHOOKS_ALERT_AFTER, events were parked, a retention gap
was found, or Auth0 refused our credentials: one alert when an incident opens, one when it clears.
A DAG of its own, unpaused from the start, so that a delivery run stuck in its retries cannot hold
the alert back. Settings: README.md.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable

from auth0_provider.names import ALERTS_DAG_ID, ALERTS_TASK
from auth0_provider.operators.alerts import Auth0StreamAlertOperator
from auth0_provider.settings import Settings

settings = Settings.from_env()

if settings.alert_conn_id is not None:
    with DAG(
        dag_id=ALERTS_DAG_ID,
        description="Alert a person when the Auth0 webhook stream needs one",
        schedule=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=False,  # an alert that waits for someone to unpause it is no alert
        dagrun_timeout=timedelta(minutes=4),
        default_args={"owner": "auth0-webhooks"},
        tags=["auth0", "webhooks"],
        doc_md=__doc__,
    ):
        Auth0StreamAlertOperator(
            task_id=ALERTS_TASK,
            alert_conn_id=settings.alert_conn_id,
            alert_after=settings.alert_after,
            execution_timeout=timedelta(minutes=2),
        )
