"""WebhookHook against real receivers on 127.0.0.1, signatures checked by the standardwebhooks package."""

from __future__ import annotations

import json
import socket
import time
from email.utils import formatdate

import pytest
import requests
from airflow.sdk._shared.secrets_masker import redact
from airflow.sdk.exceptions import AirflowFailException

from auth0_provider import signing
from auth0_provider.exceptions import (
    WebhookConfigError,
    WebhookDeliveryError,
    WebhookGone,
    WebhookRejected,
    WebhookRetryLater,
)
from auth0_provider.hooks.webhook import WebhookHook
from tests.support import FORM_ID, press_test_button, self_signed_certificate
from webhook_receiver import WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


@pytest.fixture
def connect(monkeypatch):
    """Point connection `auth0_webhook` at a receiver, with this password and extra."""

    def make(receiver: WebhookReceiver, password: str | None = None, **conn: object) -> WebhookHook:
        value = {"conn_type": "auth0_webhook", "host": receiver.url, "password": receiver.secret or ""}
        if password is not None:
            value["password"] = password
        value.update(conn)
        monkeypatch.setenv("AIRFLOW_CONN_AUTH0_WEBHOOK", json.dumps(value))
        return WebhookHook()

    return make


def send(hook: WebhookHook, body: str = '{"log_id":"1"}', msg_id: str = "90020211103020606888"):
    headers = {"Content-Type": "application/json", "Idempotency-Key": msg_id, "webhook-id": msg_id}
    return hook.run(data=body, headers=headers)


def test_a_signed_delivery_verifies_with_the_reference_library(receiver, connect):
    body = '{"log_id":"1","name":"Zoë {{ conn.x.password }} \\u0000 \U0001f600"}'
    send(connect(receiver), body)
    (delivery,) = receiver.requests
    assert delivery.verified == "ok"
    assert delivery.status == 200
    assert delivery.body == body.encode()
    assert delivery.headers["webhook-id"] == delivery.headers["idempotency-key"] == "90020211103020606888"


def test_every_secret_signs_so_keys_rotate_without_downtime(connect, monkeypatch):
    with WebhookReceiver(secret=OTHER_SECRET) as new_only, WebhookReceiver(secret=SECRET) as old_only:
        for receiver in (new_only, old_only):
            send(connect(receiver, password=f"{SECRET}  {OTHER_SECRET}"))
            (delivery,) = receiver.requests
            assert delivery.verified == "ok"
            assert len(delivery.headers["webhook-signature"].split(" ")) == 2


def test_a_body_changed_by_one_byte_fails_verification(receiver, connect):
    send(connect(receiver), '{"log_id":"1","a":"b"}')
    (delivery,) = receiver.requests
    tampered = delivery.body.replace(b'"b"', b'"c"')
    assert tampered != delivery.body
    replay = requests.post(receiver.url, data=tampered, headers=delivery.headers, timeout=5)
    assert replay.status_code == 401
    assert "No matching signature" in receiver.requests[-1].verified


def test_each_send_is_signed_at_send_time(receiver, connect, monkeypatch):
    """A retry a day later gets a fresh timestamp, so a receiver's 5-minute window accepts it."""
    hook = connect(receiver)
    real_clock = signing.clock
    monkeypatch.setattr(signing, "clock", lambda: real_clock() - 86400)
    with pytest.raises(WebhookDeliveryError, match="401"):
        send(hook)  # stamped a day ago: refused
    monkeypatch.setattr(signing, "clock", real_clock)
    send(hook)  # the same delivery again, re-signed now
    first, second = receiver.requests
    assert first.status == 401 and "too old" in first.verified
    assert second.verified == "ok"
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 86400 - 5


def test_without_a_secret_requests_go_unsigned(plain_receiver, connect):
    send(connect(plain_receiver))
    (delivery,) = plain_receiver.requests
    assert delivery.status == 200
    assert "webhook-signature" not in delivery.headers
    assert delivery.headers["webhook-id"] == "90020211103020606888"


def test_the_signing_secret_is_never_sent(plain_receiver, connect):
    send(connect(plain_receiver, password=f"{SECRET} {OTHER_SECRET}"))
    (delivery,) = plain_receiver.requests
    assert "authorization" not in delivery.headers  # HttpHook would have sent Basic auth
    sent = json.dumps(delivery.headers) + delivery.body.decode()
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in sent and secret.removeprefix("whsec_") not in sent


