"""Auth0 tenant logs -> webhook, every 5 minutes, at least once.

fetch_logs reads the logs written after the watermark (at most AUTH0_WEBHOOKS_MAX_EVENTS_PER_RUN
and AUTH0_WEBHOOKS_MAX_BYTES_PER_RUN a run) and keeps the wanted ones in XCom pages; deliver POSTs them
(one, or AUTH0_WEBHOOKS_BATCH_SIZE per request) to the `auth0_webhook` connection, at most
AUTH0_WEBHOOKS_CONCURRENT_CALLS at a time, and each 2xx leaves a receipt (an event of the asset
`auth0_webhooks`); a delivery the receiver refuses for AUTH0_WEBHOOKS_DEAD_LETTER_AFTER while others
succeed is parked in the dead-letter store instead. commit_watermark moves the watermark only when
every planned delivery has a receipt (delivered or parked) or was marked success by hand;
drain_backlog starts the next run at once if the run stopped at its cap, and prefetch_next reads that
run's logs meanwhile, in parallel with the deliveries. A backfill run, or a run triggered with
replay_from/replay_to, re-sends the events dated in its window, and one triggered with redeliver
("all" or a list of log ids) sends dead letters again; both leave the watermark alone. Settings:
README.md.
"""

from __future__ import annotations

from datetime import timedelta

# Named so that the dag-processor imports the HTTP provider (aiohttp, requests: most of this file's
# import time) once, before every parse, instead of in each parse: [dag_processor]
# parsing_pre_import_modules only looks at the DAG file's own ``airflow.`` imports.
import airflow.providers.http.operators.http  # noqa: F401
import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TriggerRule

from auth0_provider.names import (
    CHECKPOINT_XCOM_KEY,
    COMMIT_TASK,
    DAG_ID,
    DELIVER_TASK,
    DRAIN_TASK,
    FETCH_TASK,
    PREFETCH_TASK,
    REDELIVER_PARAM,
    WEBHOOK_CONN_ID,
)
from auth0_provider.operators.audit_log import Auth0AuditLogOperator
from auth0_provider.operators.drain import Auth0DrainBacklogOperator
from auth0_provider.operators.prefetch import Auth0PrefetchOperator
from auth0_provider.operators.watermark import Auth0WatermarkCommitOperator
from auth0_provider.operators.webhook import DELIVERY_TRY_TIMEOUT, WebhookDeliveryOperator
from auth0_provider.settings import Settings

settings = Settings.from_env()

with DAG(
    dag_id=DAG_ID,
    description="Deliver Auth0 tenant log events to a webhook",
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # no dagrun_timeout: a run is bounded by its tasks' own bounds (README, "How long a run can take"),
    # and a timeout would cut off a run that still makes progress, every time
    default_args={"owner": "auth0-webhooks"},
    tags=["auth0", "webhooks"],
    doc_md=__doc__,
    params={
        **{
            name: Param(None, type=["null", "string"], format="date-time", description=text)
            for name, text in (
                ("replay_from", "Replay: re-send the events dated from this time (leave empty for a normal run)"),
                ("replay_to", "Replay: ... up to this time, excluded. The watermark is not touched."),
            )
        },
        REDELIVER_PARAM: Param(
            None,
            type=["null", "string", "array"],
            description='Redeliver dead letters: "all", or a list of log ids. The watermark is not touched.',
        ),
    },
):
    fetch = Auth0AuditLogOperator(
        task_id=FETCH_TASK,
        log_types=settings.log_types,
        api_endpoints=settings.api_endpoints,
        start_from=settings.start_from,
        payload_format=settings.payload,
        batch_size=settings.batch_size,
        max_events=settings.max_events_per_run,
        max_bytes=settings.max_bytes_per_run,
        on_gap=settings.on_gap,
        retries=2,
        retry_delay=timedelta(seconds=30),
    )

    deliver = WebhookDeliveryOperator.partial(
        task_id=DELIVER_TASK,
        http_conn_id=WEBHOOK_CONN_ID,
        max_active_tis_per_dag=settings.concurrent_calls,
        retries=settings.delivery_retries,
        retry_delay=timedelta(seconds=30),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=10),
        execution_timeout=DELIVERY_TRY_TIMEOUT,
        dead_letter_after=settings.dead_letter_after,
        # each success is an event of the stream asset, the delivery's receipt (WebhookDeliveryOperator)
        map_index_template="{{ task.delivery_label }}",
    ).expand_kwargs(fetch.output)

    commit = Auth0WatermarkCommitOperator(
        task_id=COMMIT_TASK,
        checkpoint=fetch.output[CHECKPOINT_XCOM_KEY],
        trigger_rule=TriggerRule.NONE_FAILED,
        max_active_tis_per_dag=1,
        dead_letter_max=settings.dead_letter_max,
    )

    Auth0PrefetchOperator(
        task_id=PREFETCH_TASK,
        checkpoint=fetch.output[CHECKPOINT_XCOM_KEY],
        batch_size=settings.batch_size,
        max_events=settings.max_events_per_run,
        max_bytes=settings.max_bytes_per_run,
    )

    drain = Auth0DrainBacklogOperator(
        task_id=DRAIN_TASK,
        checkpoint=fetch.output[CHECKPOINT_XCOM_KEY],
    )

    deliver >> commit >> drain
