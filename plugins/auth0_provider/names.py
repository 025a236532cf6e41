"""Every name the provider shares with Airflow: connections, Variables, XCom keys, task ids, the stream asset.

Named once here and imported everywhere, tests included, so that a rename cannot leave a reader
looking under the old name.
"""

from __future__ import annotations

from airflow.sdk import Asset

DAG_ID = "auth0_webhooks"

# connections
AUTH0_CONN_ID = "auth0_default"
WEBHOOK_CONN_ID = "auth0_webhook"

# Variables
WATERMARK_VARIABLE = "auth0_webhooks_watermark"
READ_AHEAD_SUFFIX = "_read_ahead"  # <watermark variable>_read_ahead: which run read logs ahead
TOKEN_CACHE_PREFIX = "auth0_access_token__"  # + the Auth0 connection id

# task ids
FETCH_TASK = "fetch_logs"
DELIVER_TASK = "deliver"
COMMIT_TASK = "commit_watermark"
PREFETCH_TASK = "prefetch_next"
DRAIN_TASK = "drain_backlog"

# run conf and DAG params
REDELIVER_PARAM = "redeliver"  # "all" or [log id, ...]: send dead letters again

# XCom keys (besides Airflow's return_value: the fetch's records.DeliveryRef list, the prefetch's
# records.ReadAhead, the commit's records.CommitRecord)
CHECKPOINT_XCOM_KEY = "checkpoint"
DELIVERY_PAGE_PREFIX = "deliveries/"  # + page number: the fetch's records.Delivery list, a page each
EVENT_PAGE_PREFIX = "events/"  # + page number: the prefetch's events read ahead, their exact text
USAGE_XCOM_KEY = "auth0_usage"  # records.Auth0Usage, from each task that read from Auth0
FAILURE_XCOM_KEY = "failure"  # records.Failure, from a delivery whose try failed

# the alerts: a DAG of their own, so that a run stuck in retries cannot hold them back
ALERTS_DAG_ID = "auth0_webhooks_alerts"
ALERTS_TASK = "check_stream"

# the status page, served by the API server (a plugin's FastAPI app; "/auth..." prefixes are Airflow's)
STATUS_URL_PREFIX = "/webhook-stream"

# The stream: tenant logs -> webhook. Each delivery the webhook accepted is an event of this asset,
# its receipt (records.Receipt); its state store keeps the attempt, the rejections and the dead letters.
STREAM = Asset(name=DAG_ID)
DEAD_LETTER_PREFIX = "dead/"  # + log id: records.DeadLetter, an event parked or skipped by hand
DEAD_LETTER_INDEX = "dead-letters"  # the log ids in the dead-letter store, in the order they came
REJECTED_PREFIX = "rejected/"  # + delivery key: records.Rejection, a delivery the receiver keeps refusing
ATTEMPT_KEY = "attempt"  # records.Attempt: since when runs start from the current watermark
READING_KEY = "reading"  # records.Reading: the newest log Auth0 had when a live run last read
LAST_FAILURE_KEY = "last-failure"  # records.Failure: the latest failed delivery try, for the alerts
TROUBLE_PREFIX = "trouble/"  # + records.AUTH0_REFUSED or RETENTION_GAP: records.Trouble
OPEN_INCIDENTS_KEY = "alerts"  # records.OpenIncidents: what the alerts have told a person is open


def read_ahead_variable(watermark_variable: str) -> str:
    return watermark_variable + READ_AHEAD_SUFFIX


def token_cache_variable(auth0_conn_id: str) -> str:
    return TOKEN_CACHE_PREFIX + auth0_conn_id
