"""The test receiver's fault knobs: a reply cut off mid-body, and a hang past the sender's timeout."""

from __future__ import annotations

import time

import pytest
import requests

import local_airflow
from webhook_receiver import WebhookReceiver


def post(receiver: WebhookReceiver, key: str, timeout: float = 5) -> requests.Response:
    return requests.post(receiver.url, data=b'{"log_id":"1"}', headers={"Idempotency-Key": key}, timeout=timeout)


def test_a_reply_longer_than_sent_is_cut_off_after_the_request_was_recorded(plain_receiver):
    plain_receiver.script["k"] = [(200, {"Content-Length": "1000"})]
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        post(plain_receiver, "k")
    assert [d.key for d in plain_receiver.deliveries] == ["k"]
    assert post(plain_receiver, "k").json() == {"ok": True}  # the script is used up: a whole reply again


def test_a_hang_outlasts_the_read_timeout_and_the_request_still_arrives(plain_receiver):
    """The client gives up at its 0.2 s read timeout, about 0.2 s on an idle machine, and the receiver still
    hangs: the 4 s bound is 20 times that, and the hang (5 s) outlasts it, so a busy machine reaches neither."""
    plain_receiver.hang["k"] = 5.0
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(plain_receiver, "k", timeout=0.2)
    assert time.monotonic() - started < 4
    assert post(plain_receiver, "other").ok  # only that key hangs
    assert plain_receiver.in_flight == 1  # still hanging on "k"
    local_airflow.wait_until(lambda: plain_receiver.in_flight == 0, 30, "the hung request answered")
    assert [d.key for d in plain_receiver.deliveries] == ["other", "k"]
