"""Auth0 faults, each on the real DAG run with ``dag.test()`` against the stand-in on 127.0.0.1.

A backlog of 230 events spans the pages edge (the oldest log, by a date search), 100, 100, 29 and
the empty page that ends a read; delivered 100 to a request (AUTH0_WEBHOOKS_BATCH_SIZE) to keep the
runs short. So the n-th request to /api/v2/logs of a first run is: 1 the date search, 2 the first
checkpoint page, 3 the second, and so on.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.names import FETCH_TASK
from auth0_standin import StoredEvent
from tests.dags.conftest import states, stored_watermark
from tests.support import api_event, user_events

LOGS = "/api/v2/logs"
JSON = {"Content-Type": "application/json; charset=utf-8"}
BATCHES = "100"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """The hook's backoff between 5xx retries, 1 s doubling, at 0.05 s doubling: the same retries, sooner."""
    monkeypatch.setitem(Auth0Hook.__init__.__kwdefaults__, "backoff_seconds", 0.05)


def test_a_429_storm_mid_backlog_is_waited_out_and_everything_arrives(standin, run_dag, promise, capfd):
    """Each 429 asks for 1 s (Retry-After) and the log says each wait was 1.0 s, exactly. Between two requests
    around a wait, 1.00 to 1.05 s on an idle machine: the lower bound only grows on a busy one, and the upper,
    10 s, is 10 times that, far below the minute a hook misreading the limit would wait."""
    events = user_events(standin, 230)
    promise.expect(e.log_id for e in events)
    limited = {**JSON, "Retry-After": "1", "x-ratelimit-limit": "50", "x-ratelimit-remaining": "0"}
    too_many = b'{"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached"}'
    for n in range(3):  # the second checkpoint page is refused 3 times in a row
        standin.inject(LOGS, 429, too_many, limited, after=2 if n == 0 else 0)
    sent: list[float] = []
    standin.before_request = lambda request: request == f"GET {LOGS}" and sent.append(time.monotonic())
    dag_run = run_dag(batch_size=BATCHES)
    assert dag_run.state == "success", states(dag_run)
    assert standin.injected == []
    assert len(sent) == 1 + 3 + 4  # the search, 3 refusals, 4 pages
    waits = [later - earlier for earlier, later in pairwise(sent[2:6])]  # the refused page, 3 times, then read
    assert all(0.9 <= wait < 10 for wait in waits), waits  # each 429 waited out, the second it asked for
    assert capfd.readouterr().out.count("Auth0 rate limit reached (429); waiting 1.0 s") == 3
    promise.check_watermark()
    assert stored_watermark()["log_id"] == events[-1].log_id
    promise.settle(duplicates=0)


def test_5xx_from_auth0_is_retried_and_when_it_persists_the_run_fails_and_the_next_delivers(
    standin, run_dag, promise, capfd
):
    first = user_events(standin, 150)
    promise.expect(e.log_id for e in first)
    standin.inject("/oauth/token", 503, b"upstream connect error or disconnect/reset before headers")
    standin.inject("/oauth/token", 500, b'{"statusCode":500,"error":"Internal Server Error"}', JSON)
    for n, status in enumerate((502, 500, 503)):  # the second checkpoint page fails 3 times, then answers
        html = {"Content-Type": "text/html"}
        standin.inject(LOGS, status, b"<html><h1>Bad gateway</h1></html>", html, after=2 if n == 0 else 0)
    transient = run_dag(batch_size=BATCHES)
    assert transient.state == "success", states(transient)
    assert standin.injected == []
    out = capfd.readouterr().out
    assert "HTTP 503 on POST /oauth/token; retrying" in out and "HTTP 500 on POST /oauth/token; retrying" in out
    assert "HTTP 502 on GET /api/v2/logs; retrying" in out and "HTTP 503 on GET /api/v2/logs; retrying" in out
    promise.check_watermark()
    assert stored_watermark()["log_id"] == first[-1].log_id

    second = user_events(standin, 20)
    promise.expect(e.log_id for e in second)
    for _ in range(3 * 5):  # every attempt of each of the fetch task's 3 tries
        standin.inject(LOGS, 503, b'{"statusCode":503,"error":"Service Unavailable"}', JSON)
    persistent = run_dag(batch_size=BATCHES, fetch_retry_delay=0)
    assert persistent.state == "failed", states(persistent)
    assert states(persistent)["fetch_logs[-1]"] == "failed"
    assert capfd.readouterr().out.count("Auth0 answered HTTP 503 for GET /api/v2/logs 5 times") == 3
    promise.check_watermark()
    assert stored_watermark()["log_id"] == first[-1].log_id  # not moved

    recovered = run_dag(batch_size=BATCHES)
    assert recovered.state == "success", states(recovered)
    promise.settle(duplicates=0)


