"""End to end with ``dag.test()``: the real DAG file against the Auth0 stand-in and a receiver."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
import requests
from airflow.models.asset import AssetEvent
from airflow.models.variable import Variable as VariableModel
from airflow.utils.session import create_session
from sqlalchemy import select

from auth0_provider.ledger import StreamLedger
from auth0_provider.names import COMMIT_TASK, DELIVER_TASK, DRAIN_TASK, FETCH_TASK, PREFETCH_TASK, read_ahead_variable
from auth0_provider.watermark import WatermarkStore
from auth0_standin import load_fixture_lines
from tests.dags.conftest import WATERMARK, states, stored_watermark
from tests.support import api_event, expected_body, fixture_event, user_events


def test_matching_events_arrive_byte_for_byte_and_nothing_else(standin, receiver, run_dag):
    wanted = [
        standin.add_event(api_event("post", "/api/v2/users")),
        standin.add_event(api_event("patch", "/api/v2/users/auth0|42?fields=email")),
        standin.add_event(api_event("patch", "/api/v2/connections/con_1")),
        standin.add_event(api_event("delete", "/api/v2/users/auth0|7", type="fapi")),
    ]
    unwanted = [
        standin.add_event(api_event("get", "/api/v2/users-by-email")),
        standin.add_event(api_event("post", "/api/v2/clients")),
        standin.add_event(fixture_event("s")),
        standin.add_event(fixture_event("ss")),
    ]
    last = standin.add_event(fixture_event("slo"))  # filtered out, yet the watermark must pass it

    dag_run = run_dag(api_endpoints="users, connections", start_from="oldest")

    assert dag_run.state == "success", states(dag_run)
    by_key = {d.key: d for d in receiver.deliveries}
    assert sorted(by_key) == sorted(e.log_id for e in wanted)
    for event in wanted:
        delivery = by_key[event.log_id]
        assert delivery.body == event.raw.encode()
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.path == "/hooks/auth0"
    assert not {e.log_id for e in unwanted} & set(by_key)
    assert stored_watermark() == {"log_id": last.log_id, "date": last.date}
    labels = sorted(ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == DELIVER_TASK)
    assert labels == sorted(
        f"{e.log_id} {json.loads(e.raw)['type']} {json.loads(e.raw)['details']['request']['method'].upper()} "
        f"{json.loads(e.raw)['details']['request']['path']}"
        for e in wanted
    )


def test_a_run_with_no_match_still_advances_the_watermark(standin, receiver, run_dag):
    standin.add_event(fixture_event("s"))
    last = standin.add_event(fixture_event("seacft"))
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    assert receiver.deliveries == []
    assert states(dag_run)["commit_watermark[-1]"] == "success"
    assert stored_watermark()["log_id"] == last.log_id

    dag_run = run_dag()  # nothing new at all: still a clean run, watermark unchanged
    assert dag_run.state == "success", states(dag_run)
    assert stored_watermark()["log_id"] == last.log_id


def test_a_failed_delivery_holds_the_watermark_until_a_later_run_delivers(standin, receiver, run_dag):
    first = standin.add_event(api_event("post", "/api/v2/users"))
    run_dag()
    assert stored_watermark()["log_id"] == first.log_id

    ok = standin.add_event(api_event("post", "/api/v2/users"))
    bad = standin.add_event(api_event("patch", "/api/v2/users/auth0|1"))
    receiver.fail_keys[bad.log_id] = 500
    dag_run = run_dag()
    assert dag_run.state == "failed"
    assert states(dag_run)["commit_watermark[-1]"] == "upstream_failed"
    assert stored_watermark()["log_id"] == first.log_id
    assert bad.log_id not in receiver.delivered_keys()

    receiver.fail_keys.clear()
    newer = standin.add_event(api_event("delete", "/api/v2/users/auth0|1"))
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    assert {ok.log_id, bad.log_id, newer.log_id} <= set(receiver.delivered_keys())
    assert stored_watermark()["log_id"] == newer.log_id


def test_event_content_is_never_rendered(standin, receiver, run_dag):
    hostile = api_event(
        "post",
        "/api/v2/users/{{ conn.auth0_default.password }}",
        description="{{ conn.auth0_default.password }} {% for x in range(3) %}{{ x }}{% endfor %} {# c #}",
        user_name="{{ var.value.auth0_webhooks_watermark }} \u202e\u0000 \U0001f600 Zoë 日本",
        details_note="{% raw %}" + "x" * 1_000_000,
    )
    event = standin.add_event(hostile)
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    (delivery,) = receiver.deliveries
    assert delivery.body == event.raw.encode()
    assert standin.client_secret.encode() not in delivery.body


def test_the_access_token_is_reused_across_runs(standin, receiver, run_dag):
    for _ in range(3):
        standin.add_event(api_event("post", "/api/v2/users"))
        assert run_dag().state == "success"
    assert len(receiver.deliveries) == 3
    assert standin.tokens_issued == 1


def test_start_from_now_skips_history(standin, receiver, run_dag):
    standin.seed_fixtures()
    dag_run = run_dag(start_from="now")
    assert dag_run.state == "success", states(dag_run)
    assert receiver.deliveries == []
    new = standin.add_event(api_event("post", "/api/v2/users"))
    run_dag(start_from="now")
    assert receiver.delivered_keys() == [new.log_id]


def test_a_backlog_larger_than_one_run_drains_over_runs_without_loss(standin, receiver, run_dag):
    events = user_events(standin, 25)
    for expected_total, follow_up in ((10, "success"), (20, "success"), (25, "skipped")):
        dag_run = run_dag(max_events=10)
        assert dag_run.state == "success"
        assert len(receiver.deliveries) == expected_total
        assert states(dag_run)["drain_backlog[-1]"] == follow_up  # a capped run asks for the next one now
    assert sorted(receiver.delivered_keys()) == sorted(e.log_id for e in events)
    assert stored_watermark()["log_id"] == events[-1].log_id


def test_a_caught_up_run_skips_the_read_ahead_without_starting_it(standin, receiver, run_dag):
    standin.add_event(api_event("post", "/api/v2/users"))
    dag_run = run_dag()
    assert dag_run.state == "success"
    tis = {ti.task_id: ti for ti in dag_run.get_task_instances() if ti.map_index == -1}
    assert tis[PREFETCH_TASK].state == "skipped"
    assert (tis[PREFETCH_TASK].try_number, tis[PREFETCH_TASK].pid) == (0, None)  # it never ran
    assert tis[DRAIN_TASK].state == "skipped"  # it ran: as a leaf after the commit it fails the run
    # when a delivery fails (upstream_failed), which a skip decided up front would hide


def test_the_next_run_delivers_the_read_ahead_without_reading_again(standin, receiver, run_dag):
    events = user_events(standin, 25)
    first = run_dag(max_events=10)
    assert states(first)["prefetch_next[-1]"] == "success"  # read events 11-20 while 1-10 were delivered
    # Auth0 refuses the next read: the next run's fetch must not need one, and its own failed
    # read-ahead must not fail a run whose deliveries all succeeded
    for _ in range(2):  # the hook renews its token once on a 403 before it believes it
        standin.inject("/api/v2/logs", 403, b'{"statusCode":403,"error":"Forbidden","message":"Insufficient scope"}')
    second = run_dag(max_events=10)
    assert second.state == "success", states(second)
    assert states(second)["prefetch_next[-1]"] == "skipped"
    assert standin.injected == []  # the read-ahead, not the fetch, got the 403
    assert sorted(receiver.delivered_keys()) == sorted(e.log_id for e in events[:20])
    assert stored_watermark()["log_id"] == events[19].log_id
    third = run_dag(max_events=10)  # nothing was read ahead from event 20: it reads
    assert third.state == "success", states(third)
    assert sorted(receiver.delivered_keys()) == sorted(e.log_id for e in events)
    assert stored_watermark()["log_id"] == events[-1].log_id


def test_a_read_ahead_after_a_failed_run_is_not_taken_and_nothing_is_lost(standin, receiver, run_dag):
    events = user_events(standin, 25)
    run_dag(max_events=10)  # delivers 1-10, reads 11-20 ahead
    receiver.fail_keys[events[12].log_id] = 500
    failed = run_dag(max_events=10)  # takes 11-20, one fails: no commit; yet it read 21-25 ahead
    assert failed.state == "failed"
    assert states(failed)["prefetch_next[-1]"] == "success"
    assert stored_watermark()["log_id"] == events[9].log_id
    receiver.fail_keys.clear()
    assert run_dag(max_events=10).state == "success"  # must start again at 11, not take 21-25
    assert events[12].log_id in receiver.delivered_keys()
    assert stored_watermark()["log_id"] == events[19].log_id
    assert run_dag(max_events=10).state == "success"
    assert set(receiver.delivered_keys()) == {e.log_id for e in events}
    assert stored_watermark()["log_id"] == events[-1].log_id


def test_events_after_a_backlog_that_ended_exactly_at_a_chunk_are_delivered(standin, receiver, run_dag):
    """The last chunk fills the cap, so its read-ahead finds nothing; that must not hold the next runs."""
    events = user_events(standin, 20)
    run_dag(max_events=10)
    caught_up = run_dag(max_events=10)
    assert states(caught_up)["prefetch_next[-1]"] == "skipped"  # it read nothing after event 20
    later = standin.add_event(api_event("post", "/api/v2/users/auth0|later"))
    for _ in range(2):
        assert run_dag(max_events=10).state == "success"
    assert sorted(receiver.delivered_keys()) == sorted(e.log_id for e in [*events, later])
    assert stored_watermark()["log_id"] == later.log_id


@pytest.mark.parametrize("pointer", ["not json", '["a list"]', '{"run_id": "nope", "task_id": "x", "start": "1"}'])
def test_a_read_ahead_pointer_edited_by_hand_only_means_reading(standin, receiver, run_dag, pointer):
    events = user_events(standin, 3)
    VariableModel.set(WATERMARK, json.dumps({"log_id": events[0].log_id, "date": None}))
    VariableModel.set(read_ahead_variable(WATERMARK), pointer.replace('"1"', f'"{events[0].log_id}"'))
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    assert sorted(receiver.delivered_keys()) == sorted(e.log_id for e in events[1:])


def test_a_watermark_shadowed_by_the_environment_fails_clearly(standin, receiver, run_dag, monkeypatch, capfd):
    standin.add_event(api_event("post", "/api/v2/users"))
    monkeypatch.setenv("AIRFLOW_VAR_AUTH0_WEBHOOKS_WATERMARK", '{"log_id": "1"}')
    dag_run = run_dag()
    assert dag_run.state == "failed"
    assert receiver.deliveries == []
    assert "AIRFLOW_VAR_AUTH0_WEBHOOKS_WATERMARK shadows the watermark" in capfd.readouterr().out


def test_a_missing_webhook_connection_fails_naming_it(standin, receiver, run_dag, monkeypatch, capfd):
    standin.add_event(api_event("post", "/api/v2/users"))
    monkeypatch.delenv("AIRFLOW_CONN_AUTH0_WEBHOOK")
    dag_run = run_dag()
    assert dag_run.state == "failed"
    assert stored_watermark() is None
    assert "auth0_webhook" in capfd.readouterr().out


@pytest.mark.parametrize("failure", ["redirect", "refused"])
def test_redirects_and_refused_connections_are_failures_not_deliveries(
    standin, receiver, run_dag, monkeypatch, failure
):
    event = standin.add_event(api_event("post", "/api/v2/users"))
    if failure == "redirect":
        receiver.fail_keys[event.log_id] = 302  # requests would replay a redirected POST as a GET
    else:
        monkeypatch.setenv(
            "AIRFLOW_CONN_AUTH0_WEBHOOK", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9"})
        )
    dag_run = run_dag()
    assert dag_run.state == "failed"
    assert states(dag_run)["deliver[0]"] == "failed"
    assert stored_watermark() is None
    assert receiver.deliveries == []


def test_the_client_secret_and_the_token_never_reach_the_logs(standin, receiver, run_dag, capfd):
    standin.add_event(api_event("post", "/api/v2/users"))
    assert run_dag().state == "success"
    (token,) = standin.issued_tokens
    output = capfd.readouterr()
    assert "Obtained a new Auth0 access token" in output.out  # the task logs were captured
    for secret in (standin.client_secret, token):
        assert secret not in output.out + output.err


def test_start_from_a_log_id_delivers_only_what_follows_it(standin, receiver, run_dag):
    events = user_events(standin, 4)
    assert run_dag(start_from=events[1].log_id).state == "success"
    assert sorted(receiver.delivered_keys()) == [events[2].log_id, events[3].log_id]


def test_a_run_never_maps_more_than_airflow_allows(standin, receiver, run_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "5")
    events = user_events(standin, 8)
    assert run_dag().state == "success"
    assert sorted(receiver.delivered_keys()) == [e.log_id for e in events[:5]]
    assert stored_watermark()["log_id"] == events[4].log_id


def one_fixture_line_per_type() -> dict[str, str]:
    lines: dict[str, str] = {}
    for line in load_fixture_lines():
        lines.setdefault(json.loads(line)["type"], line)
    return lines


@pytest.mark.parametrize("payload", ["event", "legacy", "log_stream"])
def test_each_payload_format_arrives_byte_exact_and_signed(standin, receiver, run_dag, payload):
    lines = one_fixture_line_per_type()
    for line in lines.values():
        standin.add_raw(line)
    assert run_dag(payload=payload, log_types=",".join(lines)).state == "success"
    expected = {json.loads(line)["log_id"]: expected_body(payload, json.loads(line)) for line in lines.values()}
    assert {d.key: d.body.decode() for d in receiver.deliveries} == expected
    assert {d.verified for d in receiver.requests} == {"ok"}
    assert all(d.headers["webhook-id"] == d.key for d in receiver.deliveries)
    sent = receiver.deliveries[0]  # the same request with one byte changed is refused
    tampered = sent.body.replace(b'"date":"', b'"date":"1', 1)
    assert len(tampered) == len(sent.body) + 1 or tampered != sent.body
    assert requests.post(receiver.url, data=tampered, headers=sent.headers, timeout=5).status_code == 401


def test_410_gone_stops_at_once_and_commits_nothing(standin, receiver, run_dag, capfd):
    event = standin.add_event(api_event("post", "/api/v2/users"))
    receiver.fail_keys[event.log_id] = 410
    dag_run = run_dag(delivery_retries="2")
    assert dag_run.state == "failed"
    assert len(receiver.requests) == 1  # no retry, although two were allowed
    assert stored_watermark() is None
    assert "Webhook answered 410 Gone: the receiver asked us to stop sending" in capfd.readouterr().out


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_sets_when_the_retry_comes(standin, receiver, run_dag, status):
    """The retry comes after the receiver's Retry-After (3 s), not on the task's own backoff (30 to 60 s for a
    first retry): 3.2 to 3.3 s on an idle machine. The lower bound only grows on a busy machine; the upper,
    25 s, leaves 70 times the 0.3 s the retry itself takes there, and is still below the backoff's 30 s."""
    event = standin.add_event(api_event("post", "/api/v2/users"))
    receiver.script[event.log_id] = [(status, {"Retry-After": "3"})]
    assert run_dag(delivery_retries="1").state == "success"
    first, second = receiver.requests
    assert (first.status, second.status) == (status, 200)
    assert second.verified == "ok"
    assert 3 <= second.received_at - first.received_at < 25  # the task's own retry_delay is 30 s
    assert stored_watermark()["log_id"] == event.log_id


