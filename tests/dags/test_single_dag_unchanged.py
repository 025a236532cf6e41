"""Without a streams file, the single DAG and its alerts DAG serialise exactly as they did before streams existed.

The golden files were written from the tree before issue 17 (7045358's DAG files): every task, every
argument, the schedule, the params and the docs. Regenerate them only for a change to the single DAG
that is meant: ``GOLDEN_WRITE=1 .venv/bin/pytest tests/dags/test_single_dag_unchanged.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization

from auth0_provider.names import ALERTS_DAG_ID, DAG_ID
from tests.conftest import REPO

GOLDEN = Path(__file__).with_name("golden")
VOLATILE = ("_processor_dags_folder",)  # where this machine keeps the DAGs folder


def serialised(dag) -> str:
    data = DagSerialization.to_dict(dag)
    for key in VOLATILE:
        data["dag"].pop(key, None)
    return json.dumps(data, sort_keys=True, indent=1, default=str).replace(str(REPO), "<repo>") + "\n"


@pytest.mark.parametrize("dag_id", [DAG_ID, ALERTS_DAG_ID])
def test_without_a_streams_file_the_single_dag_serialises_as_before(monkeypatch, dag_id):
    monkeypatch.setenv("AUTH0_WEBHOOKS_ALERT_CONN_ID", "auth0_alerts")
    monkeypatch.delenv("AUTH0_WEBHOOKS_STREAMS_FILE", raising=False)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    text = serialised(bag.dags[dag_id])
    golden = GOLDEN / f"{dag_id}.json"
    if os.environ.get("GOLDEN_WRITE") == "1":
        golden.write_text(text)
    assert text == golden.read_text()
