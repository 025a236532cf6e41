"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point.

The connection form is described here rather than by the hook: Airflow 3 builds the UI form from
this metadata without importing the hook.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-auth0-webhooks",
        "name": "Auth0 Webhooks",
        "description": "Delivers Auth0 tenant log events (Management API calls, logins) to a webhook.",
        "versions": ["0.1.0"],
        "connection-types": [
            {
                "connection-type": "auth0",
                "hook-class-name": "auth0_provider.hooks.auth0.Auth0Hook",
                "hook-name": "Auth0",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Domain", "login": "Client ID", "password": "Client Secret"},
                    "placeholders": {
                        "host": "my-tenant.eu.auth0.com",
                        "login": "client id of a machine-to-machine app with the read:logs scope",
                    },
                },
                "conn-fields": {
                    "audience": {
                        "label": "Audience",
                        "description": "Only for a custom domain: https://<tenant>.auth0.com/api/v2/",
                        "schema": {"type": ["string", "null"]},
                    }
                },
            },
            {
                "connection-type": "auth0_webhook",
                "hook-class-name": "auth0_provider.hooks.webhook.WebhookHook",
                "hook-name": "Auth0 webhook receiver",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "schema", "port"],
                    "relabeling": {"host": "Webhook URL", "password": "Signing secrets"},
                    "placeholders": {
                        "host": "https://hooks.example.com/auth0",
                        "password": "whsec_... (space separated to rotate; empty sends unsigned)",
                        "extra": '{"Authorization": "Bearer ...", "timeout": [10, 30]}',
                    },
                },
            },
        ],
    }