def expected_batch_id(log_ids: list[str]) -> str:
    return "batch_" + hashlib.sha256("\n".join(log_ids).encode()).hexdigest()[:40]


def test_batches_are_signed_json_arrays_in_log_id_order(standin, receiver, run_dag):
    events = user_events(standin, 25)
    dag_run = run_dag(batch_size="10")
    assert dag_run.state == "success"
    deliveries = sorted(receiver.deliveries, key=lambda d: json.loads(d.body)[0]["log_id"])  # sent concurrently
    batches = [[event["log_id"] for event in json.loads(d.body)] for d in deliveries]
    assert [len(b) for b in batches] == [10, 10, 5]
    assert [log_id for batch in batches for log_id in batch] == [e.log_id for e in events]
    assert [d.key for d in deliveries] == [expected_batch_id(b) for b in batches]
    assert {d.verified for d in receiver.requests} == {"ok"}
    labels = sorted(ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == DELIVER_TASK)
    assert labels[0] == f"{events[0].log_id}..{events[9].log_id} (10 events)"
    assert stored_watermark()["log_id"] == events[-1].log_id


def test_a_failed_batch_is_retried_whole_under_the_same_key(standin, receiver, run_dag):
    events = user_events(standin, 25)
    second = expected_batch_id([e.log_id for e in events[10:20]])
    receiver.fail_keys[second] = 500
    assert run_dag(batch_size="10").state == "failed"
    assert stored_watermark() is None
    (refused,) = [d for d in receiver.requests if d.key == second]

    receiver.fail_keys.clear()
    sent_before = len(receiver.requests)
    assert run_dag(batch_size="10").state == "success"  # the next run re-reads from the same watermark
    (retried,) = [d for d in receiver.deliveries if d.key == second]
    assert retried.body == refused.body  # the same ten events, in the same order
    assert receiver.requests[sent_before:] == [retried]  # the two others have receipts: not sent again
    assert stored_watermark()["log_id"] == events[-1].log_id


