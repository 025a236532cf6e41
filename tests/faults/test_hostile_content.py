"""Hostile and huge event content, on the real DAG run with ``dag.test()``: it must arrive byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from auth0_standin import Auth0StandIn, StoredEvent, iso_ms
from tests.dags.conftest import states
from tests.support import api_event

MB = 1024 * 1024


def with_request_body(body: str) -> dict:
    event = api_event("post", "/api/v2/users")
    event["details"]["request"]["body"] = body
    return event


def add_raw_text(standin: Auth0StandIn, event: dict, members: str) -> StoredEvent:
    """Store ``event`` with extra members written as raw JSON text (escapes no Python str can hold)."""
    moment = datetime.now(UTC)
    event = {**event, "date": iso_ms(moment), "log_id": standin.next_log_id(moment)}
    raw = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return standin.add_raw(f"{raw[:-1]},{members}}}")


def test_templates_nul_odd_unicode_and_a_2mb_body_arrive_byte_for_byte(standin, receiver, run_dag, promise):
    templates = "{{ conn.auth0_default.password }} {% for x in range(3) %}{{ x }}{% endfor %} {# c #} {{ var.json }}"
    odd = "a\u0000b \u202eevil\u202c \U0001f600\U0001f469\u200d\U0001f4bb e\u0301 Zoë 日本"  # NUL, RTL, ZWJ, combining
    events = [
        standin.add_event(with_request_body(templates)),
        standin.add_event(api_event("post", "/api/v2/users/{{ conn.auth0_default.password }}", note=templates)),
        standin.add_event(with_request_body(odd)),
        add_raw_text(standin, api_event("post", "/api/v2/users"), r'"lone":"\ud800 \udfff \u0000 \"{{ x }}\""'),
        standin.add_event(with_request_body("{% raw %}" + "x" * (2 * MB))),
    ]
    promise.expect(e.log_id for e in events)
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    bodies = {d.key: d.body for d in receiver.deliveries}
    for event in events:
        assert bodies[event.log_id] == event.raw.encode(), event.log_id
        assert standin.client_secret.encode() not in bodies[event.log_id]
    assert len(bodies[events[-1].log_id]) > 2 * MB
    promise.settle(duplicates=0)


def test_a_page_of_100_events_of_1mb_each_arrives_whole_in_runs_of_at_most_64_mb(standin, receiver, run_dag, promise):
    events = [standin.add_event(with_request_body(f"{i:03d}" + "y" * MB)) for i in range(100)]
    promise.expect(e.log_id for e in events)
    first = run_dag()
    assert first.state == "success", states(first)
    taken = len(receiver.deliveries)
    assert 60 <= taken < 64, "the first run stops at AUTH0_WEBHOOKS_MAX_BYTES_PER_RUN, 64 MB by default"
    second = run_dag()
    assert second.state == "success", states(second)
    bodies = {d.key: d.body for d in receiver.deliveries}
    assert [bodies.get(e.log_id) == e.raw.encode() for e in events] == [True] * 100
    promise.settle(duplicates=0)
