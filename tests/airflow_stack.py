"""A real Airflow for the scheduler tests: api-server, scheduler and dag-processor on 127.0.0.1.

LocalExecutor on SQLite in a temporary home, the two connections created through the REST API as
the UI does, and every process stopped by id at the end, task runners included.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import local_airflow
from auth0_standin import Auth0StandIn
from webhook_receiver import WebhookReceiver

DAG = "auth0_webhooks"


class Stack:
    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        api: local_airflow.AirflowApi,
        standin: Auth0StandIn,
        receiver: WebhookReceiver,
    ) -> None:
        self.home, self.env, self.api, self.standin, self.receiver = home, env, api, standin, receiver

    def trigger(self, conf: dict | None = None) -> str:
        body = {"logical_date": datetime.now(UTC).isoformat(), "conf": conf or {}}
        return self.api.call("POST", f"/dags/{DAG}/dagRuns", json=body)["dag_run_id"]

    def wait(self, run_id: str, timeout: float = 240) -> str:
        return self.api.wait_for_run(DAG, run_id, timeout, every=2)

    def runs(self) -> list[dict]:
        return self.api.call("GET", f"/dags/{DAG}/dagRuns?order_by=start_date&limit=1000")["dag_runs"]

    def task_instances(self, run_id: str) -> list[dict]:
        return self.api.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def watermark(self) -> str | None:
        return self.api.watermark()

    def task_log(self, run_id: str, task_id: str) -> str:
        """The task's log file as the worker wrote it, its latest attempt."""
        folder = self.home / "logs" / f"dag_id={DAG}" / f"run_id={run_id}" / f"task_id={task_id}"
        attempts = sorted(folder.glob("attempt=*.log"), key=lambda p: int(p.stem.removeprefix("attempt=")))
        return attempts[-1].read_text()

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

    def airflow(self, *args: str, attempts: int = 5) -> str:
        """An ``airflow`` CLI command, retried while SQLite is locked by the running scheduler."""
        for attempt in range(1, attempts + 1):
            done = subprocess.run(["airflow", *args], env=self.env, capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                return done.stdout
            if "database is locked" not in done.stdout + done.stderr or attempt == attempts:
                raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        raise AssertionError("unreachable")


def create_connection(api: local_airflow.AirflowApi, conn_id: str, uri: str) -> None:
    """What saving the connection form in the UI does."""
    conn = json.loads(uri)
    if "extra" in conn:
        conn["extra"] = json.dumps(conn["extra"])
    api.call("POST", "/connections", json={"connection_id": conn_id, **conn})


@contextmanager
def airflow_stack(
    home: Path,
    standin: Auth0StandIn,
    receiver: WebhookReceiver,
    settings: Mapping[str, str],
    webhook_uri: str | None = None,
) -> Iterator[Stack]:
    """Airflow with these environment settings, its DAG registered (paused) and both connections made."""
    port = local_airflow.free_port()
    env = local_airflow.airflow_env(home, port, settings)
    local_airflow.migrate(env)
    processes = []
    with open(home / "components.log", "w") as log:
        try:
            for args in (["api-server"], ["scheduler", "--skip-serve-logs"], ["dag-processor"]):
                processes.append(local_airflow.start(args, env, log))
            base_url = f"http://127.0.0.1:{port}"
            local_airflow.wait_for(f"{base_url}/api/v2/monitor/health", 180, processes)
            api = local_airflow.AirflowApi(base_url, local_airflow.admin_password(home))
            api.wait_for_dag(DAG, 120)
            create_connection(api, "auth0_default", standin.connection_uri())
            create_connection(api, "auth0_webhook", webhook_uri or receiver.connection_uri())
            yield Stack(home, env, api, standin, receiver)
        finally:
            local_airflow.stop(processes)
