"""A real Airflow for the scheduler tests: api-server, scheduler and dag-processor on 127.0.0.1.

Two topologies, one code path:
- by default LocalExecutor on SQLite in a temporary home (what ``make run`` runs);
- with ``production=True``, PostgreSQL as the metadata DB and CeleryExecutor with a Redis broker
  and two workers. Each worker has an Airflow home (and temp folder) of its own, as a separate
  machine would, so anything the DAG kept on a local disk would not be seen by the other worker.
The two connections are created through the REST API as the UI does, and every process is stopped
by id at the end, task runners included.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import sqlalchemy

import local_airflow
from auth0_provider.names import AUTH0_CONN_ID, DAG_ID, WEBHOOK_CONN_ID, StreamNames
from auth0_provider.signing import generate_signing_secret
from auth0_standin import Auth0StandIn
from tests import services
from webhook_receiver import WebhookReceiver

DAG = DAG_ID
COMPONENTS_LOG = "components.log"  # in the stack's home
CORE = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}


class Stack:
    """The running components (by name: their args and environment) and the peers they talk to."""

    api: local_airflow.AirflowApi  # once the api-server answers

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        components: dict[str, tuple[list[str], dict[str, str]]],
        log: IO[Any],
        standin: Auth0StandIn,
        receiver: WebhookReceiver,
    ) -> None:
        self.home, self.env, self.components, self.standin, self.receiver = home, env, components, standin, receiver
        self.processes: dict[str, subprocess.Popen] = {}
        self._log = log
        self.dag = DAG  # the DAG the methods below act on: the single DAG's, or a stream's (``for_dag``)

    def for_dag(self, dag_id: str) -> Stack:
        """The same running stack, acting on another stream's DAG."""
        view = copy.copy(self)
        view.dag = dag_id
        return view

    @property
    def names(self) -> StreamNames:
        names = StreamNames.of_dag(self.dag)
        assert names is not None, f"{self.dag} is no stream's DAG"
        return names

    @property
    def components_log(self) -> Path:
        """Where every component of the stack writes its output, interleaved."""
        return self.home / COMPONENTS_LOG

    @property
    def worker_homes(self) -> list[Path]:
        """Where each Celery worker keeps its files (its "local disk"); empty for LocalExecutor."""
        return [Path(env["AIRFLOW_HOME"]) for name, (_, env) in self.components.items() if name.startswith("worker")]

    def start(self, name: str) -> None:
        args, env = self.components[name]
        self.processes[name] = local_airflow.start(args, env, self._log)

    @contextmanager
    def settings(self, **settings: str) -> Iterator[None]:
        """Run with other AUTH0_WEBHOOKS_* settings (``batch_size="100"``), as a deployment changes its
        environment: the scheduler and the dag-processor restart with it, and the task processes forked
        from the scheduler parse the DAG with it. The settings before are restored on the way out."""
        names = {f"AUTH0_WEBHOOKS_{name.upper()}": value for name, value in settings.items()}
        before = {name: self.env.get(name) for name in names}
        self._restart_with(names)
        try:
            yield
        finally:
            self._restart_with(before)

    def _restart_with(self, settings: Mapping[str, str | None]) -> None:
        restarted = [name for name in ("scheduler", "dag-processor") if name in self.processes]
        local_airflow.stop([self.processes[name] for name in restarted])
        for name, value in settings.items():  # the core components share this environment
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        for name in restarted:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL the component's whole process group, as when its machine dies: no clean-up runs."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def unpause(self) -> None:
        """The stack registers the DAG paused; the scheduler starts a run for the latest interval at once."""
        self.api.set_paused(self.dag, False)

    def pause(self) -> None:
        """Pause the DAG between two runs: the scheduler leaves a paused DAG's running run where it is, so
        every run must have finished first, and none may have started just before the pause."""
        for _ in range(3):
            local_airflow.wait_until(self.idle, 300, "every run to finish", every=2)
            self.api.set_paused(self.dag, True)
            if self.idle():
                return
            self.unpause()  # a run started just before the pause: let it finish, and try again
        raise AssertionError(f"{self.dag} kept starting runs: could not pause it between two")

    def idle(self) -> bool:
        """No run of the DAG is queued or running."""
        return all(r["state"] in ("success", "failed") for r in self.runs())

    def trigger(self, conf: dict | None = None, logical_date: datetime | None = None) -> str:
        """As the UI's Trigger button does, unpause too: a run triggered on a paused DAG stays queued."""
        self.unpause()
        body = {"logical_date": (logical_date or datetime.now(UTC)).isoformat(), "conf": conf or {}}
        return self.api.trigger(self.dag, body)

    def wait(self, run_id: str, timeout: float = 240) -> str:
        return self.api.wait_for_run(self.dag, run_id, timeout, every=2)

    def runs(self) -> list[dict]:
        return self.api.call("GET", f"/dags/{self.dag}/dagRuns?order_by=start_date&limit=1000")["dag_runs"]

    def task_instances(self, run_id: str) -> list[dict]:
        return self.api.call("GET", f"/dags/{self.dag}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def watermark(self) -> str | None:
        return self.api.watermark(self.names.watermark_variable)

    def task_log(self, run_id: str, task_id: str, map_index: int = -1) -> str:
        """The task's log file as the worker that ran it wrote it, its latest attempt."""
        where = Path(f"dag_id={self.dag}", f"run_id={run_id}", f"task_id={task_id}")
        if map_index >= 0:
            where /= f"map_index={map_index}"
        attempts = [
            path for home in (self.home, *self.worker_homes) for path in (home / "logs" / where).glob("attempt=*.log")
        ]
        return max(attempts, key=lambda p: int(p.stem.removeprefix("attempt="))).read_text()

    def table(self, name: str) -> list[tuple]:
        """Every row of a metadata DB table, whichever database the stack runs on."""
        engine = sqlalchemy.create_engine(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        try:
            with engine.connect() as db:
                return [tuple(row) for row in db.execute(sqlalchemy.text(f"SELECT * FROM {name}"))]
        finally:
            engine.dispose()

    def clear_like_the_ui(self, run_id: str, task_id: str, map_index: int) -> None:
        """What the UI's "Clear" on one failed mapped instance does, downstream included."""
        self.clear(run_id, [(task_id, map_index)])

    def clear(
        self, run_id: str, tasks: list[tuple[str, int]], only_failed: bool = True, downstream: bool = True
    ) -> None:
        """The UI's "Clear" on these task instances, with its "Only failed" and "Downstream" options."""
        body = {"dag_run_id": run_id, "task_ids": [list(task) for task in tasks], "dry_run": False}
        body |= {"only_failed": only_failed, "include_downstream": downstream}
        self.api.call("POST", f"/dags/{self.dag}/clearTaskInstances", json=body)

    def clear_run(self, run_id: str) -> None:
        """The UI's "Clear Run" with its default, "existing tasks": every task of the run runs again."""
        self.api.call("POST", f"/dags/{self.dag}/dagRuns/{run_id}/clear", json={"dry_run": False, "only_failed": False})

    def mark(self, run_id: str, task_id: str, map_index: int, state: str) -> None:
        """The UI's "Mark as success / failed / skipped" on one task instance."""
        path = f"/dags/{self.dag}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}"
        self.api.call("PATCH", path, json={"new_state": state})

    def mark_run(self, run_id: str, state: str) -> None:
        """The UI's "Mark run as failed / success"."""
        self.api.call("PATCH", f"/dags/{self.dag}/dagRuns/{run_id}", json={"state": state})

    def states(self, run_id: str, task_id: str) -> dict[int, str | None]:
        """Each instance's state, by map index."""
        return {ti["map_index"]: ti["state"] for ti in self.task_instances(run_id) if ti["task_id"] == task_id}

    def quiet(self, seconds: float) -> None:
        """Return once no 5-minute tick can start a run within ``seconds``, and no run is left running.

        A scheduled run that starts in the middle of a test acts on the same events: it would change
        what the test counts. Waits for the next tick (and its run) when it comes too soon.
        """
        for _ in range(3):  # a run still finishing can take the test past the tick it checked for: check again
            local_airflow.wait_until(self.idle, 300, "every run to finish", every=2)
            now = datetime.now(UTC)
            boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=5 - now.minute % 5)
            if (boundary - now).total_seconds() >= seconds:
                return
            time.sleep(max(0.0, (boundary - now).total_seconds()))
            # the tick's run may be created seconds later on a busy machine: wait until the scheduler has moved
            # the DAG's next run past it, so that the idle check above sees that run
            local_airflow.wait_until(partial(self._past, boundary), 120, "the tick's run", every=2)
        raise AssertionError(f"no quiet {seconds:.0f} s came: runs kept running up to the 5-minute ticks")

    def _past(self, tick: datetime) -> bool:
        """Whether the scheduler has created the DAG's run for ``tick`` (a paused DAG gets none)."""
        dag = self.api.call("GET", f"/dags/{self.dag}")
        after = dag.get("next_dagrun_run_after")
        return dag["is_paused"] or after is None or datetime.fromisoformat(after) > tick

    def asset_state(self, key: str) -> Any:
        """A value in the stream asset's state store, as the UI's asset page shows it; None if absent."""
        assets = self.api.call("GET", f"/assets?name_pattern={self.names.stream.name}")["assets"]
        (asset,) = [asset for asset in assets if asset["name"] == self.names.stream.name]
        try:
            return self.api.call("GET", f"/assets/{asset['id']}/state-store/{quote(key, safe='')}")["value"]
        except RuntimeError:
            return None

    def backfill(self, from_date: datetime, to_date: datetime, attempts: int = 5) -> None:
        """``airflow backfill create`` as the README has it, and its advice for SQLite: when the running
        scheduler locks the database, retry. A try that fails at its last commit leaves an empty backfill
        behind, which blocks the next one until the scheduler closes it (about 2 minutes later)."""
        args = ["airflow", "backfill", "create", "--dag-id", self.dag, "--from-date", from_date.isoformat()]
        args += ["--to-date", to_date.isoformat(), "--reprocess-behavior", "completed"]
        for attempt in range(1, attempts + 1):
            done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=120)
            if done.returncode == 0:
                return
            if "database is locked" not in done.stdout + done.stderr or attempt == attempts:
                raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            local_airflow.wait_until(
                lambda: all(
                    b["completed_at"] for b in self.api.call("GET", f"/backfills?dag_id={self.dag}")["backfills"]
                ),
                210,
                "the scheduler closing the backfill a locked try left empty",
                every=5,
            )


