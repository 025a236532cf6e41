"""Alerts for the Auth0 webhook stream, every 5 minutes, when AUTH0_WEBHOOKS_ALERT_CONN_ID is set.

check_stream tells a person, through that connection (SMTP, or a Slack incoming webhook), when the
stream has been blocked longer than AUTH0_WEBHOOKS_ALERT_AFTER, events were parked, a retention gap
was found, or Auth0 refused our credentials: one alert when an incident opens, one when it clears.
A DAG of its own, unpaused from the start, so that a delivery run stuck in its retries cannot hold
the alert back. Settings: README.md.
"""

from __future__ import annotations

from pathlib import Path

from auth0_provider.dag_factory import alerts_dag
from auth0_provider.names import LEGACY
from auth0_provider.settings import Settings
from auth0_provider.streams import uses_streams

# The Airflow DAG; with a streams file each stream has its alerts DAG instead (auth0_provider.dag_factory), and
# a file named in AUTH0_WEBHOOKS_STREAMS_FILE that does not exist fails this import, as the delivery DAG's.
if not uses_streams(Path(__file__).parent):
    alerts_dag(
        LEGACY,
        Settings.from_env(),
        description="Alert a person when the Auth0 webhook stream needs one",
        doc_md=__doc__,
    )