def test_a_login_is_refused_naming_the_connection(receiver, connect):
    with pytest.raises(WebhookConfigError, match="'auth0_webhook' has a login"):
        send(connect(receiver, login="user"))
    assert receiver.requests == []


def test_a_host_without_a_scheme_is_refused_not_sent_over_plain_http(receiver, connect):
    with pytest.raises(WebhookConfigError, match=r"'auth0_webhook': host '127\.0\.0\.1:\d+/hooks/auth0' has no scheme"):
        send(connect(receiver, host=receiver.url.removeprefix("http://")))
    assert receiver.requests == []
    send(connect(receiver, host=receiver.url.removeprefix("http://"), schema="http"))  # explicit: that is a choice
    assert len(receiver.deliveries) == 1


@pytest.mark.parametrize("password", ["sk_live_9f8e7d6c5b", "whsec_!!!!9f8e7d6c", f"{SECRET} whsec_"])
def test_a_malformed_secret_is_refused_without_quoting_it(receiver, connect, password):
    number = len(password.split())
    with pytest.raises(WebhookConfigError, match=f"'auth0_webhook': signing secret #{number}") as caught:
        send(connect(receiver, password=password))
    for part in password.split():
        assert part.removeprefix("whsec_") not in str(caught.value) or part == "whsec_"
    assert receiver.requests == []


def test_authorization_and_custom_headers_come_from_the_extra_and_are_masked(receiver, connect):
    extra = {"Authorization": "Bearer extra-token-8f7d6e", "X-Tenant": "acme"}
    send(connect(receiver, extra=json.dumps(extra)))
    (delivery,) = receiver.requests
    assert delivery.headers["authorization"] == "Bearer extra-token-8f7d6e"
    assert delivery.headers["x-tenant"] == "acme"
    assert "extra-token-8f7d6e" not in redact("sent Bearer extra-token-8f7d6e")


@pytest.mark.parametrize(
    ("status", "headers", "expected", "retry_after"),
    [
        (410, {}, WebhookGone, None),
        (429, {"Retry-After": "7"}, WebhookRetryLater, 7),
        (503, {"Retry-After": formatdate(usegmt=True)}, WebhookRetryLater, 0),
        (429, {}, WebhookDeliveryError, None),
        (503, {"Retry-After": "86400"}, WebhookRetryLater, 86400),
        (500, {}, WebhookDeliveryError, None),
        (302, {"Location": "http://127.0.0.1:9/elsewhere"}, WebhookDeliveryError, None),
        (400, {}, WebhookRejected, None),
        (422, {}, WebhookRejected, None),
        (413, {}, WebhookRejected, None),
        (401, {}, WebhookDeliveryError, None),
        (403, {}, WebhookDeliveryError, None),
        (404, {}, WebhookDeliveryError, None),
        (408, {}, WebhookDeliveryError, None),
    ],
)
def test_only_a_2xx_is_a_delivery(receiver, connect, status, headers, expected, retry_after):
    receiver.script["90020211103020606888"] = [(status, headers)]
    with pytest.raises(expected, match=str(status)) as caught:
        send(connect(receiver))
    assert type(caught.value) is expected
    if retry_after is not None:
        assert caught.value.retry_after == pytest.approx(retry_after, abs=1.5)
    assert isinstance(caught.value, AirflowFailException) == (status == 410)  # 410 is never retried
    assert receiver.deliveries == []
    assert len(receiver.requests) == 1  # a redirect is not followed


def test_a_refusal_of_the_content_carries_its_status_and_a_redacted_excerpt_of_the_answer(receiver, connect):
    receiver.echo_on_error = True
    receiver.script["90020211103020606888"] = [(422, {})]
    with pytest.raises(WebhookRejected, match="422 Unprocessable Entity, refusing this delivery") as caught:
        send(connect(receiver, extra=json.dumps({"Authorization": "Bearer s3cr3t-token"})))
    assert caught.value.status == 422
    assert '"ok": false' in caught.value.excerpt
    assert "s3cr3t-token" not in caught.value.excerpt


