from __future__ import annotations

import json

import pytest

from auth0_provider.events import MalformedLogPage, log_id_key, parse_log_page
from auth0_standin import load_fixture_lines


def test_each_event_keeps_its_exact_source_text():
    odd = [
        '{"log_id":"1000000000000000001","type":"sapi","d":"caf\\u00e9 \\ud83d\\ude00 \\/ {{ x }}"}',
        '{ "log_id" : "1000000000000000002" , "n": 1.50E+3, "s": "tab\\there",  "z": null }',
        '{"log_id":"1000000000000000003","u":"Zoë 日本 \u2028 ok"}',
    ]
    page = "[\n  " + " ,\n\t".join(odd) + "\n]\n"
    events = parse_log_page(page)
    assert [e.raw for e in events] == odd
    assert events[1].data["n"] == 1500.0


def test_real_fixture_events_round_trip_byte_for_byte():
    lines = load_fixture_lines()
    events = parse_log_page("[" + ",".join(lines) + "]")
    assert [e.raw.encode() for e in events] == [line.encode() for line in lines]
    assert all(len(e.log_id) == 56 for e in events)


def test_empty_page():
    assert parse_log_page(" [ ] ") == []


@pytest.mark.parametrize(
    "body",
    ["<html><body>Bad gateway</body></html>", '{"error": "x"}', "[{]", '[{"no_id": 1}]', "[1, 2]", "[] []"],
)
def test_malformed_pages_raise(body):
    with pytest.raises(MalformedLogPage):
        parse_log_page(body)


def test_log_id_order_is_numeric_for_fixed_width_ids():
    ids = [json.loads(line)["log_id"] for line in load_fixture_lines()]
    assert sorted(ids, key=log_id_key) == sorted(ids, key=int)
    assert log_id_key("99") < log_id_key("100")
