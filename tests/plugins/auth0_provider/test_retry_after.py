"""Retry-After as receivers and Auth0 send it: delta-seconds or an HTTP-date."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from auth0_provider.retry_after import retry_after_seconds

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        (formatdate(NOW + 90, usegmt=True), 90.0),
        (formatdate(NOW - 90, usegmt=True), 0.0),  # already past: retry now
        (None, None),
        ("", None),
        ("-5", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # no zone: not an HTTP-date
    ],
)
def test_retry_after(value, seconds):
    assert retry_after_seconds(value, NOW) == seconds
