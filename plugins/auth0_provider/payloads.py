"""The request bodies receivers already know how to parse, built by splicing the event's exact text.

Nothing is parsed and dumped again: a receiver that stores or hashes what it gets sees Auth0's own
bytes, in all three formats.

- ``event``: the log event as Auth0 returned it.
- ``legacy``: ``{"date", "request", "response"}``, what the old auth0-webhooks POSTed (JSON.stringify
  of ``{date: log.date, request: log.details.request, response: log.details.response}``, so a member
  the event lacks is left out, as JavaScript drops ``undefined``).
- ``log_stream``: ``[{"log_id": ..., "data": event}]``, the JSON-array shape of an Auth0 Log Stream
  custom webhook.
"""

from __future__ import annotations

import json

from auth0_provider.events import LogEvent

PAYLOAD_FORMATS = ("event", "legacy", "log_stream")


def render(event: LogEvent, payload_format: str) -> str:
    """The body of one delivery in ``payload_format`` (one of PAYLOAD_FORMATS)."""
    if payload_format == "event":
        return event.raw
    if payload_format == "legacy":
        members = {
            "date": event.member("date"),
            "request": event.member("details", "request"),
            "response": event.member("details", "response"),
        }
        return _object({name: text for name, text in members.items() if text is not None})
    if payload_format == "log_stream":
        return "[" + _object({"log_id": json.dumps(event.log_id, ensure_ascii=False), "data": event.raw}) + "]"
    raise ValueError(f"unknown payload format {payload_format!r}; use one of {', '.join(PAYLOAD_FORMATS)}")


def _object(members: dict[str, str]) -> str:
    """A compact JSON object from member names and their already-encoded values."""
    return "{" + ",".join(f"{json.dumps(name)}:{text}" for name, text in members.items()) + "}"