def test_a_token_that_expires_mid_run_is_renewed_once_and_everything_arrives(standin, run_dag, promise, capfd):
    events = user_events(standin, 230)
    promise.expect(e.log_id for e in events)

    def expire_at_the_second_page(request: str) -> None:
        if request == f"GET {LOGS}" and standin.requests[request] == 3:
            standin.expire_tokens()

    standin.before_request = expire_at_the_second_page
    dag_run = run_dag(batch_size=BATCHES)
    assert dag_run.state == "success", states(dag_run)
    assert standin.tokens_issued == 2
    assert capfd.readouterr().out.count("Auth0 answered 401 for /api/v2/logs; renewing the access token once") == 1
    promise.check_watermark()
    promise.settle(duplicates=0)


def test_a_missing_read_logs_scope_fails_naming_it_and_once_granted_everything_arrives(
    standin, receiver, run_dag, promise, capfd
):
    events = user_events(standin, 5)
    promise.expect(e.log_id for e in events)
    standin.scopes = ("read:users",)  # the application was never granted read:logs
    failed = run_dag()
    assert failed.state == "failed", states(failed)
    assert states(failed)["fetch_logs[-1]"] == "failed"
    out = capfd.readouterr().out
    assert "lacks the read:logs scope. Grant read:logs to the client of connection 'auth0_default'" in out
    assert receiver.deliveries == []
    assert stored_watermark() is None
    promise.check_watermark()

    standin.scopes = ("read:users", "read:logs")  # granted in the dashboard
    assert run_dag().state == "success"
    promise.settle(duplicates=0)


def test_an_html_page_instead_of_json_fails_the_try_clearly_and_the_retry_delivers(standin, run_dag, promise, capfd):
    events = user_events(standin, 5)
    promise.expect(e.log_id for e in events)
    page = b"<!DOCTYPE html><html><body><h1>Down for maintenance</h1></body></html>"
    standin.inject(LOGS, 200, page, {"Content-Type": "text/html"}, after=1)  # the first checkpoint page
    dag_run = run_dag(fetch_retry_delay=0)
    assert dag_run.state == "success", states(dag_run)
    fetch = next(ti for ti in dag_run.get_task_instances() if ti.task_id == FETCH_TASK)
    assert fetch.try_number == 2
    output = capfd.readouterr()
    assert "Auth0 answered GET /api/v2/logs with an unusable body (text/html): expected a JSON array" in output.out
    for secret in (standin.client_secret, *standin.issued_tokens):
        assert secret not in output.out + output.err
    promise.check_watermark()
    promise.settle(duplicates=0)


def test_an_empty_page_mid_backlog_commits_what_was_read_and_the_next_run_delivers_the_rest(standin, run_dag, promise):
    events = user_events(standin, 230)
    promise.expect(e.log_id for e in events)
    standin.inject(LOGS, 200, b"[]", JSON, after=2)  # the second checkpoint page comes back empty once
    first = run_dag(batch_size=BATCHES)
    assert first.state == "success", states(first)
    assert stored_watermark()["log_id"] == events[100].log_id  # the oldest log and the first page
    promise.check_watermark()
    assert promise.tally().delivered == 101

    second = run_dag(batch_size=BATCHES)
    assert second.state == "success", states(second)
    assert stored_watermark()["log_id"] == events[-1].log_id
    promise.settle(duplicates=0)


def test_overlapping_pages_deliver_each_event_once(standin, run_dag, promise):
    events = user_events(standin, 230)
    promise.expect(e.log_id for e in events)
    standin.page_overlap = 1  # every checkpoint page starts again with the last log of the one before
    assert run_dag(batch_size=BATCHES).state == "success"
    promise.check_watermark()
    later = user_events(standin, 3)  # the next page from the watermark repeats the watermark's own log
    promise.expect(e.log_id for e in later)
    assert run_dag(batch_size=BATCHES).state == "success"
    assert stored_watermark()["log_id"] == later[-1].log_id
    promise.settle(duplicates=0)


def test_events_missing_details_or_date_are_delivered_and_passed(standin, run_dag, promise):
    first = standin.add_event(api_event("post", "/api/v2/users"))
    promise.expect([first.log_id])
    assert run_dag().state == "success"
    promise.check_watermark()

    def malformed(**changes: object) -> StoredEvent:
        event = api_event("post", "/api/v2/users") | changes
        event["log_id"] = standin.next_log_id(datetime.now(UTC))
        return standin.add_raw(json.dumps({k: v for k, v in event.items() if v is not ...}))

    odd = [
        malformed(details=...),  # no details at all
        malformed(details=None),
        malformed(date=...),  # no date
        malformed(date="yesterday"),  # not ISO 8601; the watermark ends on it
    ]
    promise.expect(e.log_id for e in odd)
    run = run_dag()
    assert run.state == "success", states(run)
    assert stored_watermark() == {"log_id": odd[-1].log_id, "date": "yesterday"}
    promise.check_watermark()

    last = standin.add_event(api_event("post", "/api/v2/users"))  # a run after a watermark with no usable date
    promise.expect([last.log_id])
    run = run_dag()
    assert run.state == "success", states(run)
    assert stored_watermark()["log_id"] == last.log_id
    promise.settle(duplicates=0)
