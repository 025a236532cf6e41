"""Webhook faults, each on the real DAG run with ``dag.test()`` against a receiver on 127.0.0.1."""

from __future__ import annotations

from tests.dags.conftest import states
from tests.support import api_event


def test_a_500_on_some_events_fails_the_run_and_the_next_run_delivers_them(standin, receiver, run_dag, promise, capfd):
    events = [standin.add_event(api_event("post", f"/api/v2/users/auth0|{i}")) for i in range(6)]
    promise.expect(e.log_id for e in events)
    for bad in events[1], events[4]:
        receiver.fail_keys[bad.log_id] = 500
    failed = run_dag()
    assert failed.state == "failed", states(failed)
    assert "500" in capfd.readouterr().out
    promise.check_watermark()
    receiver.fail_keys.clear()
    assert run_dag().state == "success"
    promise.settle(duplicates=4)  # the failed run's 4 good deliveries arrive again (no partial commit)
