"""How long Airflow takes to parse the DAG file, as every task instance does in a fresh process.

Shared by the parse tests and ``make bench``, so the figure in docs/benchmarks.md and the bound the
tests hold are the same measurement.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent / "dags"
HTTP_PROVIDER = "airflow.providers.http.operators.http"


def median_parse_seconds(preimport: str = "airflow.sdk", runs: int = 3, dags: Path = DAGS) -> float:
    """Median of ``runs`` DagBag parses of ``dags``, each in a fresh interpreter that first imports
    ``preimport`` (comma separated), so only what the DAG file adds is timed. Bytecode is cached, as in
    the local Airflow (local_airflow.airflow_env) and in a deployment."""
    code = (
        f"import time, {preimport}\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"t = time.perf_counter(); bag = DagBag(dag_folder={str(dags)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}  # as Airflow runs
    outputs = [
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
        for _ in range(runs)
    ]
    seconds = [float(out.split()[-1]) for out in outputs]
    return statistics.median(seconds)
