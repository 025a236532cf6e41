"""Airflow's floor for ``make bench``: the same number of mapped task instances, doing nothing.

Shaped like auth0_webhooks (a task that returns the list, a mapped task capped at 5 running, a task
after them), so the difference in time is what our fetch, delivery and commit cost. Not a product
DAG: only the benchmark's own DAGs folder links it.

Conf ``imports`` names modules each no-op task imports first. Every task instance runs in a fresh
process that parses its DAG file, and ours imports the HTTP provider (aiohttp, requests) there, so
``["airflow.providers.http.operators.http"]`` gives the floor of any HttpOperator DAG: what is left
above it is our own code.
"""

from __future__ import annotations

import importlib

import pendulum
from airflow.sdk import DAG, task

with DAG(
    dag_id="bench_floor",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={"n": 100, "imports": []},
):

    @task
    def items(params: dict | None = None) -> list[int]:
        return list(range(int(params["n"])))

    @task(max_active_tis_per_dag=5)
    def noop(item: int, params: dict | None = None) -> None:
        for module in params["imports"]:
            importlib.import_module(module)

    @task(trigger_rule="none_failed")
    def done() -> None:
        return None

    noop.expand(item=items()) >> done()