def create_connection(api: local_airflow.AirflowApi, conn_id: str, uri: str) -> None:
    """What saving the connection form in the UI does."""
    conn = json.loads(uri)
    if "extra" in conn:
        conn["extra"] = json.dumps(conn["extra"])
    api.call("POST", "/connections", json={"connection_id": conn_id, **conn})


@contextmanager
def production_topology() -> Iterator[dict[str, str]]:
    """PostgreSQL and Redis running, and the settings that make Airflow use them with Celery."""
    with services.postgres() as database, services.redis() as broker:
        yield {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
        }


@contextmanager
def airflow_stack(
    home: Path,
    standin: Auth0StandIn,
    receiver: WebhookReceiver,
    settings: Mapping[str, str],
    webhook_uri: str | None = None,
    production: bool = False,
    dags: tuple[str, ...] = (DAG,),
    postgres: bool = False,
) -> Iterator[Stack]:
    """Airflow with these environment settings, its DAGs registered (paused) and both connections made.

    ``production``: on PostgreSQL with CeleryExecutor, a Redis broker and two workers. ``postgres``: on
    PostgreSQL with LocalExecutor, for a stack whose many DAGs would keep SQLite's one write lock busy.
    ``dags``: the DAGs to wait for, when ``AIRFLOW__CORE__DAGS_FOLDER`` in ``settings`` points at another
    folder.
    """
    with ExitStack() as running:
        if production:
            settings = {**settings, **running.enter_context(production_topology())}
        elif postgres:
            settings = {**settings, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": running.enter_context(services.postgres())}
        port = local_airflow.free_port()
        env = local_airflow.airflow_env(home, port, settings)
        local_airflow.migrate(env)
        components = {name: (args, env) for name, args in CORE.items()}
        for n in range(1, 3 if production else 1):
            worker_home = home / "workers" / f"worker{n}"
            (worker_home / "tmp").mkdir(parents=True)
            worker_env = {**env, "AIRFLOW_HOME": str(worker_home), "TMPDIR": str(worker_home / "tmp")}
            args = ["celery", "worker", "--concurrency", "1", "--celery-hostname", f"worker{n}@%h", "--skip-serve-logs"]
            components[f"worker{n}"] = (args, worker_env)
        log = running.enter_context(open(home / COMPONENTS_LOG, "w"))
        stack = Stack(home, env, components, log, standin, receiver)
        running.callback(lambda: local_airflow.stop(list(stack.processes.values())))
        for name in stack.components:
            stack.start(name)
        base_url = f"http://127.0.0.1:{port}"
        local_airflow.wait_for(f"{base_url}/api/v2/monitor/health", 180, list(stack.processes.values()))
        stack.api = local_airflow.AirflowApi(base_url, local_airflow.admin_password(home))
        for dag_id in dags:
            stack.api.wait_for_dag(dag_id, 120)
        create_connection(stack.api, AUTH0_CONN_ID, standin.connection_uri())
        create_connection(stack.api, WEBHOOK_CONN_ID, webhook_uri or receiver.connection_uri())
        yield stack


@contextmanager
def unpaused_stack(home: Path, settings: Mapping[str, str], production: bool = False) -> Iterator[Stack]:
    """A stack with a stand-in and a signature-checking receiver of its own, the DAG unpaused, and the
    run the scheduler then starts for the latest interval (on an empty tenant) under way."""
    with (
        Auth0StandIn() as standin,
        WebhookReceiver(secret=generate_signing_secret()) as receiver,
        airflow_stack(home, standin, receiver, settings, production=production) as stack,
    ):
        stack.unpause()
        local_airflow.wait_until(lambda: bool(stack.runs()), 60, "the first scheduled run", every=1)
        yield stack
