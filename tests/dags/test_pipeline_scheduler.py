"""End to end under a real scheduler: concurrency and retrying a delivery the way the UI does.

Starts api-server, scheduler and dag-processor (LocalExecutor, SQLite) in a temporary home, with
the stand-in and a receiver on 127.0.0.1, and stops every process it started by id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import local_airflow
from auth0_standin import Auth0StandIn
from tests.support import api_event
from webhook_receiver import WebhookReceiver

DAG = "auth0_webhooks"
pytestmark = pytest.mark.scheduler


class Stack:
    def __init__(self, api: local_airflow.AirflowApi, standin: Auth0StandIn, receiver: WebhookReceiver) -> None:
        self.api, self.standin, self.receiver = api, standin, receiver

    def trigger(self) -> str:
        run = self.api.call("POST", f"/dags/{DAG}/dagRuns", json={"logical_date": datetime.now(UTC).isoformat()})
        return run["dag_run_id"]

    def wait(self, run_id: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"run {run_id} did not finish within {timeout} s")

    def task_instances(self, run_id: str) -> list[dict]:
        return self.api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def watermark(self) -> str | None:
        try:
            value = self.api.call("GET", "/variables/auth0_webhooks_watermark")["value"]
        except RuntimeError:
            return None
        return json.loads(value)["log_id"]

    def clear_like_the_ui(self, run_id: str, task_id: str, map_index: int) -> None:
        """What the UI's "Clear" on one failed mapped instance does, downstream included."""
        self.api.call(
            "POST",
            f"/dags/{DAG}/clearTaskInstances",
            json={
                "dag_run_id": run_id,
                "task_ids": [[task_id, map_index]],
                "only_failed": True,
                "include_downstream": True,
                "dry_run": False,
            },
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    port = local_airflow.free_port()
    with Auth0StandIn() as standin, WebhookReceiver() as receiver:
        env = local_airflow.airflow_env(
            home,
            port,
            {
                "AIRFLOW_CONN_AUTH0_DEFAULT": standin.connection_uri(),
                "AIRFLOW_CONN_AUTH0_WEBHOOK": receiver.connection_uri(),
                "AUTH0_WEBHOOKS_CONCURRENT_CALLS": "2",
                "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0",
            },
        )
        local_airflow.migrate(env)
        processes = []
        with open(home / "components.log", "w") as log:
            try:
                for args in (["api-server"], ["scheduler", "--skip-serve-logs"], ["dag-processor"]):
                    processes.append(local_airflow.start(args, env, log))
                base_url = f"http://127.0.0.1:{port}"
                local_airflow.wait_for(f"{base_url}/api/v2/monitor/health", 180, processes)
                api = local_airflow.AirflowApi(base_url, local_airflow.admin_password(home))
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        api.call("GET", f"/dags/{DAG}")
                        break
                    except RuntimeError:
                        time.sleep(2)
                else:
                    raise TimeoutError("the dag-processor never registered the DAG")
                yield Stack(api, standin, receiver)
            finally:
                local_airflow.stop(processes)


def test_concurrency_limit_holds(stack):
    """CONCURRENT_CALLS=2 with a slow receiver: never more than 2 in flight, and 2 at some point."""
    stack.receiver.delay = 2.0
    events = [stack.standin.add_event(api_event("post", f"/api/v2/users/auth0|{i}")) for i in range(6)]
    stack.api.call("PATCH", f"/dags/{DAG}", json={"is_paused": False})  # the scheduler starts a run
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and stack.watermark() != events[-1].log_id:
        time.sleep(2)
    stack.receiver.delay = 0.0
    assert sorted(stack.receiver.delivered_keys()) == sorted(e.log_id for e in events)
    assert stack.receiver.max_in_flight == 2
    assert stack.watermark() == events[-1].log_id


def test_a_failed_delivery_is_retried_from_the_ui_then_commits(stack):
    start = stack.watermark()
    ok_before = stack.standin.add_event(api_event("post", "/api/v2/users"))
    bad = stack.standin.add_event(api_event("patch", "/api/v2/users/auth0|9"))
    ok_after = stack.standin.add_event(api_event("delete", "/api/v2/users/auth0|8"))
    stack.receiver.fail_keys[bad.log_id] = 500

    run_a = stack.trigger()
    assert stack.wait(run_a) == "failed"
    tis = stack.task_instances(run_a)
    (failed,) = [ti for ti in tis if ti["state"] == "failed"]
    assert failed["task_id"] == "deliver"
    assert failed["rendered_map_index"].startswith(bad.log_id)
    assert "/api/v2/users/auth0|9" in failed["rendered_map_index"]
    assert {ti["state"] for ti in tis if ti["task_id"] == "commit_watermark"} == {"upstream_failed"}
    assert stack.watermark() == start  # nothing committed past the undelivered event
    assert {ok_before.log_id, ok_after.log_id} <= set(stack.receiver.delivered_keys())

    stack.receiver.fail_keys.clear()
    stack.clear_like_the_ui(run_a, "deliver", failed["map_index"])
    assert stack.wait(run_a) == "success"
    assert bad.log_id in stack.receiver.delivered_keys()
    assert stack.watermark() == ok_after.log_id


def test_a_stale_run_retried_later_never_moves_the_watermark_back(stack):
    bad = stack.standin.add_event(api_event("post", "/api/v2/users"))
    stack.receiver.fail_keys[bad.log_id] = 503
    run_c = stack.trigger()
    assert stack.wait(run_c) == "failed"
    (failed,) = [ti for ti in stack.task_instances(run_c) if ti["state"] == "failed"]

    stack.receiver.fail_keys.clear()
    newer = stack.standin.add_event(api_event("post", "/api/v2/users"))
    run_d = stack.trigger()
    assert stack.wait(run_d) == "success"
    assert stack.watermark() == newer.log_id

    stack.clear_like_the_ui(run_c, "deliver", failed["map_index"])  # hours later, from the UI
    assert stack.wait(run_c) == "success"
    assert stack.watermark() == newer.log_id  # run C's older checkpoint was not written back
