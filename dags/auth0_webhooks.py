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

from pathlib import Path

# Named so that the dag-processor imports the HTTP provider (aiohttp, requests: most of this file's
# import time) once, before every parse, instead of in each parse: [dag_processor]
# parsing_pre_import_modules only looks at the DAG file's own ``airflow.`` imports.
import airflow.providers.http.operators.http  # noqa: F401

from auth0_provider.dag_factory import delivery_dag
from auth0_provider.names import LEGACY
from auth0_provider.settings import Settings
from auth0_provider.streams import uses_streams

# With a streams file (auth0_streams.yaml here, or AUTH0_WEBHOOKS_STREAMS_FILE) the streams replace this DAG:
# each has a DAG file of its own, auth0_webhooks__<name>.py (auth0_provider.streams), and this file builds none.
# A file named in AUTH0_WEBHOOKS_STREAMS_FILE that does not exist fails this import: no DAG runs on a guess.
if not uses_streams(Path(__file__).parent):
    delivery_dag(
        LEGACY,
        Settings.from_env(),
        description="Deliver Auth0 tenant log events to a webhook",
        doc_md=__doc__,
    )
