"""Standard Webhooks signing, checked against the reference library rather than our own reading of the spec."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from auth0_provider import signing

BODY = '{"log_id":"900","name":"Zoë {{ x }}"}'.encode()


def test_a_generated_secret_signs_what_the_library_verifies():
    secret = signing.generate_signing_secret()
    assert signing.parse_signing_secrets(secret) == (secret,)
    headers = signing.signature_headers("900", BODY, [secret])
    assert Webhook(secret).verify(BODY, headers) == {"log_id": "900", "name": "Zoë {{ x }}"}


def test_the_signature_matches_the_library_byte_for_byte(monkeypatch):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    monkeypatch.setattr(signing, "clock", lambda: 1700000000.9)
    headers = signing.signature_headers("msg_1", BODY, [secret])
    assert headers["webhook-timestamp"] == "1700000000"
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1700000000, UTC), BODY.decode())
    assert headers["webhook-signature"] == expected


def test_one_changed_byte_fails_verification():
    secret = signing.generate_signing_secret()
    headers = signing.signature_headers("900", BODY, [secret])
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(BODY.replace(b"{{", b"{["), headers)


def test_each_of_several_secrets_verifies_alone():
    old, new = signing.generate_signing_secret(), signing.generate_signing_secret()
    headers = signing.signature_headers("900", BODY, signing.parse_signing_secrets(f" {old}\n{new} "))
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate_signing_secret()).verify(BODY, headers)


def test_no_secret_means_no_signature_but_still_an_id_and_timestamp():
    headers = signing.signature_headers("900", BODY, signing.parse_signing_secrets(""))
    assert set(headers) == {"webhook-id", "webhook-timestamp"}


def test_unpadded_base64_is_accepted_as_the_library_does():
    secret = "whsec_" + "QUJD"[:3]  # "ABC" without its padding is still 2 bytes of key
    signing.parse_signing_secrets(secret)
    Webhook(secret).verify(BODY, signing.signature_headers("1", BODY, [secret]))


def test_a_signature_needs_an_id():
    with pytest.raises(ValueError, match="webhook-id"):
        signing.signature_headers("", BODY, [])
