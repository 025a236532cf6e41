"""Every name the provider shares with Airflow: connections, Variables, XCom keys, task ids, the stream asset.

Named once here and imported everywhere, tests included, so that a rename cannot leave a reader
looking under the old name.
"""

from __future__ import annotations

from dataclasses import dataclass

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
READ_TASK = "read_logs"  # a stream's: reads the tenant in its read pool for fetch_logs (dag_factory)
DELIVER_TASK = "deliver"
COMMIT_TASK = "commit_watermark"
PREFETCH_TASK = "prefetch_next"
DRAIN_TASK = "drain_backlog"
READERS = (READ_TASK, FETCH_TASK, PREFETCH_TASK)  # the tasks that may read Auth0, pushing their usage

# run conf and DAG params
REDELIVER_PARAM = "redeliver"  # "all" or [log id, ...]: send dead letters again
REPLAY_FROM_PARAM = "replay_from"  # ISO time: replay the events dated from then (window.ReplayWindow)
REPLAY_TO_PARAM = "replay_to"  # ISO time: ... up to then, excluded
REPLAY_AFTER_PARAM = "replay_after"  # log id: a replay's follow-up run goes on after it

# XCom keys (besides Airflow's return_value: the fetch's records.DeliveryRef list, the prefetch's
# records.ReadAhead, a stream reader's records.LogsRead, the commit's records.CommitRecord)
CHECKPOINT_XCOM_KEY = "checkpoint"
DELIVERY_PAGE_PREFIX = "deliveries/"  # + page number: the fetch's records.Delivery list, a page each
EVENT_PAGE_PREFIX = "events/"  # + page number: the events a prefetch or a stream's reader read, their exact text
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
LAST_COMMIT_KEY = "last-commit"  # records.CommitRecord: the latest live commit, for the alerts
COMMIT_WATCH_KEY = "commit-watch"  # records.CommitWatch: since when the alerts have seen that commit


def read_ahead_variable(watermark_variable: str) -> str:
    return watermark_variable + READ_AHEAD_SUFFIX


def token_cache_variable(auth0_conn_id: str) -> str:
    return TOKEN_CACHE_PREFIX + auth0_conn_id


# -- several streams (auth0_provider.streams): each its own DAG, watermark, receipts and alerts --

STREAM_DAG_PREFIX = DAG_ID + "__"  # + stream name: the DAG of one stream declared in the streams file
STREAM_TAG_PREFIX = "auth0-stream:"  # + stream name: the tag each stream's DAG carries
READ_POOL_PREFIX = "auth0_reads__"  # + the Auth0 connection id: a 1-slot pool, one read of the tenant at a time
STREAMS_FILE_SETTING = "AUTH0_WEBHOOKS_STREAMS_FILE"  # where the streams are declared (auth0_provider.streams)


@dataclass(frozen=True)
class StreamNames:
    """Every name one stream shares with Airflow, derived from its name alone.

    ``LEGACY`` is the single DAG configured from the environment: its names are the ones above, kept as
    they were so that nothing is migrated. A stream from the streams file named ``crm`` gets the DAG
    ``auth0_webhooks__crm``, the watermark Variable ``auth0_webhooks__crm_watermark``, the asset
    ``auth0_webhooks__crm`` (its receipts, attempt and dead letters) and the alerts DAG
    ``auth0_webhooks_alerts__crm``.
    """

    name: str | None  # None: the single DAG
    dag_id: str
    watermark_variable: str
    alerts_dag_id: str
    auth0_conn_id: str = AUTH0_CONN_ID
    webhook_conn_id: str = WEBHOOK_CONN_ID

    @classmethod
    def for_stream(
        cls, name: str, auth0_conn_id: str = AUTH0_CONN_ID, webhook_conn_id: str = WEBHOOK_CONN_ID
    ) -> StreamNames:
        dag_id = STREAM_DAG_PREFIX + name
        return cls(name, dag_id, f"{dag_id}_watermark", f"{ALERTS_DAG_ID}__{name}", auth0_conn_id, webhook_conn_id)

    @classmethod
    def of_dag(cls, dag_id: str) -> StreamNames | None:
        """The names of the stream whose DAG this is (its connections left at their defaults), or None."""
        if dag_id == DAG_ID:
            return LEGACY
        if dag_id.startswith(STREAM_DAG_PREFIX) and dag_id != STREAM_DAG_PREFIX:
            return cls.for_stream(dag_id[len(STREAM_DAG_PREFIX) :])
        return None

    @property
    def stream(self) -> Asset:
        """The stream asset: its events are the receipts, its state store the stream's records."""
        return STREAM if self.name is None else Asset(name=self.dag_id)

    @property
    def read_pool(self) -> str:
        return read_pool(self.auth0_conn_id)

    def setting(self, key: str) -> str:
        """How a message names one of the stream's settings (``START_FROM``): the environment variable of the
        single DAG, or the stream's key in the streams file."""
        return f"AUTH0_WEBHOOKS_{key}" if self.name is None else f"streams.{self.name}.{key.lower()} (streams file)"

    @classmethod
    def of_watermark(cls, variable: str) -> StreamNames:
        """The stream whose watermark Variable this is; the single DAG's for any other name."""
        suffix = "_watermark"
        if variable.startswith(STREAM_DAG_PREFIX) and variable.endswith(suffix):
            return cls.for_stream(variable[len(STREAM_DAG_PREFIX) : -len(suffix)])
        return LEGACY

    @property
    def label(self) -> str:
        """How messages name the stream: ``stream 'crm'``, or the single DAG's id."""
        return DAG_ID if self.name is None else f"stream {self.name!r}"


LEGACY = StreamNames(None, DAG_ID, WATERMARK_VARIABLE, ALERTS_DAG_ID)


def read_pool(auth0_conn_id: str) -> str:
    return READ_POOL_PREFIX + auth0_conn_id


def is_read_pool(pool: str | None) -> bool:
    """Whether a task reads Auth0 in a pool that other streams' readers share."""
    return bool(pool) and pool.startswith(READ_POOL_PREFIX)


def stream_of(dag_id: str) -> StreamNames:
    """The stream whose DAG this is; the single DAG's for any other DAG."""
    return StreamNames.of_dag(dag_id) or LEGACY
