from __future__ import annotations

import json
from datetime import timedelta

import pytest

from auth0_provider.settings import Settings, SettingsError
from auth0_standin import load_fixture_lines


def settings(**env: str) -> Settings:
    return Settings.from_env({f"AUTH0_WEBHOOKS_{k.upper()}": v for k, v in env.items()})


def test_defaults_match_the_old_tool():
    s = settings()
    assert s.api_endpoints == ()
    assert s.log_types == {"sapi", "fapi"}
    assert s.concurrent_calls == 5
    assert s.start_from == "oldest"
    assert s.payload == "event"


def test_endpoint_list_is_trimmed_and_normalised():
    assert settings(api_endpoints=" users ,connections,, /api/v2/roles/ ").api_endpoints == (
        "users",
        "connections",
        "roles",
    )
    assert settings(api_endpoints="   ").api_endpoints == ()


def test_log_types_accept_known_codes():
    assert settings(log_types="sapi, s ,ss").log_types == {"sapi", "s", "ss"}


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("concurrent_calls", "0", "whole number from 1 to 100"),
        ("concurrent_calls", "five", "whole number from 1 to 100"),
        ("concurrent_calls", "1000", "whole number from 1 to 100"),
        ("delivery_retries", "-1", "whole number from 0 to 20"),
        ("log_types", "sapi,sapii", "'sapi,fapi'"),
        ("log_types", ",", "'sapi,fapi'"),
        ("start_from", "yesterday", "'oldest'"),
        ("api_endpoints", "users?x=1", "'users, connections'"),
        ("payload", "json", "'log_stream'"),
        ("on_gap", "skip", "'continue'"),
        ("dead_letter_after", "1 hour", "'90s', '15m', '1h' or '2d'"),
        ("dead_letter_after", "0m", "'never' to turn parking off"),
        ("dead_letter_after", "1.5h", "a whole number above 0"),
        ("dead_letter_max", "0", "whole number from 1 to 100000"),
        ("max_events_per_run", "0", "whole number from 1 to 1000000"),
        ("max_bytes_per_run", "64 MiB", "a size from 1 MB to 512 MB"),
        ("max_bytes_per_run", "2GB", "a size from 1 MB to 512 MB"),
        ("max_bytes_per_run", "1000", "for example '64MB'"),
    ],
)
def test_invalid_values_name_the_setting_and_what_is_allowed(name, value, allowed):
    with pytest.raises(SettingsError) as err:
        settings(**{name: value})
    message = str(err.value)
    assert f"AUTH0_WEBHOOKS_{name.upper()}" in message
    assert repr(value.strip()) in message or "sapii" in message
    assert allowed in message


def test_start_from_accepts_keywords_and_log_ids():
    assert settings(start_from="NOW").start_from == "now"
    log_id = "90020211103020611966106762909211229137199648175879618642"
    assert settings(start_from=log_id).start_from == log_id


def test_payload_accepts_the_three_formats():
    assert [settings(payload=v).payload for v in ("event", "Legacy", " log_stream ")] == [
        "event",
        "legacy",
        "log_stream",
    ]


def test_every_log_type_in_the_real_fixtures_is_known():
    types = {json.loads(line)["type"] for line in load_fixture_lines()}
    assert settings(log_types=",".join(sorted(types))).log_types == types


def test_dead_letter_after_is_a_number_and_a_unit_or_never():
    assert settings().dead_letter_after == timedelta(hours=1)
    assert settings().dead_letter_max == 1000
    assert settings(dead_letter_after="90s").dead_letter_after == timedelta(seconds=90)
    assert settings(dead_letter_after=" 15M ").dead_letter_after == timedelta(minutes=15)
    assert settings(dead_letter_after="2d").dead_letter_after == timedelta(days=2)
    assert settings(dead_letter_after="Never").dead_letter_after is None


def test_a_run_is_capped_at_64_mb_of_events_unless_set_otherwise():
    assert settings().max_bytes_per_run == 64 * 1024 * 1024
    assert settings().max_events_per_run is None  # by batch size: staging.default_max_events
    assert settings(max_bytes_per_run="8MB", max_events_per_run="20000").max_bytes_per_run == 8 * 1024 * 1024
    assert settings(max_events_per_run=" 20000 ").max_events_per_run == 20_000
