"""The request bodies receivers already know how to parse, built by splicing the event's exact text.

Nothing is parsed and dumped again: a receiver that stores or hashes what it gets sees Auth0's own
bytes, in all three formats.

- ``event``: the log event as Auth0 returned it.
- ``legacy``: ``{"date", "request", "response"}``, what the old auth0-webhooks POSTed (JSON.stringify
  of ``{date: log.date, request: log.details.request, response: log.details.response}``, so a member
  the event lacks is left out, as JavaScript drops ``undefined``).
- ``log_stream``: ``[{"log_id": ..., "data": event}]``, the JSON-array shape of an Auth0 Log Stream
  custom webhook.

A batch is a JSON array of those elements (for ``log_stream``, one array with several elements).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from auth0_provider.events import LogEvent

PAYLOAD_FORMATS = ("event", "legacy", "log_stream")


def render(events: Sequence[LogEvent], payload_format: str, *, batched: bool) -> str:
    """The body of one delivery in ``payload_format`` (one of PAYLOAD_FORMATS).

    Batched (``BATCH_SIZE`` > 1), the body is a JSON array in the given order, even when the last
    batch of a run holds a single event, so a receiver always sees one shape. Unbatched, it is one
    object (``log_stream`` is an array either way, as Log Streams send it).
    """
    parts = elements(events, payload_format)
    if batched or payload_format == "log_stream":
        return join(parts)
    (element,) = parts
    return element


def elements(events: Sequence[LogEvent], payload_format: str) -> list[str]:
    """Each event's element of a body, in order: what ``join`` splices into a batch."""
    if payload_format not in PAYLOAD_FORMATS:
        raise ValueError(f"unknown payload format {payload_format!r}; use one of {', '.join(PAYLOAD_FORMATS)}")
    return [_element(event, payload_format) for event in events]


def join(parts: Sequence[str]) -> str:
    """A batch's body from its elements' exact text: a JSON array, in the given order."""
    return "[" + ",".join(parts) + "]"


def _element(event: LogEvent, payload_format: str) -> str:
    if payload_format == "event":
        return event.raw
    if payload_format == "legacy":
        members = {
            "date": event.member("date"),
            "request": event.member("details", "request"),
            "response": event.member("details", "response"),
        }
        return _object({name: text for name, text in members.items() if text is not None})
    return _object({"log_id": json.dumps(event.log_id, ensure_ascii=False), "data": event.raw})


def _object(members: dict[str, str]) -> str:
    """A compact JSON object from member names and their already-encoded values."""
    return "{" + ",".join(f"{json.dumps(name)}:{text}" for name, text in members.items()) + "}"