def receipts() -> list[dict]:
    """The extra of every event of the stream asset: each holds one delivery's receipt."""
    with create_session() as session:
        events = session.scalars(select(AssetEvent))
        return [dict(e.extra, source=(e.source_task_id, e.source_map_index)) for e in events]


def test_each_accepted_delivery_leaves_a_receipt_as_an_event_of_the_stream(standin, receiver, run_dag):
    events = user_events(standin, 3)
    refused = events[1].log_id
    receiver.fail_keys[refused] = 500
    assert run_dag().state == "failed"
    found = {r["receipt"]["key"]: r for r in receipts()}
    assert sorted(found) == [events[0].log_id, events[2].log_id]  # none for the refusal
    first = found[events[0].log_id]
    assert first["receipt"]["log_ids"] == [events[0].log_id] and first["receipt"]["status"] == 200
    assert first["source"] == (DELIVER_TASK, 0)
    assert datetime.fromisoformat(first["receipt"]["at"]) <= datetime.now(UTC)


def test_receipts_that_cannot_be_read_cost_duplicates_never_an_event(standin, receiver, run_dag, monkeypatch):
    events = user_events(standin, 4)
    receiver.fail_keys[events[2].log_id] = 500
    assert run_dag().state == "failed"
    receiver.fail_keys.clear()
    real = StreamLedger.receipts
    calls: list[str] = []

    def unreadable_for_the_fetch(ledger, since):
        calls.append(ledger.context["ti"].task_id)
        if ledger.context["ti"].task_id == FETCH_TASK:
            raise RuntimeError("the API server is down")
        return real(ledger, since)

    monkeypatch.setattr(StreamLedger, "receipts", unreadable_for_the_fetch)
    assert run_dag().state == "success"
    assert calls == [FETCH_TASK, COMMIT_TASK]  # the commit still checks every delivery
    # the 3 the first run delivered are sent again: duplicates, never a loss
    assert Counter(receiver.delivered_log_ids()) == {e.log_id: 1 if e is events[2] else 2 for e in events}
    assert stored_watermark()["log_id"] == events[-1].log_id


