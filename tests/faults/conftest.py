"""The fault-injection suite (``make test-faults``): every module here is marked ``faults``.

``promise`` is the fixture each fault test settles at its end; see promise.py.
"""

from __future__ import annotations

import pytest

from tests.dags.conftest import run_dag, stored_watermark  # noqa: F401  (the fixture, for the dag.test faults)
from tests.faults.promise import Promise


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = str(config.rootpath / "tests" / "faults")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def promise(request, receiver) -> Promise:
    """The promise for a dag.test fault: what reached ``receiver``, and the watermark Variable."""

    def watermark() -> str | None:
        stored = stored_watermark()
        return stored["log_id"] if stored else None

    return Promise(request.node.originalname, receiver.delivered_log_ids, watermark)