def test_a_2xx_cut_off_mid_body_is_not_a_delivery(receiver, connect):
    """The receiver got the request, but without a whole answer the sender cannot know it kept it."""
    receiver.script["90020211103020606888"] = [(200, {"Content-Length": "1000"})]
    with pytest.raises(WebhookDeliveryError, match="Webhook answer was cut off") as caught:
        send(connect(receiver))
    assert "sent again (by a retry or the next run) with the same Idempotency-Key 90020211103020606888" in str(
        caught.value
    )
    assert not isinstance(caught.value, AirflowFailException)  # retried
    assert len(receiver.deliveries) == 1


def test_the_connection_cannot_switch_the_status_check_off(receiver, connect):
    receiver.fail_keys["90020211103020606888"] = 500
    with pytest.raises(WebhookDeliveryError, match="500"):
        send(connect(receiver, extra=json.dumps({"check_response": False})))


@pytest.mark.parametrize("timeout", [0, -1, 301, "soon", [10], [10, 30, 5]])
def test_a_bad_timeout_is_refused_naming_the_connection(receiver, connect, timeout):
    with pytest.raises(WebhookConfigError, match="'auth0_webhook': extra 'timeout'"):
        send(connect(receiver, extra=json.dumps({"timeout": timeout})))


def test_the_read_timeout_from_the_extra_bounds_a_hung_receiver(receiver, connect):
    receiver.delay = 3.0
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(connect(receiver, extra=json.dumps({"timeout": [5, 0.5]})))


def test_https_certificates_are_verified_by_default(connect, tmp_path):
    certfile, keyfile = self_signed_certificate(tmp_path)
    with WebhookReceiver().use_tls(certfile, keyfile) as receiver:
        assert receiver.url.startswith("https://127.0.0.1:")
        with pytest.raises(requests.exceptions.SSLError):
            send(connect(receiver))
        assert receiver.requests == []
        send(connect(receiver, extra=json.dumps({"verify": certfile})))  # trust this CA explicitly
        assert len(receiver.deliveries) == 1


def test_an_error_body_that_echoes_the_authorization_is_redacted_in_the_exception(receiver, connect):
    receiver.echo_on_error = True
    receiver.fail_keys["90020211103020606888"] = 500
    with pytest.raises(WebhookDeliveryError, match="500") as caught:
        send(connect(receiver, extra=json.dumps({"Authorization": "Bearer echoed-token-1a2b3c"})))
    assert "echoed-token-1a2b3c" not in str(caught.value)
    assert '"authorization": "***"' in str(caught.value)


def test_a_token_in_the_url_path_or_query_is_masked_wherever_requests_quotes_it(connect, capfd):
    """Slack-style URLs carry their token in the path; others in the query. A refused connection makes
    requests quote both in its error, which HttpHook logs ("Tenacity will retry") and the task raises."""
    path_token, query_token = "T0ABC/B0DEF/xoxbPathToken8f7d6e5c", "queryToken9a8b7c6d"
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/services/{path_token}?token={query_token}"
    with pytest.raises(requests.ConnectionError) as caught:
        send(connect(WebhookReceiver(), host=url, password=""))
    output = capfd.readouterr()
    (logged,) = [line for line in (output.out + output.err).splitlines() if "Tenacity will retry" in line]
    for text in (logged, str(caught.value)):
        assert query_token in text and path_token in text  # what would leak without the mask
        assert query_token not in redact(text) and path_token not in redact(text)


def test_the_no_scheme_error_keeps_a_token_in_the_path_out_of_the_log(connect):
    host = "hooks.example.com/services/T0ABC/B0DEF/xoxbNoSchemeToken7f6e"
    with pytest.raises(WebhookConfigError, match="has no scheme") as caught:
        send(connect(WebhookReceiver(), host=host, password=""))
    assert "xoxbNoSchemeToken7f6e" in str(caught.value)  # as raised; the task log shows it redacted
    assert "xoxbNoSchemeToken7f6e" not in redact(str(caught.value))
    assert "hooks.example.com" in redact(str(caught.value))  # the host still says which receiver


# -- the UI's Test button: POST /api/v2/connections/test -----------------------------------------

PATH_TOKEN, QUERY_TOKEN = "T0ABC/B0DEF/xoxbPathToken8f7d6e5c", "queryToken9a8b7c6d"
UNSENT = "No event was sent, so the receiver's answer (its Authorization and signature checks) was not tried."


@pytest.fixture
def press_test(monkeypatch):
    def press(**form: object) -> tuple[bool, str]:
        return press_test_button(monkeypatch, conn_type="auth0_webhook", **form)

    return press


