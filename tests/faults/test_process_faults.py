"""Process faults on the production topology: PostgreSQL, CeleryExecutor, Redis, two workers.

A component is killed the way a machine dies: SIGKILL to its whole process group, so nothing of it
gets to clean up. The scheduler finds a killed worker's task by its missing heartbeat (shortened to
20 s here from the default 5 minutes), and a killed scheduler's work is picked up when it restarts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import local_airflow
from auth0_provider.names import DELIVER_TASK
from auth0_provider.signing import generate_signing_secret
from auth0_standin import Auth0StandIn
from tests.airflow_stack import Stack, airflow_stack
from tests.faults.promise import Promise
from tests.support import user_events
from webhook_receiver import WebhookReceiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    with Auth0StandIn() as standin, WebhookReceiver(secret=generate_signing_secret()) as receiver:
        settings = {
            "AUTH0_WEBHOOKS_CONCURRENT_CALLS": "2",
            "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        }
        with airflow_stack(home, standin, receiver, settings, production=True) as stack:
            stack.unpause()
            for run in stack.runs():  # the first scheduled run, on an empty tenant
                stack.wait(run["dag_run_id"])
            yield stack


@pytest.fixture
def promise(request, stack) -> Promise:
    return Promise(request.node.originalname, stack.receiver.delivered_log_ids, stack.watermark)


def deliveries(stack: Stack, run_id: str) -> list[dict]:
    return [ti for ti in stack.task_instances(run_id) if ti["task_id"] == DELIVER_TASK]


def run_that_delivers(stack: Stack, events: int) -> str:
    """The run mapping ``events`` deliveries: ours, or a 5-minute tick that took the events first."""
    found: list[str] = []

    def mapped() -> bool:
        found[:] = [r["dag_run_id"] for r in stack.runs() if len(deliveries(stack, r["dag_run_id"])) == events]
        return bool(found)

    local_airflow.wait_until(mapped, 60, f"a run mapping {events} deliveries", every=1)
    return found[-1]


def test_a_worker_killed_mid_delivery_is_retried_on_a_worker_and_nothing_is_lost(stack, promise):
    events = user_events(stack.standin, 4)
    promise.expect(e.log_id for e in events)
    stack.receiver.delay = 5.0
    try:
        stack.trigger()
        local_airflow.wait_until(lambda: stack.receiver.in_flight == 2, 120, "both workers delivering")
        stack.kill("worker1")  # mid-request: the receiver takes it, the sender never hears back
        promise.check_watermark()
    finally:
        stack.receiver.delay = 0.0
    stack.start("worker1")  # the machine comes back
    run_id = run_that_delivers(stack, len(events))
    assert stack.wait(run_id, timeout=300) == "success"
    tries = sorted(ti["try_number"] for ti in deliveries(stack, run_id))
    assert tries == [1, 1, 1, 2], tries  # the killed one was retried, once
    scheduler_log = stack.components_log.read_text()
    detected = [line for line in scheduler_log.splitlines() if "Detected a task instance without a heartbeat" in line]
    assert any(f"'Run Id': '{run_id}'" in line and "'Task Id': 'deliver'" in line for line in detected)
    assert stack.watermark() == events[-1].log_id
    promise.settle(duplicates=1)  # the killed try had reached the receiver; its retry sent it again


def test_the_scheduler_killed_between_deliveries_and_commit_commits_after_restart(stack, promise):
    events = user_events(stack.standin, 2)
    promise.expect(e.log_id for e in events)
    before = stack.watermark()
    # Long enough for both to overlap: the worker that ran fetch_logs can hold its slot for up to 5 s
    # after the task ended (the supervisor's last heartbeat), and then still has to start the task.
    stack.receiver.delay = 15.0
    try:
        stack.trigger()
        local_airflow.wait_until(lambda: stack.receiver.in_flight == 2, 120, "both deliveries in flight")
        stack.kill("scheduler")
    finally:
        stack.receiver.delay = 0.0
    # the workers finish both deliveries without a scheduler; nobody schedules the commit
    run_id = run_that_delivers(stack, len(events))
    local_airflow.wait_until(
        lambda: {ti["state"] for ti in deliveries(stack, run_id)} == {"success"}, 60, "the deliveries finishing"
    )
    time.sleep(10)  # long enough for a commit to have happened, were anything scheduling it
    assert stack.watermark() == before
    promise.check_watermark()
    stack.start("scheduler")
    assert stack.wait(run_id, timeout=180) == "success"
    assert stack.watermark() == events[-1].log_id
    promise.settle(duplicates=0)
