"""The example receiver users copy: it verifies with standardwebhooks and deduplicates each event on its log_id."""

from __future__ import annotations

import json

import pytest
import requests

from auth0_provider import signing
from example_receiver import ExampleReceiver

SECRET = signing.generate_signing_secret()


@pytest.fixture
def example():
    events: list = []
    with ExampleReceiver(SECRET, events.append) as server:
        server.events = events
        yield server


def post(server: ExampleReceiver, body: bytes, msg_id: str = "900", secret: str = SECRET) -> requests.Response:
    headers = {"Content-Type": "application/json", **signing.signature_headers(msg_id, body, [secret])}
    return requests.post(server.url, data=body, headers=headers, timeout=5)


def test_a_signed_event_is_accepted_once_and_a_duplicate_is_acknowledged(example):
    body = json.dumps({"log_id": "900", "type": "sapi"}).encode()
    assert post(example, body).json() == {"status": "accepted"}
    again = post(example, body)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate, already processed"})
    assert example.events == [{"log_id": "900", "type": "sapi"}]


@pytest.mark.parametrize("tamper", ["body", "secret", "unsigned"])
def test_anything_not_signed_by_us_is_refused(example, tamper):
    body = b'{"log_id":"900"}'
    if tamper == "body":
        headers = signing.signature_headers("900", body, [SECRET])
        answer = requests.post(example.url, data=b'{"log_id":"901"}', headers=headers, timeout=5)
    elif tamper == "secret":
        answer = post(example, body, secret=signing.generate_signing_secret())
    else:
        answer = requests.post(example.url, data=body, headers={"webhook-id": "900"}, timeout=5)
    assert answer.status_code == 401
    assert example.events == []


def test_a_failure_to_store_is_answered_500_and_not_marked_seen():
    def store(event: object) -> None:
        raise OSError("disk full")

    with ExampleReceiver(SECRET, store) as server:
        assert post(server, b'{"log_id":"900"}').status_code == 500
        assert server.receiver.seen == set()


def test_an_event_that_comes_back_in_another_batch_is_stored_once(example):
    """A replayed or regrown batch has another webhook-id; the events in it are still the same."""
    first = [{"log_id": "901"}, {"log_id": "902"}]
    assert post(example, json.dumps(first).encode(), msg_id="batch_a").json() == {"status": "accepted"}
    grown = [{"log_id": "902"}, {"log_id": "903"}]
    assert post(example, json.dumps(grown).encode(), msg_id="batch_b").json() == {"status": "accepted 1 new of 2"}
    assert post(example, json.dumps(grown).encode(), msg_id="batch_c").json() == {
        "status": "duplicate, already processed"
    }
    assert example.events == [{"log_id": "901"}, {"log_id": "902"}, {"log_id": "903"}]


def test_log_stream_elements_are_deduplicated_on_their_log_id_too(example):
    element = {"log_id": "904", "data": {"log_id": "904", "type": "sapi"}}
    assert post(example, json.dumps([element]).encode(), msg_id="batch_x").json() == {"status": "accepted"}
    assert post(example, json.dumps([element]).encode(), msg_id="904").json() == {
        "status": "duplicate, already processed"
    }
    assert example.events == [element]


def test_a_legacy_body_without_log_ids_is_deduplicated_on_the_webhook_id(example):
    legacy = {"date": "2026-11-30T12:00:00.000Z", "request": {"method": "post"}}
    assert post(example, json.dumps(legacy).encode(), msg_id="905").json() == {"status": "accepted"}
    assert post(example, json.dumps(legacy).encode(), msg_id="905").json() == {"status": "duplicate, already processed"}
    assert post(example, json.dumps(legacy).encode(), msg_id="906").json() == {"status": "accepted"}
