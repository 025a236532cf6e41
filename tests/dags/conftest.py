"""The ``run_dag`` fixture: the real DAG file run once with ``dag.test()``, as the scheduler would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent
from airflow.models.asset_state_store import AssetStateStoreModel
from airflow.models.variable import Variable as VariableModel
from airflow.utils.session import create_session
from sqlalchemy import delete

from auth0_provider.names import (
    AUTH0_CONN_ID,
    DAG_ID,
    FETCH_TASK,
    PREFETCH_TASK,
    WATERMARK_VARIABLE,
    read_ahead_variable,
    token_cache_variable,
)
from tests.conftest import REPO

WATERMARK = WATERMARK_VARIABLE  # the tests' short name for it


def stored_watermark() -> dict | None:
    raw = VariableModel.get(WATERMARK, default_var=None)
    return json.loads(raw) if raw else None


@pytest.fixture
def run_dag(airflow_db, standin, receiver, monkeypatch):
    """Run the DAG once, as the scheduler would, with these AUTH0_WEBHOOKS_* settings."""
    for key in (WATERMARK, read_ahead_variable(WATERMARK), token_cache_variable(AUTH0_CONN_ID)):
        VariableModel.delete(key)
    with create_session() as session:  # the stream's receipts and attempt: each test's stand-in reuses log ids
        session.execute(delete(AssetEvent))
        session.execute(delete(AssetStateStoreModel))
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_DEFAULT", standin.connection_uri())
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", receiver.connection_uri())
    monkeypatch.setenv("AUTH0_WEBHOOKS_DELIVERY_RETRIES", "0")

    def run(
        max_events: int | None = None, conf: dict | None = None, fetch_retry_delay: float | None = None, **settings: str
    ):
        for name, value in settings.items():
            monkeypatch.setenv(f"AUTH0_WEBHOOKS_{name.upper()}", value)
        bag = DagBag(dag_folder=str(REPO / "dags"))
        assert bag.import_errors == {}
        dag = bag.dags[DAG_ID]
        if max_events is not None:
            for task_id in (FETCH_TASK, PREFETCH_TASK):
                dag.get_task(task_id).max_events = max_events
        if fetch_retry_delay is not None:  # dag.test sleeps through a failed try's retry_delay (30 s in the DAG)
            dag.get_task(FETCH_TASK).retry_delay = timedelta(seconds=fetch_retry_delay)
        return dag.test(run_conf=conf)

    return run


def states(dag_run) -> dict[str, str]:
    return {f"{ti.task_id}[{ti.map_index}]": ti.state for ti in dag_run.get_task_instances()}
