"""One way to keep secrets out of task logs: register them with Airflow's secrets masker."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def mask(secret: Any) -> None:
    """Redact this value (or, for a dict, the values under sensitive-sounding keys) from now on.

    Reaches the supervisor too, so lines it writes for the task are redacted as well.
    """
    from airflow.sdk.log import mask_secret

    mask_secret(secret)


def redact(text: str) -> str:
    """Text with every secret registered so far replaced by ``***``.

    For exception messages that quote what a server sent back: a receiver may echo our Authorization
    header, and not every place an exception ends up (a component's stdout) goes through the masker.
    """
    from airflow.sdk.log import redact as redact_secrets

    return str(redact_secrets(text))


def redacted_excerpt(text: str, limit: int = 300) -> str:
    """The start of ``text``, redacted, with "..." when it was cut: for a message or a page."""
    text = redact(text)
    return text[:limit] + ("..." if len(text) > limit else "")


def mask_url(url: str) -> None:
    """Redact from now on whatever part of ``url`` may be a credential: user info, path and query.

    A webhook URL may carry its token there (Slack's ``/services/T.../B.../<token>``, ``?token=``),
    and requests quotes the path and query of a failed request in its errors, as sent (quoted).
    """
    from requests.utils import requote_uri

    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    for value in {parts.username, parts.password, parts.path, parts.query, target}:
        if value and value.strip("/"):
            mask(value)
            mask(requote_uri(value))
