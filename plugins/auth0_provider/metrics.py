"""The provider's own metrics, sent through Airflow's metrics (``[metrics]`` in airflow.cfg).

Every name is defined once here. With ``[metrics] statsd_on = True`` they reach StatsD as
``<statsd_prefix>.<name>``, e.g. ``airflow.auth0_webhooks.events_delivered:3|c``; with OpenTelemetry
or Datadog configured instead, they go there, as Airflow's own metrics do. Nothing here has a
config of its own.

How it works in Airflow 3 (3.3.2 checked): the task runner (``airflow.sdk.execution_time.
task_runner.main``) sets up the Task SDK's stats module from ``[metrics]`` in every task process,
after the supervisor's fork, and the module drops its client on fork, so the UDP socket is made in
the task process itself. Task code must use the Task SDK's module, ``airflow.sdk.observability.stats``
(``airflow.stats`` is a deprecated shim to it; ``airflow.observability.stats`` is the scheduler's
copy, not set up for tasks). StatsD needs the ``statsd`` package (``apache-airflow[statsd]``): without
it Airflow logs "Could not configure StatsClient" once and every metric, its own too, is dropped.

The functions never raise: a metric that cannot be sent is lost, never a delivery. They cost a UDP
send at most. Airflow is imported on first use, not when the provider is imported.

Several streams (``auth0_provider.streams``): a task of a stream's DAG sends each metric twice, as
Airflow sends its own per-DAG metrics: under its name with the tag ``stream=<name>`` (for backends
with tags: OpenTelemetry, Datadog), and as ``<name>.<stream>`` (``auth0_webhooks.lag_seconds.crm``)
for plain StatsD. The single DAG's metrics are sent as they always were, once, without a tag.
"""

from __future__ import annotations

import logging
from types import ModuleType

PREFIX = "auth0_webhooks"

LAG_SECONDS = f"{PREFIX}.lag_seconds"  # gauge: how far behind the tenant's newest log the stream is, in s
EVENTS_DELIVERED = f"{PREFIX}.events_delivered"  # counter, by events: accepted by the webhook
DELIVERIES_FAILED = f"{PREFIX}.deliveries_failed"  # counter: a delivery the webhook did not accept
EVENTS_PARKED = f"{PREFIX}.events_parked"  # counter, by events: parked as dead letters
AUTH0_REQUESTS = f"{PREFIX}.auth0_requests"  # counter: HTTP requests to the Auth0 Management API
RATE_LIMIT_WAITS = f"{PREFIX}.rate_limit_waits"  # counter: waits for a rate limit (429, Retry-After)
RATE_LIMIT_WAIT_TIME = f"{PREFIX}.rate_limit_wait_time"  # timer, in ms (StatsD |ms): how long each wait was

NAMES = (
    LAG_SECONDS,
    EVENTS_DELIVERED,
    DELIVERIES_FAILED,
    EVENTS_PARKED,
    AUTH0_REQUESTS,
    RATE_LIMIT_WAITS,
    RATE_LIMIT_WAIT_TIME,
)

log = logging.getLogger(__name__)

_stats: ModuleType | None = None
_warned = False


def lag(seconds: float) -> None:
    """Gauge: seconds between the newest tenant log and what the stream has delivered."""
    _send("gauge", LAG_SECONDS, seconds)


def delivered(events: int) -> None:
    """Count ``events`` the webhook accepted."""
    if events:
        _send("incr", EVENTS_DELIVERED, events)


def delivery_failed() -> None:
    """Count one delivery the webhook did not accept (an error answer, a timeout, no connection)."""
    _send("incr", DELIVERIES_FAILED, 1)


def parked(events: int) -> None:
    """Count ``events`` parked as dead letters."""
    if events:
        _send("incr", EVENTS_PARKED, events)


def auth0_request() -> None:
    """Count one HTTP request to Auth0."""
    _send("incr", AUTH0_REQUESTS, 1)


def rate_limit_wait(seconds: float) -> None:
    """Count one wait for a rate limit, and time it (sent in milliseconds, as StatsD timers are)."""
    _send("incr", RATE_LIMIT_WAITS, 1)
    try:
        milliseconds = float(seconds) * 1000.0
    except (TypeError, ValueError):
        return
    _send("timing", RATE_LIMIT_WAIT_TIME, milliseconds)


def current_stream() -> str | None:
    """The name of the stream whose task is running here; None for the single DAG or outside a task."""
    try:
        from airflow.sdk import get_current_context

        from auth0_provider.names import StreamNames

        names = StreamNames.of_dag(get_current_context()["dag"].dag_id)
    except Exception:  # not in a task: no context
        return None
    return names.name if names is not None else None


def _send(kind: str, name: str, value: float) -> None:
    """``stats.incr|gauge|timing(name, value)``, and per stream (module doc); a failure is logged (a
    warning once), never raised."""
    global _stats, _warned
    try:
        if _stats is None:
            from airflow.sdk.observability import stats

            _stats = stats
        stream = current_stream()
        if stream is None:
            getattr(_stats, kind)(name, value)
        else:
            getattr(_stats, kind)(name, value, tags={"stream": stream})
            getattr(_stats, kind)(f"{name}.{stream}", value, tags={"stream": stream})
    except Exception as error:
        if _warned:
            log.debug("metric %s not sent: %r", name, error)
        else:
            _warned = True
            log.warning("metric %s not sent (further failures are logged at debug level): %r", name, error)
