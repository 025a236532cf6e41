"""The delivery DAG and its alerts DAG, built for one stream: the single DAG's or one from the streams file.

``dags/auth0_webhooks.py`` builds the single DAG from the environment; each ``auth0_webhooks__<name>.py``
calls ``stream_dag(__file__)``, which builds the stream of that name from the streams file
(``auth0_provider.streams``). The tasks are the same; a stream's DAG differs in its names (``StreamNames``),
its tags and description, and in reading Auth0 in the tenant's read pool: one slot per Auth0 connection,
so that the streams of a tenant read it one at a time and together stay under its rate limit. There a
``read_logs`` task reads for ``fetch_logs``, so that the slot is held only while Auth0 is read, not while
the events are filtered and planned, nor by a run that takes the logs read ahead for it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, CronTriggerTimetable, Param, TriggerRule

from auth0_provider.names import (
    ALERTS_TASK,
    CHECKPOINT_XCOM_KEY,
    COMMIT_TASK,
    DELIVER_TASK,
    DRAIN_TASK,
    FETCH_TASK,
    LEGACY,
    PREFETCH_TASK,
    READ_TASK,
    REDELIVER_PARAM,
    REPLAY_FROM_PARAM,
    REPLAY_TO_PARAM,
    STREAM_TAG_PREFIX,
    StreamNames,
)
from auth0_provider.operators.audit_log import Auth0AuditLogOperator, Auth0ReadLogsOperator
from auth0_provider.operators.drain import Auth0DrainBacklogOperator
from auth0_provider.operators.prefetch import Auth0PrefetchOperator
from auth0_provider.operators.watermark import Auth0WatermarkCommitOperator
from auth0_provider.operators.webhook import DELIVERY_TRY_TIMEOUT, WebhookDeliveryOperator
from auth0_provider.settings import Settings
from auth0_provider.streams import load_stream, stream_name_of, streams_file

START = pendulum.datetime(2026, 1, 1, tz="UTC")
EVERY_5_MINUTES = "*/5 * * * *"
TAGS = ["auth0", "webhooks"]
DEFAULT_ARGS = {"owner": "auth0-webhooks"}


def stream_tags(names: StreamNames) -> list[str]:
    return TAGS if names.name is None else [*TAGS, STREAM_TAG_PREFIX + names.name]


def _dag(dag_id: str, names: StreamNames, description: str, doc_md: str | None, schedule: Any, **more: Any) -> DAG:
    """What both DAGs of a stream share: every 5 minutes from START, one run at a time, no catchup."""
    return DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=dict(DEFAULT_ARGS),
        tags=stream_tags(names),
        doc_md=doc_md,
        **more,
    )


def delivery_dag(names: StreamNames, settings: Settings, *, description: str, doc_md: str | None) -> DAG:
    """fetch_logs -> deliver (mapped) -> commit_watermark -> drain_backlog, and prefetch_next beside them;
    a stream's DAG reads Auth0 in read_logs, before fetch_logs."""
    # the single DAG's tasks keep their arguments as they were (tests/dags/golden); a stream's pass its names
    per_stream = (
        {}
        if names == LEGACY
        else {"auth0_conn_id": names.auth0_conn_id, "watermark_variable": names.watermark_variable}
    )
    reads = {} if names == LEGACY else {"pool": names.read_pool}
    stream = {} if names == LEGACY else {"stream": names.stream}
    reading = {  # how fetch_logs and read_logs read: the same logs, from the same start, under the same budget
        "start_from": settings.start_from,
        "batch_size": settings.batch_size,
        "max_events": settings.max_events_per_run,
        "max_bytes": settings.max_bytes_per_run,
        "on_gap": settings.on_gap,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        **per_stream,
        **stream,
    }
    with _dag(
        names.dag_id,
        names,
        description,
        doc_md,
        CronDataIntervalTimetable(EVERY_5_MINUTES, timezone="UTC"),
        # no dagrun_timeout: a run is bounded by its tasks' own bounds (README, "How long a run can take"),
        # and a timeout would cut off a run that still makes progress, every time
        params={
            **{
                name: Param(None, type=["null", "string"], format="date-time", description=text)
                for name, text in (
                    (
                        REPLAY_FROM_PARAM,
                        "Replay: re-send the events dated from this time (leave empty for a normal run)",
                    ),
                    (REPLAY_TO_PARAM, "Replay: ... up to this time, excluded. The watermark is not touched."),
                )
            },
            REDELIVER_PARAM: Param(
                None,
                type=["null", "string", "array"],
                description='Redeliver dead letters: "all", or a list of log ids. The watermark is not touched.',
            ),
        },
    ) as dag:
        fetch = Auth0AuditLogOperator(
            task_id=FETCH_TASK,
            log_types=settings.log_types,
            api_endpoints=settings.api_endpoints,
            payload_format=settings.payload,
            **reading,
            **({} if names == LEGACY else {"read_by": READ_TASK}),
        )
        if names != LEGACY:
            Auth0ReadLogsOperator(task_id=READ_TASK, log_types=settings.log_types, **reading, **reads) >> fetch

        deliver = WebhookDeliveryOperator.partial(
            task_id=DELIVER_TASK,
            http_conn_id=names.webhook_conn_id,
            max_active_tis_per_dag=settings.concurrent_calls,
            retries=settings.delivery_retries,
            retry_delay=timedelta(seconds=30),
            retry_exponential_backoff=2.0,
            max_retry_delay=timedelta(minutes=10),
            execution_timeout=DELIVERY_TRY_TIMEOUT,
            dead_letter_after=settings.dead_letter_after,
            dead_letter_max=settings.dead_letter_max,
            # each success is an event of the stream asset, the delivery's receipt (WebhookDeliveryOperator)
            map_index_template="{{ task.delivery_label }}",
            **stream,
        ).expand_kwargs(fetch.output)

        commit = Auth0WatermarkCommitOperator(
            task_id=COMMIT_TASK,
            checkpoint=fetch.output[CHECKPOINT_XCOM_KEY],
            trigger_rule=TriggerRule.NONE_FAILED,
            max_active_tis_per_dag=1,
            dead_letter_max=settings.dead_letter_max,
            **({} if names == LEGACY else {"watermark_variable": names.watermark_variable}),
            **stream,
        )

        Auth0PrefetchOperator(
            task_id=PREFETCH_TASK,
            checkpoint=fetch.output[CHECKPOINT_XCOM_KEY],
            batch_size=settings.batch_size,
            max_events=settings.max_events_per_run,
            max_bytes=settings.max_bytes_per_run,
            **per_stream,
            **reads,
        )

        drain = Auth0DrainBacklogOperator(
            task_id=DRAIN_TASK,
            checkpoint=fetch.output[CHECKPOINT_XCOM_KEY],
        )

        deliver >> commit >> drain
    return dag


