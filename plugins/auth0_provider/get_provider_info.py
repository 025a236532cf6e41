"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-auth0-webhooks",
        "name": "Auth0 Webhooks",
        "description": "Delivers Auth0 tenant log events (Management API calls, logins) to a webhook.",
        "versions": ["0.1.0"],
        "connection-types": [
            {"connection-type": "auth0", "hook-class-name": "auth0_provider.hooks.auth0.Auth0Hook"},
        ],
    }
