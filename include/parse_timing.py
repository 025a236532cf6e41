"""How long Airflow takes to parse the DAG file, as every task instance does in a fresh process.

Timed by ``make bench`` (include/benchmark.py, the ``parse`` scenario), never by a test: a shared 2-core
machine running two test suites at once makes any bound on it either loose or flaky. The tests hold what
the machine cannot change, which modules a parse imports (tests/dags/test_auth0_webhooks.py), against the
same simplest HttpOperator DAG the bench times beside ours.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"
HTTP_PROVIDER = "airflow.providers.http.operators.http"

# What any DAG with an HttpOperator costs to parse: ours must cost little more.
SIMPLEST_HTTP_DAG = """
from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG

with DAG("an_http_dag", schedule=None):
    HttpOperator(task_id="post", http_conn_id="http_default", endpoint="/")
"""


def simplest_http_dag(folder: Path) -> Path:
    """``folder`` holding only SIMPLEST_HTTP_DAG, as a DAGs folder to parse."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "an_http_dag.py").write_text(SIMPLEST_HTTP_DAG)
    return folder


def parse_seconds(preimport: str = "airflow.sdk", dags: Path = DAGS, env: dict[str, str] | None = None) -> float:
    """One DagBag parse of ``dags`` in a fresh interpreter that first imports ``preimport`` (comma
    separated), so only what the DAG file adds is timed. Bytecode is cached, as in the local Airflow
    (local_airflow.airflow_env) and in a deployment. ``env``: variables beyond this process's."""
    code = (
        f"import time, {preimport}\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"t = time.perf_counter(); bag = DagBag(dag_folder={str(dags)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(time.perf_counter() - t)\n"
    )
    environ = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env={**environ, **(env or {})}
    )
    return float(done.stdout.split()[-1])


def side_by_side(folders: dict[str, Path], runs: int, env: dict[str, str] | None = None) -> dict[str, list[float]]:
    """Cold parses (``airflow.sdk`` imported first) of each DAGs folder, taken in turn, ``runs`` rounds:
    a machine whose speed drifts meanwhile slows every folder alike. Each folder's seconds, by name."""
    seconds: dict[str, list[float]] = {name: [] for name in folders}
    for _ in range(runs):
        for name, dags in folders.items():
            seconds[name].append(parse_seconds(dags=dags, env=env))
    return seconds
