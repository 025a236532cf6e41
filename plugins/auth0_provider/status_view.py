"""What the status page shows, and the page itself: pure, from records the DAG keeps.

``status_page`` reads the records from the metadata DB in the API server; everything here is plain
data and text, so that its tests need no Airflow running. Every value that came from an event, a
receiver or a person is escaped: the page never runs what it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from auth0_provider.health import Signals, Status, status
from auth0_provider.records import Auth0Usage, CommitRecord, DeadLetter, Failure, iso
from auth0_provider.watermark import Watermark

HOURS = 24
SHOWN_DEAD_LETTERS = 50
SHOWN_FAILURES = 10


@dataclass(frozen=True)
class StreamView:
    """The stream at a glance, at ``now``."""

    now: datetime
    status: Status
    watermark: Watermark | None
    lag: timedelta | None
    lag_at_least: bool  # Auth0 had more than the last run read
    read_at: datetime | None  # when the newest log was last read
    last_commit: CommitRecord | None  # the last that moved the watermark
    delivered_per_hour: tuple[tuple[datetime, int], ...]  # the last HOURS hours, oldest first
    failures: tuple[Failure, ...]
    dead_letters: tuple[DeadLetter, ...]
    dead_letter_count: int
    usage: Auth0Usage  # over the last HOURS hours
    uncommitted_since: datetime | None = None  # live runs have been queued since then and none has committed

    @classmethod
    def of(
        cls,
        signals: Signals,
        commits: Sequence[CommitRecord],
        usage: Sequence[Auth0Usage],
        dead_letters: Sequence[DeadLetter],
    ) -> StreamView:
        now = signals.now
        moved = [commit for commit in commits if commit.moved]
        reading = signals.reading
        return cls(
            now=now,
            status=status(signals),
            watermark=signals.watermark,
            lag=signals.lag,
            lag_at_least=bool(reading and reading.backlog),
            read_at=reading.at if reading else None,
            last_commit=max(moved, key=lambda commit: commit.at) if moved else None,
            delivered_per_hour=hourly(commits, now),
            failures=tuple(signals.failures[:SHOWN_FAILURES]),
            dead_letters=tuple(dead_letters[:SHOWN_DEAD_LETTERS]),
            dead_letter_count=len(signals.dead_letters),
            usage=Auth0Usage(
                sum(u.requests for u in usage),
                sum(u.rate_limit_waits for u in usage),
                round(sum(u.waited_seconds for u in usage), 1),
            ),
            uncommitted_since=signals.uncommitted_since,
        )

    @property
    def delivered(self) -> int:
        return sum(count for _, count in self.delivered_per_hour)

    def to_json(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "state": self.status.state,
            "reason": self.status.reason,
            "since": self.status.since and iso(self.status.since),
            "uncommitted_since": self.uncommitted_since and iso(self.uncommitted_since),
            "watermark": self.watermark and self.watermark.to_json(),
            "lag_seconds": None if self.lag is None else self.lag.total_seconds(),
            "lag_at_least": self.lag_at_least,
            "read_at": self.read_at and iso(self.read_at),
            "last_commit": self.last_commit and self.last_commit.to_json(),
            "delivered_24h": self.delivered,
            "delivered_per_hour": [{"hour": iso(hour), "events": count} for hour, count in self.delivered_per_hour],
            "failures": [failure.to_json() for failure in self.failures],
            "dead_letter_count": self.dead_letter_count,
            "dead_letters": [_letter_json(letter) for letter in self.dead_letters],
            "auth0_usage_24h": self.usage.to_json(),
        }


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter without its body: the page lists events, it does not republish them."""
    fields = letter.to_json()
    del fields["body"]
    return fields


def hourly(commits: Sequence[CommitRecord], now: datetime) -> tuple[tuple[datetime, int], ...]:
    """Events delivered in each of the last ``HOURS`` hours (by commit time), oldest first."""
    top = now.replace(minute=0, second=0, microsecond=0)
    hours = [top - timedelta(hours=n) for n in range(HOURS - 1, -1, -1)]
    counts = dict.fromkeys(hours, 0)
    for commit in commits:
        hour = commit.at.replace(minute=0, second=0, microsecond=0)
        if hour in counts:
            counts[hour] += commit.delivered
    return tuple(counts.items())