def closed_port() -> int:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_no_secrets(message: str) -> None:
    for secret in (SECRET, SECRET.removeprefix("whsec_"), PATH_TOKEN, QUERY_TOKEN, "url-password"):
        assert secret not in message


def test_the_test_button_reaches_a_receiver_over_http_and_sends_it_nothing(receiver, press_test):
    url = f"{receiver.url}/{PATH_TOKEN}?token={QUERY_TOKEN}"
    ok, message = press_test(host=url, password=SECRET, extra=json.dumps({"Authorization": "Bearer extra-tok-1"}))
    assert (ok, message) == (True, f"Reached {receiver.base_url.removeprefix('http://')} over plain http. {UNSENT}")
    assert receiver.requests == []  # not even a HEAD: nothing that could be taken for an event


def test_the_test_button_names_the_connection_when_the_port_refuses(press_test):
    port = closed_port()
    url = f"http://user:url-password@127.0.0.1:{port}/services/{PATH_TOKEN}?token={QUERY_TOKEN}"
    ok, message = press_test(host=url, password=SECRET)
    assert not ok
    assert message == (
        f"Connection '{FORM_ID}' could not reach http://127.0.0.1:{port}: "
        "connection refused: nothing listens on that port"
    )
    assert_no_secrets(message)


def test_the_test_button_names_certificate_verification_for_a_self_signed_receiver(press_test, tmp_path):
    certfile, keyfile = self_signed_certificate(tmp_path)
    with WebhookReceiver().use_tls(certfile, keyfile) as receiver:
        ok, message = press_test(host=f"{receiver.url}/{PATH_TOKEN}", password=SECRET)
        assert not ok
        assert message.startswith(
            f"Connection '{FORM_ID}' could not reach {receiver.base_url}: TLS certificate verify failed "
            "(self-signed certificate)."
        )
        assert_no_secrets(message)
        assert receiver.requests == []


def test_the_test_button_verifies_the_certificate_against_the_ca_in_the_verify_extra(press_test, tmp_path):
    certfile, keyfile = self_signed_certificate(tmp_path)
    with WebhookReceiver().use_tls(certfile, keyfile) as receiver:
        ok, message = press_test(host=receiver.url, password=SECRET, extra=json.dumps({"verify": certfile}))
        assert ok, message
        assert message.startswith(f"Reached {receiver.base_url.removeprefix('https://')} (TLSv1.")
        assert "verified: CN=127.0.0.1, issued by 127.0.0.1, valid until " in message
        assert receiver.requests == []


def test_the_test_button_names_a_tls_handshake_that_gets_no_answer_within_the_connect_timeout(press_test):
    """The 0.5 s connect timeout ends the wait, not the 30 s read timeout: about 1 s on an idle machine. The 15 s
    bound is 15 times that, and half the read timeout it must not wait out."""
    with socket.socket() as silent:  # accepts TCP connections (the kernel does), never answers TLS
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        ok, message = press_test(host=f"https://127.0.0.1:{port}/hooks", extra=json.dumps({"timeout": [0.5, 30]}))
        assert (ok, message) == (
            False,
            f"Connection '{FORM_ID}' could not reach https://127.0.0.1:{port}: no answer within 0.5 s (the connect "
            "timeout): a firewall may drop the connection",
        )
        assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"login": "user"}, f"Connection '{FORM_ID}' has a login."),
        ({"password": f"{SECRET} sk_live_{PATH_TOKEN}"}, f"Connection '{FORM_ID}': signing secret #2"),
        ({"extra": json.dumps({"timeout": 0})}, f"Connection '{FORM_ID}': extra 'timeout' is 0."),
        ({"host": f"hooks.example.com/{PATH_TOKEN}"}, f"Connection '{FORM_ID}': host 'hooks.example.com***' has no"),
    ],
    ids=["login", "malformed secret", "bad timeout", "no scheme"],
)
def test_the_test_button_refuses_what_a_delivery_would_refuse_without_quoting_secrets(
    receiver, press_test, form, expected
):
    ok, message = press_test(**({"host": f"{receiver.url}/{PATH_TOKEN}", "password": SECRET} | form))
    assert not ok
    assert message.startswith(expected)
    assert_no_secrets(message)
    assert receiver.requests == []
