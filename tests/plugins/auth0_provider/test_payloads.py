"""The three payload formats, byte for byte, over every real event in the fixtures."""

from __future__ import annotations

import json

import pytest

from auth0_provider.events import parse_log_page
from auth0_provider.payloads import render
from auth0_standin import load_fixture_lines
from tests.support import compact, expected_body

LINES = load_fixture_lines()
EVENTS = parse_log_page("[" + ",".join(LINES) + "]")


def test_the_fixtures_are_the_compact_json_the_oracles_assume():
    assert len(EVENTS) == len(LINES) == 130
    assert all(compact(json.loads(line)) == line for line in LINES)


def test_event_format_is_the_fixture_line_itself():
    assert [render([event], "event", batched=False) for event in EVENTS] == LINES


def test_legacy_format_matches_the_old_tool_field_for_field():
    for line, event in zip(LINES, EVENTS, strict=True):
        assert render([event], "legacy", batched=False) == expected_body("legacy", json.loads(line))
    sapi = next(e for e in EVENTS if e.type == "sapi")
    assert list(json.loads(render([sapi], "legacy", batched=False))) == ["date", "request", "response"]


def test_legacy_format_leaves_out_what_the_event_lacks():
    seccft = next(e for e in EVENTS if e.type == "seccft" and "details" not in e.data)
    assert render([seccft], "legacy", batched=False) == compact({"date": seccft.date})


def test_log_stream_format_is_the_json_array_auth0_log_streams_send():
    for line, event in zip(LINES, EVENTS, strict=True):
        assert render([event], "log_stream", batched=False) == expected_body("log_stream", json.loads(line))


def test_formats_splice_the_source_text_and_never_reencode_it():
    raw = (
        '{ "log_id" : "900", "date":"2024-01-01T00:00:00.000Z", '
        '"details" : { "request" : {"n": 1.0, "s": "\\u00e9"}, "response":null } }'
    )
    (event,) = parse_log_page(f"[{raw}]")
    assert render([event], "event", batched=False) == raw
    assert (
        render([event], "legacy", batched=False)
        == '{"date":"2024-01-01T00:00:00.000Z","request":{"n": 1.0, "s": "\\u00e9"},"response":null}'
    )
    assert render([event], "log_stream", batched=False) == f'[{{"log_id":"900","data":{raw}}}]'


def test_a_repeated_key_means_what_json_loads_says():
    (event,) = parse_log_page('[{"log_id":"9","date":"a","date":"b"}]')
    assert event.member("date") == '"b"' == json.dumps(event.data["date"])
    assert event.member("details", "request") is None


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="event, legacy, log_stream"):
        render(EVENTS[:1], "xml", batched=False)


@pytest.mark.parametrize("payload", ["event", "legacy", "log_stream"])
def test_a_batch_is_one_json_array_of_the_same_elements_in_order(payload):
    batch = EVENTS[10:17]
    expected = [json.loads(expected_body(payload, e.data)) for e in batch]
    if payload == "log_stream":
        expected = [element for array in expected for element in array]
    body = render(batch, payload, batched=True)
    assert body == compact(expected)
    assert render(batch[:1], payload, batched=True) == compact(expected[:1])  # a batch of one is still an array


def test_legacy_reads_each_object_of_the_event_once(monkeypatch):
    """date, request and response come from two scans (the event, then details), not one per member:
    a 2 MB request body is parsed twice, not five times."""
    from auth0_provider import events

    scans = []
    real = events._member_spans
    monkeypatch.setattr(events, "_member_spans", lambda text, pos: scans.append(pos) or real(text, pos))
    (event,) = parse_log_page("[" + next(line for line in LINES if '"sapi"' in line) + "]")
    assert render([event], "legacy", batched=False) == expected_body("legacy", event.data)
    assert len(scans) == 2
