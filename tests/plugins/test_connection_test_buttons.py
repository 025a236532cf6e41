"""The UI's connection Test button, through a real api-server: ``POST /api/v2/connections/test``.

The api-server puts the form in an ``AIRFLOW_CONN_<random id>`` variable and calls the hook's
``test_connection()`` in its own process, with no task and no supervisor around it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import local_airflow
from auth0_provider.names import AUTH0_CONN_ID, TOKEN_CACHE_PREFIX
from tests.airflow_stack import create_connection

pytestmark = pytest.mark.scheduler  # starts a real api-server (as tests/test_browser_harness.py)

PATH_TOKEN = "T0ABC/B0DEF/xoxbPathToken8f7d6e5c"


@dataclass
class ApiServer:
    api: local_airflow.AirflowApi
    components_log: Path  # the conftest shows its tail with a failed test that used a "stack"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[ApiServer]:
    """Only an api-server, with connection testing enabled (Airflow disables it by default)."""
    home = tmp_path / "airflow-home"
    port = local_airflow.free_port()
    env = local_airflow.airflow_env(home, port, {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"})
    local_airflow.migrate(env)
    log_path = home / "components.log"
    with open(log_path, "w") as log:
        process = local_airflow.start(["api-server"], env, log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            local_airflow.wait_for(f"{base_url}/api/v2/monitor/health", 120, [process])
            yield ApiServer(local_airflow.AirflowApi(base_url, local_airflow.admin_password(home)), log_path)
        finally:
            local_airflow.stop([process])


def press_test(api: local_airflow.AirflowApi, connection_id: str, form: dict) -> dict:
    """What the form's Test button sends: the form as it stands, named by the connection id."""
    if isinstance(form.get("extra"), dict):
        form = form | {"extra": json.dumps(form["extra"])}
    return api.call("POST", "/connections/test", json={"connection_id": connection_id, **form})


def test_both_test_buttons_answer_through_the_api_server_without_sending_an_event_or_keeping_a_token(
    stack, standin, receiver
):
    api = stack.api
    auth0_form = json.loads(standin.connection_uri())
    answer = press_test(api, AUTH0_CONN_ID, auth0_form)
    assert answer == {"status": True, "message": f"Token granted and 0 log(s) read from {standin.base_url[7:]}"}

    refused = press_test(api, AUTH0_CONN_ID, auth0_form | {"password": "not-the-right-secret"})
    assert refused["status"] is False
    assert "(HTTP 401: access_denied Unauthorized): check the Client Secret" in refused["message"]
    assert "not-the-right-secret" not in refused["message"]

    # Editing a saved connection: the form does not carry the stored secret, the api-server adds it
    create_connection(api, AUTH0_CONN_ID, standin.connection_uri())
    stored = press_test(api, AUTH0_CONN_ID, {k: v for k, v in auth0_form.items() if k != "password"})
    assert stored["status"] is True, stored["message"]
    assert standin.tokens_issued == 2  # the wrong secret got none

    webhook_form = json.loads(receiver.connection_uri()) | {"host": f"{receiver.url}/{PATH_TOKEN}"}
    reached = press_test(api, "auth0_webhook", webhook_form)
    assert reached["status"] is True, reached["message"]
    assert reached["message"].startswith(f"Reached {receiver.base_url[7:]} over plain http.")
    assert receiver.requests == []

    variables = api.call("GET", "/variables")["variables"]
    assert [v["key"] for v in variables if v["key"].startswith(TOKEN_CACHE_PREFIX)] == []