def duration(span: timedelta | None) -> str:
    if span is None:
        return "unknown"
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _chart(per_hour: Sequence[tuple[datetime, int]]) -> str:
    """Events delivered per hour as an SVG bar chart, with each bar's number in its title."""
    width, height, gap = 24 * 22, 120, 4
    top = max((count for _, count in per_hour), default=0) or 1
    bars = []
    for n, (hour, count) in enumerate(per_hour):
        bar = round((height - 20) * count / top)
        x = n * 22
        bars.append(
            f"<g><title>{hour:%H}:00 UTC: {count} events</title>"
            f'<rect x="{x}" y="{height - 20 - bar}" width="{22 - gap}" height="{bar}" class="bar"/>'
            f'<text x="{x + 9}" y="{height - 6}" class="hour">{hour:%H}</text></g>'
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" width="100%" height="{height}" role="img" '
        f'aria-label="Events delivered per hour" data-testid="chart">{"".join(bars)}</svg>'
    )


# both pages' look: the state badges and the tables
_STYLE = """body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem; color: #1a202c; }
h1 { font-size: 1.3rem; margin: 0 0 .8rem; }
.state { display: inline-block; padding: .2rem .7rem; border-radius: 1rem; font-weight: 600; color: #fff; }
.flowing { background: #2f855a; } .behind { background: #b7791f; } .failing { background: #c05621; }
.blocked { background: #c53030; } .paused { background: #718096; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #edf2f7; padding: .3rem .5rem;
text-align: left; vertical-align: top; }"""


@dataclass(frozen=True)
class StreamLine:
    """One stream on the index of streams: a line with its state, and a link to its own page."""

    label: str  # "stream 'crm'", or the single DAG's id
    dag_id: str
    href: str
    description: str
    view: StreamView
    problem: str | None  # what keeps it from running at all, in words a person can act on


