"""What the status page shows: delivered events per hour, the Auth0 reads, and content that is never run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

from auth0_provider.health import Signals
from auth0_provider.records import PARKED, Auth0Usage, CommitRecord, DeadLetter, Failure, Reading
from auth0_provider.status_view import HOURS, StreamView, duration, hourly, render
from auth0_provider.watermark import Watermark

NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
MARK = Watermark("900001", "2026-12-01T12:00:00.000Z")


def commit(at: datetime, delivered: int, moved: bool = True) -> CommitRecord:
    return CommitRecord(at, "live", moved, MARK if moved else None, delivered, 0)


def test_events_are_counted_in_the_hour_their_commit_was_made_over_the_last_24_hours():
    per_hour = hourly(
        [commit(NOW, 3), commit(NOW - timedelta(minutes=20), 2), commit(NOW - timedelta(hours=5), 7)], NOW
    )
    assert len(per_hour) == HOURS
    assert per_hour[-1] == (datetime(2026, 12, 1, 12, tzinfo=UTC), 5)
    assert per_hour[-6] == (datetime(2026, 12, 1, 7, tzinfo=UTC), 7)
    assert sum(count for _, count in per_hour) == 12


def test_a_commit_older_than_24_hours_is_not_counted():
    assert sum(count for _, count in hourly([commit(NOW - timedelta(hours=25), 9)], NOW)) == 0


def test_the_view_adds_up_auth0_reads_and_names_the_last_commit_that_moved_the_watermark():
    signals = Signals(NOW, MARK, None, Reading(NOW, MARK, MARK, False))
    moved = commit(NOW - timedelta(minutes=10), 4)
    view = StreamView.of(
        signals, [commit(NOW, 0, moved=False), moved], [Auth0Usage(3, 1, 2.5), Auth0Usage(2, 0, 0.0)], []
    )
    assert view.last_commit == moved
    assert view.usage == Auth0Usage(5, 1, 2.5)
    assert view.delivered == 4
    assert view.to_json()["lag_seconds"] == 0


def test_event_content_and_receiver_answers_are_escaped_on_the_page_and_bodies_are_not_shown():
    hostile = "<script>alert(1)</script>{{ conn.x.password }}"
    letter = DeadLetter("900002", "900002", '{"secret-body": 1}', PARKED, 422, hostile, 3, NOW, NOW, "r", 0)
    failure = Failure(hostile, 1, 400, hostile, NOW)
    signals = Signals(NOW, MARK, None, None, dead_letters=("900002",), failures=(failure,))
    view = StreamView.of(signals, [], [], [letter])
    page = render(view)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ conn.x.password }}" in page
    assert "secret-body" not in page
    assert "body" not in view.to_json()["dead_letters"][0]


def test_durations_read_as_a_person_would_say_them():
    assert [duration(timedelta(seconds=s)) for s in (59, 600, 10800, 259200)] == ["59 s", "10 min", "3.0 h", "3.0 days"]
    assert duration(None) == "unknown"


def test_the_list_of_streams_links_each_to_its_page_shows_its_state_and_puts_a_stopping_problem_first():
    from auth0_provider.status_view import StreamLine, render_index

    flowing = StreamView.of(Signals(NOW, MARK, None, Reading(NOW, MARK, MARK, False)), [], [], [])
    lines = [
        StreamLine("stream 'crm'", "auth0_webhooks__crm", "auth0_webhooks__crm/", "to <b>crm</b>", flowing, None),
        StreamLine("stream 'siem'", "auth0_webhooks__siem", "auth0_webhooks__siem/", "", flowing, "no pool"),
    ]
    page = render_index(lines, NOW)
    assert page.count("data-testid='stream'") == 2
    assert "<a href='auth0_webhooks__crm/'>stream &#x27;crm&#x27;</a>" in page
    assert "to &lt;b&gt;crm&lt;/b&gt;" in page  # a description is text, escaped
    assert f"<span class='state {flowing.status.state}'" in page
    assert "<td data-testid='stream-problem'>no pool</td>" in page
    assert f"<td data-testid='stream-problem'>{escape(flowing.status.reason)}</td>" in page
    assert "No stream" in render_index([], NOW)
