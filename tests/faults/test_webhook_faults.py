"""Webhook faults, each on the real DAG run with ``dag.test()`` against a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket

import local_airflow
from auth0_standin import StoredEvent
from tests.dags.conftest import states
from tests.faults.promise import Promise
from tests.support import user_events
from webhook_receiver import WebhookReceiver


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound by the OS, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def expected_events(standin, promise: Promise, count: int) -> list[StoredEvent]:
    """``count`` new events the DAG delivers, each of which the webhook must receive."""
    events = user_events(standin, count)
    promise.expect(e.log_id for e in events)
    return events


def assert_failed(dag_run, capfd, promise: Promise, *causes: str) -> dict[str, str]:
    """The run failed, its log names each cause, and the watermark is not past anything undelivered."""
    assert dag_run.state == "failed", states(dag_run)
    out = capfd.readouterr().out
    for cause in causes:
        assert cause in out
    promise.check_watermark()
    return states(dag_run)


def test_a_500_on_some_events_fails_the_run_and_the_next_run_delivers_them(standin, receiver, run_dag, promise, capfd):
    events = expected_events(standin, promise, 6)
    for bad in events[1], events[4]:
        receiver.fail_keys[bad.log_id] = 500
    assert_failed(run_dag(), capfd, promise, "500")
    receiver.fail_keys.clear()
    assert run_dag().state == "success"
    promise.settle(duplicates=0)  # the next run sends only the 2: the 4 others have receipts


def test_a_receiver_hanging_past_the_read_timeout_fails_the_run_and_the_next_run_delivers(
    standin, receiver, run_dag, promise, capfd, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", receiver.connection_uri(timeout=[1, 1]))
    events = expected_events(standin, promise, 4)
    for hung in events[0], events[2]:
        receiver.hang[hung.log_id] = 2.5
    failed = assert_failed(run_dag(), capfd, promise, "Read timed out. (read timeout=1.0)")
    assert [failed[f"deliver[{i}]"] for i in range(4)] == ["failed", "success", "failed", "success"]
    # the hung receiver still accepts both, after the sender gave up
    local_airflow.wait_until(lambda: receiver.in_flight == 0, 10, "the receiver answering the hung requests")
    assert sorted(receiver.delivered_log_ids()) == [e.log_id for e in events]
    receiver.hang.clear()
    assert run_dag().state == "success"
    promise.settle(duplicates=2)  # the 2 the sender gave up on arrived late and again; the 2 others have receipts


def test_a_refused_connection_fails_the_run_naming_it_and_the_next_run_delivers(
    standin, receiver, run_dag, promise, capfd, monkeypatch
):
    closed = {"conn_type": "auth0_webhook", "host": f"http://127.0.0.1:{closed_port()}/hooks/auth0"}
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", json.dumps(closed))
    expected_events(standin, promise, 3)
    failed = assert_failed(run_dag(), capfd, promise, "[Errno 111] Connection refused")
    assert [failed[f"deliver[{i}]"] for i in range(3)] == ["failed"] * 3
    assert receiver.requests == []
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", receiver.connection_uri())
    assert run_dag().state == "success"
    promise.settle(duplicates=0)


def test_a_slow_receiver_within_the_read_timeout_gets_everything_once(standin, receiver, run_dag, promise, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", receiver.connection_uri(timeout=[3, 3]))
    receiver.delay = 1.0
    expected_events(standin, promise, 4)
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    assert [r.status for r in receiver.requests] == [200] * 4
    promise.settle(duplicates=0)


def test_a_redirect_is_not_followed_fails_the_run_and_the_next_run_delivers(standin, receiver, run_dag, promise, capfd):
    events = expected_events(standin, promise, 4)
    with WebhookReceiver() as elsewhere:
        receiver.script[events[0].log_id] = [(301, {"Location": elsewhere.url})]  # one reply each: then 200
        receiver.script[events[2].log_id] = [(302, {"Location": elsewhere.url})]
        statuses = ("301 Moved Permanently", "302 Found")
        causes = (f"Webhook answered {s} (redirect to {elsewhere.url}); redirects are not followed" for s in statuses)
        assert_failed(run_dag(), capfd, promise, *causes)
        assert run_dag().state == "success"
        assert elsewhere.requests == []  # nothing was POSTed there
    promise.settle(duplicates=0)  # only the 2 redirected ones are sent again


def test_410_gone_fails_the_run_without_retries_and_the_next_run_delivers(standin, receiver, run_dag, promise, capfd):
    events = expected_events(standin, promise, 4)
    receiver.fail_keys[events[1].log_id] = 410
    failed = run_dag(delivery_retries="2")
    assert_failed(failed, capfd, promise, "Webhook answered 410 Gone: the receiver asked us to stop sending")
    assert [r.key for r in receiver.requests].count(events[1].log_id) == 1  # no retry, although 2 were allowed
    receiver.fail_keys.clear()
    assert run_dag().state == "success"
    promise.settle(duplicates=0)  # only the refused one is sent again


def test_a_200_cut_off_mid_body_counts_as_not_delivered_and_is_sent_again(standin, receiver, run_dag, promise, capfd):
    events = expected_events(standin, promise, 3)
    receiver.script[events[1].log_id] = [(200, {"Content-Length": "1000"})]  # sends 11 bytes of 1000, closes
    cause = "Webhook answer was cut off: the connection closed before the end of its body"
    assert assert_failed(run_dag(), capfd, promise, cause)["deliver[1]"] == "failed"
    assert sorted(receiver.delivered_log_ids()) == [e.log_id for e in events]  # the receiver did keep it
    assert run_dag().state == "success"
    promise.settle(duplicates=1)  # the receiver kept all 3; only the one without a whole answer is sent again