def alerts_dag(names: StreamNames, settings: Settings, *, description: str, doc_md: str | None) -> DAG | None:
    """check_stream every 5 minutes, when the stream has an alert connection; else no DAG."""
    if settings.alert_conn_id is None:
        return None
    # here, not at the top: the delivery DAG's file, parsed for every task, does not need it
    from auth0_provider.operators.alerts import Auth0StreamAlertOperator

    with _dag(
        names.alerts_dag_id,
        names,
        description,
        doc_md,
        CronTriggerTimetable(EVERY_5_MINUTES, timezone="UTC"),
        is_paused_upon_creation=False,  # an alert that waits for someone to unpause it is no alert
        dagrun_timeout=timedelta(minutes=4),
    ) as dag:
        Auth0StreamAlertOperator(
            task_id=ALERTS_TASK,
            alert_conn_id=settings.alert_conn_id,
            alert_after=settings.alert_after,
            execution_timeout=timedelta(minutes=2),
            **({} if names == LEGACY else {"stream": names.stream, "stream_name": names.label}),
        )
    return dag


def stream_dag(dag_file: str) -> tuple[DAG, DAG | None]:
    """The DAGs of the stream a DAG file is named after, ``auth0_webhooks__<name>.py``: the delivery DAG and,
    when the stream has ``alert_conn_id``, its alerts DAG. Any problem with the stream's entry, or with the
    file as a whole, is raised here: an import error of this file alone."""
    folder = Path(dag_file).resolve().parent
    stream = load_stream(streams_file(folder), stream_name_of(dag_file))
    doc = (
        f"Auth0 stream **{stream.name}**, declared in the streams file: {stream.description}. "
        "The tasks, replay, redelivery and backfill work as in the single DAG (README, 'Several streams')."
    )
    return (
        delivery_dag(stream.names, stream.settings, description=stream.description, doc_md=doc),
        alerts_dag(
            stream.names,
            stream.settings,
            description=f"Alert a person when Auth0 stream {stream.name!r} needs one",
            doc_md=doc,
        ),
    )