def test_a_read_ahead_that_cannot_be_kept_is_skipped_and_never_fails_a_delivered_run(
    standin, receiver, run_dag, monkeypatch
):
    events = user_events(standin, 15)
    note = WatermarkStore.note_read_ahead

    def metadata_db_refuses(*args, **kwargs):
        raise RuntimeError("the API server refused the write")

    monkeypatch.setattr(WatermarkStore, "note_read_ahead", metadata_db_refuses)  # after the chunk is read
    dag_run = run_dag(max_events=10)
    assert dag_run.state == "success", states(dag_run)
    assert states(dag_run)["prefetch_next[-1]"] == "skipped"
    assert stored_watermark()["log_id"] == events[9].log_id
    monkeypatch.setattr(WatermarkStore, "note_read_ahead", note)
    assert run_dag(max_events=10).state == "success"  # reads for itself: nothing was noted
    assert sorted(receiver.delivered_keys()) == sorted(e.log_id for e in events)


def fetch_xcoms(dag_run) -> dict[str, str]:
    """The fetch task's XComs of a run, by key, as stored (JSON text)."""
    from airflow.models.xcom import XComModel

    with create_session() as session:
        rows = session.execute(
            select(XComModel.key, XComModel.value).where(
                XComModel.run_id == dag_run.run_id, XComModel.task_id == FETCH_TASK
            )
        ).all()
    return {key: json.dumps(value) for key, value in rows}


