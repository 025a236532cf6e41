"""The provider's Airflow plugin: the status page, and the modules every task needs, loaded once per process.

**The status page.** A FastAPI app (``auth0_provider.status_page``) that the API server mounts at
``STATUS_URL_PREFIX``, with an entry in the UI's navigation (Browse > Auth0 webhooks) that shows it
inside the UI. It is built on its first request (``LazyApp``): its imports cost seconds, which only
the API server pays, and only once.

**Preloading.** Every delivery is an HttpOperator task, and a task process that imports the HTTP
provider (requests, aiohttp, tenacity) and our operators itself spends a quarter of a second doing so:
at BATCH_SIZE=1 that is the largest cost we add per task instance. Airflow imports plugins in the
scheduler, the dag-processor, the triggerer and the API server. LocalExecutor's workers are forked
from the scheduler after it has loaded its plugins, and each task process is forked from a worker, so
they inherit these modules already imported. Celery workers load no plugins: there each task imports
them as before.

Like any plugin, code changed under plugins/ takes effect when the Airflow processes restart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from auth0_provider.names import STATUS_URL_PREFIX

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


class LazyApp:
    """An ASGI app that builds the real one on its first request: only the API server ever serves one."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = self.factory()
        await self._app(scope, receive, send)


def _status_app() -> Any:
    from auth0_provider.status_page import create_app

    return create_app()


class Auth0WebhooksPlugin(AirflowPlugin):
    name = "auth0_webhooks"
    fastapi_apps = [{"app": LazyApp(_status_app), "url_prefix": STATUS_URL_PREFIX, "name": "Auth0 webhook stream"}]
    external_views = [
        {
            "name": "Auth0 webhooks",
            "href": f"{STATUS_URL_PREFIX}/",
            "url_route": "auth0-webhooks",
            "destination": "nav",
            "category": "browse",
        }
    ]
