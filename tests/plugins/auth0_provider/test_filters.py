from __future__ import annotations

import json

import pytest

from auth0_provider.events import LogEvent
from auth0_provider.filters import EventFilter, endpoint_matches
from tests.support import api_event, fixture_event


def as_event(data: dict) -> LogEvent:
    data.setdefault("log_id", "90020211103020611966106762909211229137199648175879618642")
    return LogEvent.from_raw(json.dumps(data))


@pytest.mark.parametrize(
    ("path", "name", "expected"),
    [
        ("/api/v2/users", "users", True),
        ("/api/v2/users/auth0|1", "users", True),
        ("/api/v2/users/auth0%7C618223a4e3f49e006948565c/roles", "users", True),
        ("/api/v2/users?fields=email", "users", True),
        ("/api/v2/users/", "users", True),
        ("/api/v2/users-by-email", "users", False),
        ("/api/v2/users-by-email?email=a@b.c", "users", False),
        ("/api/v2/connections/con_1", "users", False),
        ("/api/v2/client-grants", "clients", False),
        ("/api/tenants/settings", "tenants", False),
        ("/api/v2/log-streams/lst_1", "log-streams", True),
    ],
)
def test_endpoint_semantics(path, name, expected):
    assert endpoint_matches(path, name) is expected


def test_type_and_endpoint_filter_together():
    flt = EventFilter(frozenset({"sapi", "fapi"}), ("users", "connections"))
    assert flt.matches(as_event(api_event("post", "/api/v2/users")))
    assert flt.matches(as_event(api_event("patch", "/api/v2/connections/con_1")))
    assert not flt.matches(as_event(api_event("post", "/api/v2/clients")))
    assert not flt.matches(as_event(api_event("post", "/api/v2/users-by-email")))
    assert not flt.matches(as_event(fixture_event("s")))  # a login is not a wanted type


def test_empty_endpoint_list_means_all_endpoints():
    flt = EventFilter(frozenset({"sapi"}))
    assert flt.matches(as_event(api_event("delete", "/api/v2/roles/rol_1")))
    assert not flt.matches(as_event(fixture_event("seacft")))


def test_events_without_an_api_path_are_judged_by_type_alone():
    flt = EventFilter(frozenset({"s", "sapi"}), ("users",))
    assert flt.matches(as_event(fixture_event("s")))
    assert not flt.matches(as_event(api_event("post", "/api/v2/clients")))


def test_malformed_event_without_details_does_not_crash_the_filter():
    event = api_event("post", "/api/v2/users")
    del event["details"]
    assert EventFilter(frozenset({"sapi"}), ("users",)).matches(as_event(event))
