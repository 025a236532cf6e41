"""Helpers the tests share: events shaped like the real fixtures."""

from __future__ import annotations

import copy
import json

from auth0_standin import load_fixture_lines

FIXTURE_EVENTS = [json.loads(line) for line in load_fixture_lines()]


def api_event(method: str, path: str, **fields: object) -> dict:
    """A new `sapi` event cloned from a real one in the fixtures, with this method and path."""
    template = next(e for e in FIXTURE_EVENTS if e["type"] == "sapi" and e["details"]["request"]["path"])
    event = copy.deepcopy(template)
    event["details"]["request"].update(method=method, path=path)
    event.update(fields)
    return event


def fixture_event(event_type: str) -> dict:
    """A copy of the first real fixture event of this type (a login, a logout, ...)."""
    return copy.deepcopy(next(e for e in FIXTURE_EVENTS if e["type"] == event_type))
