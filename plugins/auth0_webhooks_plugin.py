"""Loads the HTTP provider and this provider's operators once per Airflow process, not once per task.

Every delivery is an HttpOperator task, and a task process that imports the HTTP provider (requests,
aiohttp, tenacity) and our operators itself spends a quarter of a second doing so: at BATCH_SIZE=1
that is the largest cost we add per task instance. Airflow imports plugins in the scheduler, the
dag-processor, the triggerer and the API server. LocalExecutor's workers are forked from the scheduler
after it has loaded its plugins, and each task process is forked from a worker, so they inherit these
modules already imported. Celery workers load no plugins: there each task imports them as before.

Like any plugin, code changed under plugins/ takes effect when the Airflow processes restart.
"""

from __future__ import annotations

import importlib

from airflow.plugins_manager import AirflowPlugin

PRELOADED_MODULES = (
    "airflow.providers.http.operators.http",
    "auth0_provider.operators.audit_log",
    "auth0_provider.operators.drain",
    "auth0_provider.operators.prefetch",
    "auth0_provider.operators.watermark",
    "auth0_provider.operators.webhook",
)

for _module in PRELOADED_MODULES:
    importlib.import_module(_module)


class Auth0WebhooksPlugin(AirflowPlugin):
    name = "auth0_webhooks"
