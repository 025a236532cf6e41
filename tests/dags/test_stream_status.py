"""The on-call view of the stream, on a real Airflow: the status page in a browser, its security, metrics, alerts.

One stack (LocalExecutor) for the module, with a StatsD listener and a local SMTP server as the alert
channel. The tests tell one story, in order, as the dead-letter suite's do: an event the receiver
refuses is parked, another one fails, the page shows both as the receiver saw them, the metrics
arrive, and then each incident is announced once and cleared once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from alert_channel import SmtpChannel
from auth0_provider import metrics
from auth0_provider.events import log_id_key, parse_date
from auth0_provider.health import TITLES
from auth0_provider.names import (
    ALERTS_DAG_ID,
    ATTEMPT_KEY,
    DAG_ID,
    DEAD_LETTER_INDEX,
    STATUS_URL_PREFIX,
    WATERMARK_VARIABLE,
)
from auth0_provider.records import AUTH0_REFUSED, RETENTION_GAP
from tests.airflow_stack import Stack, unpaused_stack
from tests.browser import browser_page, screenshot
from tests.faults.promise import Promise
from tests.statsd_listener import StatsdListener
from tests.support import user_creations

pytestmark = pytest.mark.scheduler
AFTER = 20  # seconds: AUTH0_WEBHOOKS_DEAD_LETTER_AFTER
ALERT_AFTER = 60  # seconds: AUTH0_WEBHOOKS_ALERT_AFTER
ALERT_CONN = "auth0_alerts"
REFUSED, UNAVAILABLE = 422, 503
# The README's picture: rewritten only when asked (make screenshot), so that a test run leaves the tree clean.
SCREENSHOT = "STATUS_PAGE_SCREENSHOT"
WAIT = 30_000  # ms, for anything the page shows


@dataclass
class Story:
    stack: Stack
    channel: SmtpChannel
    statsd: StatsdListener
    passwords: dict[str, str]  # by user: admin, and viewer (may read the DAG, not trigger it)
    events: list[str]  # log ids, in order
    parked: str  # refused for good: parked in the dead-letter store
    failing: str  # answered 503: the latest run failed on it
    blocked_at: float = 0.0  # when the runs that fail on it began

    @property
    def base_url(self) -> str:
        return self.stack.api.base_url

    def run(self, conf: dict | None = None) -> str:
        return self.stack.wait(self.stack.trigger(conf))

    def check_alerts(self) -> str:
        """What the 5-minute schedule of the alerts DAG does, now."""
        api = self.stack.api
        body = {"logical_date": datetime.now(UTC).isoformat(), "conf": {}}
        run_id = api.trigger(ALERTS_DAG_ID, body)
        state = api.wait_for_run(ALERTS_DAG_ID, run_id, 120, every=2)
        if state != "success":
            where = self.stack.home / "logs" / f"dag_id={ALERTS_DAG_ID}" / f"run_id={run_id}"
            print("".join(path.read_text() for path in sorted(where.rglob("*.log"))))
        return state

    def subjects(self) -> list[str]:
        return [mail.subject for mail in self.channel.messages()]


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Iterator[Story]:
    home: Path = tmp_path_factory.mktemp("airflow-home")
    with SmtpChannel() as channel, StatsdListener() as statsd:
        settings = {
            "AUTH0_WEBHOOKS_DELIVERY_RETRIES": "0",
            "AUTH0_WEBHOOKS_DEAD_LETTER_AFTER": f"{AFTER}s",
            "AUTH0_WEBHOOKS_ALERT_CONN_ID": ALERT_CONN,
            "AUTH0_WEBHOOKS_ALERT_AFTER": f"{ALERT_AFTER}s",
            f"AIRFLOW_CONN_{ALERT_CONN.upper()}": channel.connection_uri(),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        }
        with unpaused_stack(home, settings) as stack:
            stack.api.wait_for_dag(ALERTS_DAG_ID, 120)
            stack.quiet(240)
            passwords = json.loads((home / "simple_auth_manager_passwords.json").read_text())
            yield _story(Story(stack, channel, statsd, passwords, [], "", ""))


def _story(story: Story) -> Story:
    """Three events, the second refused for good: parked. Then two more, the first answered 503."""
    stack, receiver = story.stack, story.stack.receiver
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    first = [event.log_id for event in user_creations(stack.standin, start, 3, timedelta(minutes=1))]
    receiver.refuse_log_ids[first[1]] = REFUSED
    receiver.hang[first[2]] = 2.0  # answered after the refusal: another delivery succeeded meanwhile
    assert story.run() == "failed"
    refused_at = min(r.received_at for r in receiver.requests if r.status == REFUSED)
    time.sleep(max(0.0, refused_at + AFTER + 1 - time.time()))
    assert story.run() == "success"
    assert stack.watermark() == first[2]

    later = [
        event.log_id for event in user_creations(stack.standin, start + timedelta(minutes=10), 2, timedelta(minutes=5))
    ]
    receiver.fail_keys[later[0]] = UNAVAILABLE
    story.blocked_at = time.time()  # this run starts from the watermark again, and fails
    assert story.run() == "failed"
    story.events, story.parked, story.failing = first + later, first[1], later[0]
    return story


def accepted_and_committed(story: Story) -> set[str]:
    """The log ids the receiver accepted up to the watermark: those whose runs committed."""
    mark = log_id_key(story.stack.watermark())
    return {log_id for log_id in story.stack.receiver.delivered_log_ids() if log_id_key(log_id) <= mark}


def test_the_status_page_shows_the_lag_deliveries_a_failure_and_a_dead_letter_as_the_receiver_saw_them(story, tmp_path):
    standin = {event.log_id: event for event in story.stack.standin.events}
    newest, watermark = standin[story.events[-1]], standin[story.stack.watermark()]
    lag = parse_date(newest.date) - parse_date(watermark.date)

    with browser_page(story.base_url, "admin", story.passwords["admin"]) as page:
        page.goto(f"{story.base_url}/plugin/auth0-webhooks")  # the UI's navigation entry: the page inside the UI
        frame = page.frame_locator("iframe")
        expect(frame.get_by_test_id("state")).to_have_text("failing", timeout=WAIT)
        shot = screenshot(page, os.environ.get(SCREENSHOT) or tmp_path / "status-page.png", full_page=False)
        assert shot.stat().st_size > 10_000

        page.goto(f"{story.base_url}{STATUS_URL_PREFIX}/")
        assert page.get_by_test_id("lag").get_attribute("data-seconds") == str(int(lag.total_seconds()))
        assert int(page.get_by_test_id("delivered").inner_text()) == len(accepted_and_committed(story)) == 2
        newest_failure = page.get_by_test_id("failures").locator("tr").nth(1)  # under the header
        expect(newest_failure).to_contain_text(story.failing)
        expect(newest_failure.get_by_test_id("failure-status")).to_have_text(str(UNAVAILABLE))
        expect(page.get_by_test_id("failures")).to_contain_text(story.parked)  # refused (422) before it was parked
        expect(page.get_by_test_id("dead-letter")).to_have_text([story.parked])
        expect(page.get_by_test_id("dead-letter-count")).to_have_text("1")
        assert int(page.get_by_test_id("auth0-requests").inner_text()) > 0
        expect(page.get_by_test_id("reason")).to_contain_text(f"the receiver answered {UNAVAILABLE}")

        story.stack.receiver.refuse_log_ids.clear()  # the receiver takes it now: Redeliver
        page.locator(f"button[data-redeliver='{story.parked}']").click()
        expect(page.get_by_test_id("redeliver-result")).to_contain_text("triggered", timeout=WAIT)
        run_id = page.get_by_test_id("redeliver-result").inner_text().split()[2]
        assert story.stack.wait(run_id) == "success"
        assert story.parked in story.stack.receiver.delivered_log_ids()
        page.reload()
        expect(page.get_by_test_id("dead-letter-count")).to_have_text("0")


def _routes() -> list[tuple[str, str]]:
    from auth0_provider.status_page import create_app

    return [(method, route.path) for route in create_app().routes for method in sorted(route.methods)]


def test_every_route_of_the_status_page_refuses_an_anonymous_request_and_redeliver_needs_trigger_rights(story):
    routes = _routes()
    assert ("GET", "/") in routes and ("POST", "/api/redeliver") in routes
    for method, path in routes:
        answer = requests.request(
            method, f"{story.base_url}{STATUS_URL_PREFIX}{path}", json={"log_ids": "all"}, timeout=30
        )
        assert answer.status_code in (401, 403), f"{method} {path} answered {answer.status_code} to anyone"
    for path in ("/docs", "/openapi.json", "/redoc"):  # FastAPI's own, open unless turned off
        answer = requests.get(f"{story.base_url}{STATUS_URL_PREFIX}{path}", timeout=30)
        assert answer.status_code in (401, 403, 404), f"{path} answered {answer.status_code}"

    token = requests.post(
        f"{story.base_url}/auth/token", json={"username": "viewer", "password": story.passwords["viewer"]}, timeout=30
    ).json()["access_token"]
    as_viewer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{story.base_url}{STATUS_URL_PREFIX}/api/status", headers=as_viewer, timeout=30).ok
    refused = requests.post(
        f"{story.base_url}{STATUS_URL_PREFIX}/api/redeliver", json={"log_ids": "all"}, headers=as_viewer, timeout=30
    )
    assert refused.status_code == 403


def test_no_secret_reaches_the_status_page_or_its_api(story):
    answer = story.stack.api.session.get(f"{story.base_url}{STATUS_URL_PREFIX}/api/status", timeout=30)
    page = story.stack.api.session.get(f"{story.base_url}{STATUS_URL_PREFIX}/", timeout=30)
    secrets = [story.stack.standin.client_secret, story.stack.receiver.secret.removeprefix("whsec_")]
    secrets += story.stack.standin.issued_tokens
    for text in (answer.text, page.text):
        assert not [secret for secret in secrets if secret and secret in text]


def test_the_metrics_arrive_at_a_statsd_listener(story):
    story.stack.standin.inject("/api/v2/logs", 429, headers={"x-ratelimit-reset": str(int(time.time()) + 1)})
    story.run()
    for name in (metrics.EVENTS_DELIVERED, metrics.DELIVERIES_FAILED, metrics.EVENTS_PARKED, metrics.AUTH0_REQUESTS):
        assert story.statsd.wait_for(f"airflow.{name}", timeout=30), f"{name} never arrived"
    assert story.statsd.wait_for(f"airflow.{metrics.LAG_SECONDS}", timeout=30)
    assert story.statsd.wait_for(f"airflow.{metrics.RATE_LIMIT_WAITS}", timeout=30)


def test_each_alert_reaches_the_channel_once_when_its_incident_opens_and_once_when_it_clears(story):
    stack, receiver, standin = story.stack, story.stack.receiver, story.stack.standin
    subject = {kind: f"[{DAG_ID}] {title}" for kind, title in TITLES.items()}
    cleared = {kind: f"[{DAG_ID}] cleared: {title}" for kind, title in TITLES.items()}

    # blocked: runs have started from the watermark for longer than ALERT_AFTER, on the 503
    receiver.refuse_log_ids.clear()
    if stack.asset_state(DEAD_LETTER_INDEX):  # still parked when the page's test did not redeliver it
        assert story.run({"redeliver": "all"}) == "success"
    time.sleep(max(0.0, story.blocked_at + ALERT_AFTER + 1 - time.time()))
    assert story.check_alerts() == "success"
    story.channel.wait_for(1, timeout=30)
    assert story.subjects() == [subject["blocked"]]
    assert story.failing in story.channel.messages()[0].body

    # the 503 becomes a refusal, parked (a new event delivered meanwhile): the block clears, the dead letter opens
    receiver.fail_keys.clear()
    receiver.refuse_log_ids[story.failing] = REFUSED
    (meanwhile,) = user_creations(standin, datetime.now(UTC) - timedelta(minutes=5), 1)
    receiver.hang[meanwhile.log_id] = 2.0
    story.run()
    time.sleep(AFTER + 1)
    assert story.run() == "success"
    story.check_alerts()
    story.channel.wait_for(3, timeout=30)
    assert sorted(story.subjects()[1:]) == sorted([cleared["blocked"], subject["parked"]])

    # Auth0 refuses our client secret
    secret = standin.client_secret
    standin.client_secret = "rotated-in-auth0"
    standin.expire_tokens()
    assert story.run() == "failed"
    story.check_alerts()
    story.channel.wait_for(4, timeout=30)
    assert story.subjects()[3] == subject[AUTH0_REFUSED]
    standin.client_secret = secret
    assert story.run() == "success"

    # the dead letter is redelivered; then the watermark's log is gone: a retention gap
    receiver.refuse_log_ids.clear()
    assert story.run({"redeliver": "all"}) == "success"
    mark = stack.api.call("GET", f"/variables/{WATERMARK_VARIABLE}")["value"]
    aged = datetime.now(UTC) - timedelta(days=3)
    gone = json.dumps({"log_id": "90020" + "0" * 51, "date": aged.isoformat().replace("+00:00", "Z")})
    stack.api.call("PATCH", f"/variables/{WATERMARK_VARIABLE}", json={"key": WATERMARK_VARIABLE, "value": gone})
    assert story.run() == "failed"
    story.check_alerts()
    story.channel.wait_for(7, timeout=30)
    assert sorted(story.subjects()[4:]) == sorted([cleared[AUTH0_REFUSED], cleared["parked"], subject[RETENTION_GAP]])

    stack.api.call("PATCH", f"/variables/{WATERMARK_VARIABLE}", json={"key": WATERMARK_VARIABLE, "value": mark})
    assert story.run() == "success"
    story.check_alerts()
    story.channel.wait_for(8, timeout=30)
    assert story.subjects()[7] == cleared[RETENTION_GAP]

    story.check_alerts()  # nothing open, nothing new: silence
    time.sleep(2)
    assert len(story.subjects()) == 8
    assert all(story.subjects().count(s) == 1 for s in story.subjects())


def test_runs_that_fail_before_they_begin_reading_are_told_as_blocked_and_cleared_once_one_commits(story, request):
    """Any run that does not commit counts toward "blocked", whichever task stopped it. Here the watermark
    Variable is broken, so the fetch fails before it begins an attempt, as a stream's read_logs that fails, or a
    task whose pool is missing, never begins one. Told once ALERT_AFTER (60 s) has passed since the alerts last
    saw a commit; cleared by the next run that commits."""
    stack, api = story.stack, story.stack.api
    promise = Promise(request.node.originalname, stack.receiver.delivered_log_ids, stack.watermark)
    stack.receiver.fail_keys.clear()  # the story's 503, when the tests before did not take it away
    stack.receiver.refuse_log_ids.clear()
    assert story.run() == "success"
    assert story.check_alerts() == "success"  # the alerts see this commit
    seen = len(story.subjects())
    mark = api.call("GET", f"/variables/{WATERMARK_VARIABLE}")["value"]
    waiting = [event.log_id for event in user_creations(stack.standin, datetime.now(UTC) - timedelta(minutes=1), 1)]
    promise.expect(waiting)

    broken_at = time.time()
    api.call("PATCH", f"/variables/{WATERMARK_VARIABLE}", json={"key": WATERMARK_VARIABLE, "value": "not json"})
    assert story.run() == "failed"
    assert stack.asset_state(ATTEMPT_KEY) is None  # no attempt began: the old rule saw nothing
    page = stack.api.session.get(f"{story.base_url}{STATUS_URL_PREFIX}/api/status", timeout=30).json()
    assert broken_at - 5 <= datetime.fromisoformat(page["uncommitted_since"]).timestamp() <= time.time()
    time.sleep(max(0.0, broken_at + ALERT_AFTER + 1 - time.time()))
    assert story.check_alerts() == "success"
    story.channel.wait_for(seen + 1, timeout=30)
    blocked = story.channel.messages()[seen]
    assert blocked.subject == f"[{DAG_ID}] {TITLES['blocked']}"
    assert "none began reading" in blocked.body

    api.call("PATCH", f"/variables/{WATERMARK_VARIABLE}", json={"key": WATERMARK_VARIABLE, "value": mark})
    assert story.run() == "success"
    assert story.check_alerts() == "success"
    story.channel.wait_for(seen + 2, timeout=30)
    assert story.subjects()[seen + 1] == f"[{DAG_ID}] cleared: {TITLES['blocked']}"
    promise.settle(duplicates=0)
