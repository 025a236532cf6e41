"""Auth0 log events as raw JSON text, so a webhook receives exactly the bytes Auth0 returned.

Parsing an event and dumping it again would change escapes, number formats and spacing; a receiver
that hashes or signs bodies would see a different event. So each event keeps the slice of the
response it came from, and the parsed form is used only to read the fields we filter on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from json.decoder import scanstring
from typing import Any

_decoder = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


class MalformedLogPage(ValueError):
    """Auth0 answered with something that is not a JSON array of log events."""


def parse_date(value: Any) -> datetime | None:
    """An ISO 8601 time as Auth0 writes it (``2024-01-01T10:00:00.000Z``) as an aware datetime, or None.

    A time without an offset is taken as UTC, the zone Auth0 dates are in."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) and value else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LogEvent:
    """One Auth0 log event: its exact JSON text plus the parsed fields we route on.

    Only those few fields are kept parsed (``routing_fields``): an event of a megabyte is then held
    once, as its text, not twice.
    """

    raw: str
    fields: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_raw(cls, raw: str) -> LogEvent:
        """An event again from the exact text it was read as (kept in XCom by a read-ahead)."""
        return cls(raw=raw, fields=routing_fields(json.loads(raw)))

    @property
    def data(self) -> dict[str, Any]:
        """The whole event, parsed again from its text each time it is asked for."""
        return json.loads(self.raw)

    @property
    def log_id(self) -> str:
        return str(self.fields.get("log_id") or self.fields.get("_id"))

    @property
    def date(self) -> str | None:
        value = self.fields.get("date")
        return value if isinstance(value, str) else None

    @cached_property
    def moment(self) -> datetime | None:
        """``date`` as an aware datetime, or None when it is missing or not ISO 8601."""
        return parse_date(self.date)

    @property
    def type(self) -> str | None:
        value = self.fields.get("type")
        return value if isinstance(value, str) else None

    @property
    def request(self) -> dict[str, Any]:
        details = self.fields.get("details")
        request = details.get("request") if isinstance(details, dict) else None
        return request if isinstance(request, dict) else {}

    @property
    def api_path(self) -> str | None:
        path = self.request.get("path")
        return path if isinstance(path, str) else None

    def member(self, *path: str) -> str | None:
        """The exact source text of the value at ``path`` (``"details", "request"``), or None if absent."""
        start, end = 0, len(self.raw)
        for key in path:
            if start not in self._spans:  # each object is scanned once, however many members are read
                self._spans[start] = _member_spans(self.raw, start)
            span = self._spans[start].get(key)
            if span is None:
                return None
            start, end = span
        return self.raw[start:end]

    @cached_property
    def _spans(self) -> dict[int, dict[str, tuple[int, int]]]:
        """Member spans of the objects scanned so far, by where each object starts in ``raw``."""
        return {}

    @property
    def label(self) -> str:
        """Short text for the Airflow UI: which log this is and what it did."""
        parts = [self.log_id, self.type or "?"]
        if self.api_path:
            parts += [str(self.request.get("method") or "").upper(), self.api_path]
        return " ".join(p for p in parts if p)[:240]


def routing_fields(value: dict[str, Any]) -> dict[str, Any]:
    """The members of a parsed event that ``LogEvent`` reads: ids, date, type, the request's method and path."""
    kept = {key: value[key] for key in ("log_id", "_id", "date", "type") if key in value}
    details = value.get("details")
    request = details.get("request") if isinstance(details, dict) else None
    if isinstance(request, dict):
        kept["details"] = {"request": {key: request[key] for key in ("method", "path") if key in request}}
    return kept


def log_id_key(log_id: str) -> tuple[int, str]:
    """Order Auth0 log ids: they are fixed-width numbers, so length first, then the text."""
    return (len(log_id), log_id)


def parse_log_page(text: str) -> list[LogEvent]:
    """Split a JSON array into events, keeping each element's exact source text."""
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise MalformedLogPage(f"expected a JSON array of log events, got {_preview(text)}")
    pos = _skip(text, pos + 1)
    events: list[LogEvent] = []
    if pos < len(text) and text[pos] == "]":
        return _expect_end(text, pos + 1, events)
    while True:
        try:
            value, end = _decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise MalformedLogPage(f"invalid JSON in log page: {exc}") from None
        if not isinstance(value, dict) or not (value.get("log_id") or value.get("_id")):
            raise MalformedLogPage(f"log event without a log_id: {_preview(text[pos:end])}")
        events.append(LogEvent(raw=text[pos:end], fields=routing_fields(value)))
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return _expect_end(text, pos + 1, events)
        raise MalformedLogPage(f"invalid JSON in log page near offset {pos}")


def _member_spans(text: str, pos: int) -> dict[str, tuple[int, int]]:
    """Where each member value of the JSON object at ``pos`` starts and ends; {} if it is not an object.

    A repeated key keeps its last value, as ``json.loads`` does.
    """
    pos = _skip(text, pos)
    if pos >= len(text) or text[pos] != "{":
        return {}
    spans: dict[str, tuple[int, int]] = {}
    pos = _skip(text, pos + 1)
    while pos < len(text) and text[pos] == '"':
        key, pos = scanstring(text, pos + 1)
        pos = _skip(text, pos)
        start = _skip(text, pos + 1)  # past the ':'
        _, end = _decoder.raw_decode(text, start)
        spans[key] = (start, end)
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)
    return spans


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _expect_end(text: str, pos: int, events: list[LogEvent]) -> list[LogEvent]:
    if _skip(text, pos) != len(text):
        raise MalformedLogPage("unexpected data after the JSON array of log events")
    return events


def _preview(text: str, limit: int = 120) -> str:
    text = text.strip()
    return repr(text[:limit] + ("..." if len(text) > limit else ""))