def test_each_delivery_is_handed_a_small_reference_and_its_body_is_kept_in_a_page(standin, receiver, run_dag):
    events = [standin.add_event(api_event("post", f"/api/v2/users/auth0|{n}", note="n" * 5000)) for n in range(40)]
    dag_run = run_dag()
    assert dag_run.state == "success", states(dag_run)
    assert {d.key: d.body for d in receiver.deliveries} == {e.log_id: e.raw.encode() for e in events}
    stored = fetch_xcoms(dag_run)
    # what every mapped instance pulls whole: its key, its label and a page number, not 40 bodies
    assert len(stored["return_value"]) < 40 * 200
    assert "n" * 5000 not in stored["return_value"]
    pages = [key for key in stored if key.startswith("deliveries/")]
    assert len(pages) > 1, "40 events of 5 KB take several 64 KB pages"
    assert max(len(stored[key]) for key in pages) < 70 * 1024
    labels = sorted(ti.rendered_map_index for ti in dag_run.get_task_instances() if ti.task_id == DELIVER_TASK)
    assert labels == sorted(f"{e.log_id} sapi POST /api/v2/users/auth0|{n}" for n, e in enumerate(events))


def test_a_run_stops_at_its_byte_cap_and_an_event_larger_than_the_cap_is_delivered_alone(standin, receiver, run_dag):
    kb = 1024
    events = [
        standin.add_event(api_event("post", "/api/v2/users", note="a" * (400 * kb))),
        standin.add_event(api_event("post", "/api/v2/users", note="b" * (400 * kb))),
        standin.add_event(api_event("post", "/api/v2/users", note="c" * (1536 * kb))),  # over the 1 MB cap
        standin.add_event(api_event("post", "/api/v2/users", note="d")),
    ]
    expected_runs = [events[:2], events[2:3], events[3:]]
    for n, expected in enumerate(expected_runs):
        dag_run = run_dag(max_bytes_per_run="1MB", batch_size="10")
        assert dag_run.state == "success", states(dag_run)
        assert stored_watermark()["log_id"] == expected[-1].log_id, f"run {n + 1}"
        assert states(dag_run)[f"{DRAIN_TASK}[-1]"] == ("skipped" if n == 2 else "success"), f"run {n + 1}"
        last = receiver.deliveries[-1]
        assert last.body == ("[" + ",".join(e.raw for e in expected) + "]").encode(), f"run {n + 1}"
    assert len(receiver.deliveries) == 3