def render_index(lines: Sequence[StreamLine], now: datetime) -> str:
    """The streams of the deployment the user may read, at a glance, each linking to its own page."""
    e = escape
    rows = "".join(_index_row(line) for line in lines) or (
        "<tr><td colspan='5'>No stream: no Auth0 webhook DAG is registered that you may read.</td></tr>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Auth0 webhook streams</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
{_STYLE}
</style></head><body>
<h1>Auth0 webhook streams</h1>
<table><tr><th>Stream</th><th>State</th><th>Lag</th><th>Delivers</th><th>Why</th></tr>{rows}</table>
<p><small>As of {e(_when(now))}. <a href="api/streams">JSON</a></small></p>
</body></html>
"""


def _index_row(line: StreamLine) -> str:
    e, state = escape, line.view.status.state
    lag = ("at least " if line.view.lag_at_least else "") + duration(line.view.lag)
    why = line.problem or line.view.status.reason
    return (
        f"<tr data-testid='stream'><td><a href='{e(line.href)}'>{e(line.label)}</a><br><small>{e(line.dag_id)}</small>"
        f"</td><td><span class='state {e(state)}' data-testid='stream-state'>{e(state)}</span></td><td>{e(lag)}</td>"
        f"<td>{e(line.description)}</td><td data-testid='stream-problem'>{e(why)}</td>"
        "</tr>"
    )


def render(view: StreamView, title: str = "Auth0 webhook stream") -> str:
    """The status page: plain HTML and a few lines of script for the Redeliver buttons."""
    e = escape
    state = view.status
    since = f" since {_when(state.since)}" if state.since else ""
    watermark = view.watermark
    lag = ("at least " if view.lag_at_least else "") + duration(view.lag)
    commit = view.last_commit
    failures = (
        "".join(
            f"<tr><td>{e(_when(f.at))}</td><td>{e(f.label)}</td><td data-testid='failure-status'>"
            f"{f.status if f.status is not None else 'no answer'}</td><td>{e(f.reason)}</td></tr>"
            for f in view.failures
        )
        or "<tr><td colspan='4'>No failed delivery.</td></tr>"
    )
    letters = (
        "".join(
            f"<tr><td data-testid='dead-letter'>{e(d.log_id)}</td><td>{e(d.reason)}</td>"
            f"<td>{d.status if d.status is not None else ''}</td><td>{e(d.excerpt)}</td><td>{e(_when(d.last_at))}</td>"
            f"<td><button type='button' data-redeliver='{e(d.log_id)}'>Redeliver</button></td></tr>"
            for d in view.dead_letters
        )
        or "<tr><td colspan='6'>The dead-letter store is empty.</td></tr>"
    )
    more = view.dead_letter_count - len(view.dead_letters)
    usage = view.usage
    mark_id, mark_date = (watermark.log_id, watermark.date or "") if watermark else ("none yet", "")
    lag_seconds = "" if view.lag is None else int(view.lag.total_seconds())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
{_STYLE}
h2 {{ font-size: 1.05rem; margin: 1.4rem 0 .5rem; }}
.cards {{ display: flex; flex-wrap: wrap; gap: .8rem; }}
.card {{ border: 1px solid #e2e8f0; border-radius: .5rem; padding: .6rem .9rem; min-width: 11rem; }}
.card b {{ display: block; font-size: 1.25rem; }} .card span {{ color: #4a5568; font-size: .85rem; }}
.card code {{ display: block; font-size: .7rem; color: #4a5568; word-break: break-all; max-width: 19rem; }}
.bar {{ fill: #3182ce; }} .hour {{ font-size: 9px; fill: #718096; }}
</style></head><body>
<h1>{e(title)}</h1>
<p><span class="state {e(state.state)}" data-testid="state">{e(state.state)}</span>
<span data-testid="since">{e(since)}</span></p>
<p data-testid="reason">{e(state.reason)}</p>
<div class="cards">
<div class="card"><span>Watermark</span><b>{e(mark_date or "-")}</b>
<code data-testid="watermark">{e(mark_id)}</code></div>
<div class="card"><span>Lag behind Auth0's newest log</span>
<b data-testid="lag" data-seconds="{lag_seconds}">{e(lag)}</b>
<span>as read {e(_when(view.read_at))}</span></div>
<div class="card"><span>Last commit</span><b data-testid="last-commit">{e(_when(commit.at if commit else None))}</b>
<span>{f"{commit.delivered} delivered, {commit.parked} parked" if commit else ""}</span></div>
<div class="card"><span>Delivered, last 24 h</span><b data-testid="delivered">{view.delivered}</b></div>
<div class="card"><span>Auth0 reads, last 24 h</span><b data-testid="auth0-requests">{usage.requests}</b>
<span data-testid="rate-limit-waits">{usage.rate_limit_waits} rate-limit waits ({usage.waited_seconds} s)</span></div>
</div>
<h2>Events delivered per hour (UTC)</h2>
{_chart(view.delivered_per_hour)}
<h2>Failed deliveries (last 24 h, newest first)</h2>
<table data-testid="failures"><tr><th>When</th><th>Delivery</th><th>Receiver's status</th><th>Error</th></tr>
{failures}</table>
<h2>Dead letters (<span data-testid="dead-letter-count">{view.dead_letter_count}</span>)</h2>
<p><button type="button" data-redeliver="all" {"disabled" if not view.dead_letter_count else ""}>Redeliver all</button>
<span id="redeliver-result" data-testid="redeliver-result"></span></p>
<table><tr><th>Log id</th><th>Why</th><th>Status</th><th>Receiver's answer</th><th>Last refused</th><th></th></tr>
{letters}</table>
{f"<p>... and {more} more.</p>" if more > 0 else ""}
<p><small>As of {e(_when(view.now))}. <a href="api/status">JSON</a></small></p>
<script>
document.querySelectorAll("button[data-redeliver]").forEach(function (button) {{
  button.addEventListener("click", async function () {{
    var which = button.dataset.redeliver, out = document.getElementById("redeliver-result");
    var body = JSON.stringify({{log_ids: which === "all" ? "all" : [which]}});
    var answer = await fetch("api/redeliver", {{method: "POST", credentials: "same-origin",
      headers: {{"Content-Type": "application/json"}}, body: body}});
    var result = await answer.json().catch(function () {{ return {{}}; }});
    out.textContent = answer.ok ? "Redelivery run " + result.dag_run_id + " triggered." :
      "Refused (" + answer.status + "): " + (result.detail || "");
  }});
}});
</script>
</body></html>"""
