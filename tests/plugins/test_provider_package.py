"""The provider deploys both ways: pip-installed (entry point) and from the plugins folder."""

from __future__ import annotations

import json
import subprocess
import sys

from auth0_webhooks_plugin import PRELOADED_MODULES
from tests.conftest import REPO


def test_entry_point_registers_both_connection_types():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-auth0-webhooks" in manager.providers
    info = manager.providers["airflow-provider-auth0-webhooks"].data["connection-types"][0]
    assert info["hook-class-name"] == "auth0_provider.hooks.auth0.Auth0Hook"
    behaviour = manager.field_behaviours["auth0"]
    assert behaviour["relabeling"] == {"host": "Domain", "login": "Client ID", "password": "Client Secret"}
    assert "extra__auth0__audience" in manager.connection_form_widgets
    webhook_type = manager.providers["airflow-provider-auth0-webhooks"].data["connection-types"][1]
    assert webhook_type["hook-class-name"] == "auth0_provider.hooks.webhook.WebhookHook"
    webhook = manager.field_behaviours["auth0_webhook"]
    assert "login" in webhook["hidden_fields"]  # the password signs; a login would suggest Basic auth
    assert webhook["relabeling"] == {"host": "Webhook URL", "password": "Signing secrets"}


def test_plugins_folder_scan_does_not_import_provider_modules_as_top_level_modules():
    """Airflow imports every .py under plugins/ by its bare file name; plugins/.airflowignore stops
    that for the provider package, or `settings`, `events`, ... would shadow other modules."""
    code = (
        "import sys\n"
        "from airflow import plugins_manager\n"
        "plugins_manager.ensure_plugins_loaded()\n"
        "print(sorted(m for m in ('settings', 'events', 'filters', 'auth0', 'webhook') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_plugins_folder_loads_the_preload_plugin_with_the_http_provider_and_our_operators_imported():
    """A LocalExecutor task process is forked from the scheduler after it loaded its plugins; what the
    plugin imported, the task does not import again (docs/benchmarks.md: the BATCH_SIZE=1 rate)."""
    modules = PRELOADED_MODULES
    code = (
        "import json, sys\n"
        "from airflow import plugins_manager\n"
        f"modules = {modules!r}\n"
        "before = [m for m in modules if m in sys.modules]\n"
        "plugins, errors = plugins_manager._get_plugins()\n"
        "print(json.dumps({'before': before, 'names': sorted(p.name for p in plugins), 'errors': errors,\n"
        "                  'after': [m for m in modules if m in sys.modules]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["before"] == []  # the check below would prove nothing if Airflow imported them anyway
    assert loaded["errors"] == {}
    assert "auth0_webhooks" in loaded["names"]
    assert loaded["after"] == list(modules)
