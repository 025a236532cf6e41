"""Standard Webhooks signatures (https://www.standardwebhooks.com), so a receiver can prove a request is ours.

Kept free of Airflow imports: it is pure protocol, and tests can swap ``clock`` in a worker process.
The timestamp is taken when the request is sent, never stored: a retry cleared from the UI a day
later must still fall inside a receiver's 5-minute tolerance.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Sequence

SECRET_PREFIX = "whsec_"

clock: Callable[[], float] = time.time


class SigningSecretError(ValueError):
    """The configured signing secrets are not ``whsec_<base64>`` values (the message never quotes them)."""


def parse_signing_secrets(value: str | None) -> tuple[str, ...]:
    """Split a space-separated list of ``whsec_`` secrets; several sign at once so keys can be rotated."""
    secrets = tuple((value or "").split())
    for number, secret in enumerate(secrets, start=1):
        if not secret.startswith(SECRET_PREFIX):
            raise SigningSecretError(f"signing secret #{number} does not start with {SECRET_PREFIX!r}")
        if not _key(secret):
            raise SigningSecretError(f"signing secret #{number} is not {SECRET_PREFIX}<base64 of at least 1 byte>")
    return secrets


def generate_signing_secret() -> str:
    """A new random secret in the Standard Webhooks format (32 bytes, like most webhook senders use)."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def signature_headers(msg_id: str, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The ``webhook-*`` headers for one send: id, a fresh timestamp and one ``v1`` signature per secret."""
    if not msg_id:
        raise ValueError("a webhook-id is required to sign a request")
    timestamp = str(int(clock()))
    headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp}
    if secrets:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        headers["webhook-signature"] = " ".join(
            "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
            for secret in secrets
        )
    return headers


def _key(secret: str) -> bytes:
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""
