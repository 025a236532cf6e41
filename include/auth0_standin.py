"""A local stand-in for an Auth0 tenant: the token endpoint and the Logs API, on 127.0.0.1.

It follows the documented behaviour that matters to a poller: client-credentials tokens that
expire, checkpoint paging (``from``/``take``, log-id order, at most 100), search mode sorted by date
and filtered by a ``q=date:[A TO B}`` range, retention (``forget_before``: older logs are gone),
the ``read:logs`` scope (403 without it; a token keeps the scopes it was issued with), a
token-bucket rate limit with ``x-ratelimit-*`` headers and 429s. Events are served as the exact
JSON text they were stored with. ``ActivityGenerator`` writes new events continuously, shaped like
the real ones in ``include/fixtures``.

Run it alone with ``python include/auth0_standin.py --port 8089``.
"""

from __future__ import annotations

import argparse
import bisect
import copy
import itertools
import json
import math
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from loopback_server import LoopbackServer, serve_until_interrupted

FIXTURES = Path(__file__).parent / "fixtures" / "auth0-log-events.jsonl"
MAX_TAKE = 100
MAX_SEARCH_RESULTS = 1000
# The one Lucene query the stand-in understands: a date range, each bound inclusive [ ] or exclusive { }.
_DATE_RANGE = re.compile(r"^date:([\[{])(\S+) TO (\S+)([\]}])$")


def load_fixture_lines() -> list[str]:
    """The real Auth0 log events shipped with the repo, one compact JSON object per line."""
    return [line for line in FIXTURES.read_text(encoding="utf-8").splitlines() if line.strip()]


def log_id_key(log_id: str) -> tuple[int, str]:
    return (len(log_id), log_id)


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class StoredEvent:
    log_id: str
    date: str
    raw: str


@dataclass
class Injection:
    """A canned response for a request to ``path``, once ``after`` other requests to it went through."""

    path: str
    status: int
    body: bytes
    headers: dict[str, str]
    after: int = 0


@dataclass
class RateLimit:
    """Auth0's token bucket: ``burst`` requests at once, refilled at ``per_minute``."""

    burst: int
    per_minute: float
    tokens: float = field(init=False)
    updated: float = field(init=False, default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> tuple[bool, int, float]:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.per_minute / 60.0)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1  # reset: when the bucket is full again
            return True, int(self.tokens), now + (self.burst - self.tokens) * 60.0 / self.per_minute
        return False, 0, now + (1 - self.tokens) * 60.0 / self.per_minute  # reset: when one request is allowed


class Auth0StandIn(LoopbackServer):
    """An in-memory tenant. Start it, point the ``auth0_default`` connection at ``base_url``."""

    def __init__(
        self,
        *,
        client_id: str = "standin-client-id",
        client_secret: str = "standin-client-secret",
        token_lifetime: int = 86400,
        scopes: tuple[str, ...] = ("read:logs",),
        rate_limit: RateLimit | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.scopes = scopes
        self.rate_limit = rate_limit
        self._events: list[StoredEvent] = []
        self._tokens: dict[str, float] = {}
        self._token_scopes: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._last_id = ""
        self.tokens_issued = 0
        self.rate_limited = 0  # requests answered 429
        self.requests: Counter[str] = Counter()
        self.injected: list[Injection] = []
        # Tests' hooks into a request in progress: called with "GET /api/v2/logs" (method and path)
        # before it is answered, to change the tenant mid-run (expire tokens on the Nth page, say).
        self.before_request: Callable[[str], None] | None = None
        # Checkpoint pages start this many logs before `from`: overlapping pages, each repeating the
        # end of the one before, for clients that must not deliver an event twice when that happens.
        self.page_overlap = 0
        super().__init__(_handler_for(self), host, port)

    def token_request(self) -> dict[str, str]:
        """The client-credentials body a client of this tenant POSTs to /oauth/token."""
        host = self.base_url.split("://", 1)[1]
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "audience": f"https://{host}/api/v2/",
        }

    def connection_uri(self) -> str:
        """The ``auth0_default`` connection as an AIRFLOW_CONN_* JSON value."""
        return json.dumps(
            {
                "conn_type": "auth0",
                "host": self.base_url,
                "login": self.client_id,
                "password": self.client_secret,
            }
        )

    # -- the tenant's logs ----------------------------------------------------------------------

    def next_log_id(self, moment: datetime) -> str:
        """A 56-digit id like Auth0's: 900, the UTC second, then a counter; always increasing."""
        with self._lock:
            candidate = f"900{moment.astimezone(UTC):%Y%m%d%H%M%S}{next(self._seq):039d}"
            if log_id_key(candidate) <= log_id_key(self._last_id):
                candidate = f"{self._last_id[:17]}{int(self._last_id[17:]) + 1:039d}"
            self._last_id = candidate
            return candidate

    def add_raw(self, raw: str) -> StoredEvent:
        """Store an event exactly as given; it must carry a log_id and a date."""
        data = json.loads(raw)
        event = StoredEvent(str(data.get("log_id") or data.get("_id")), str(data.get("date", "")), raw)
        with self._lock:
            bisect.insort(self._events, event, key=lambda e: log_id_key(e.log_id))  # O(1) when appended
            if log_id_key(event.log_id) > log_id_key(self._last_id):
                self._last_id = event.log_id
        return event

    def add_event(self, data: dict[str, Any], *, moment: datetime | None = None) -> StoredEvent:
        """Store a new event now: gives it a fresh log_id and date, keeps every other field."""
        moment = moment or datetime.now(UTC)
        data = dict(data)
        data["date"] = iso_ms(moment)
        data["log_id"] = self.next_log_id(moment)
        if "_id" in data:
            data["_id"] = data["log_id"]
        return self.add_raw(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def seed_fixtures(self) -> int:
        """Load the shipped real events with their original ids and dates."""
        lines = load_fixture_lines()
        for line in lines:
            self.add_raw(line)
        return len(lines)

    def forget_before(self, moment: datetime) -> int:
        """Retention: drop every log dated before ``moment``, as Auth0 does after 1 to 30 days."""
        cutoff = iso_ms(moment)
        with self._lock:
            kept = [e for e in self._events if e.date >= cutoff]
            dropped, self._events = len(self._events) - len(kept), kept
        return dropped

    @property
    def events(self) -> list[StoredEvent]:
        with self._lock:
            return list(self._events)

    def inject(
        self, path: str, status: int, body: bytes = b"", headers: dict[str, str] | None = None, *, after: int = 0
    ) -> None:
        """Answer the next request to ``path`` with this response instead (tests' fault injection).

        Injections for one path are served in the order given. ``after`` lets that many requests to
        ``path`` through first, counted once this injection is the next one for ``path``: a fault on
        the third page of a backlog rather than on the first request.
        """
        with self._lock:
            self.injected.append(Injection(path, status, body, headers or {}, after))

    # -- request handling ---------------------------------------------------------------------

    def _take_injected(self, path: str) -> tuple[int, bytes, dict[str, str]] | None:
        with self._lock:
            for i, injection in enumerate(self.injected):
                if injection.path == path:
                    if injection.after > 0:
                        injection.after -= 1
                        return None
                    del self.injected[i]
                    return injection.status, injection.body, injection.headers
        return None

    def issue_token(self, form: dict[str, str], host: str) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "access_denied", "error_description": "Unauthorized"}
        if form.get("audience") != f"https://{host}/api/v2/":
            return 403, {"error": "access_denied", "error_description": "Service not enabled within domain"}
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
            self._token_scopes[token] = self.scopes  # granting a scope later does not change this token
            self.tokens_issued += 1
        body = {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "scope": " ".join(self.scopes),
            "token_type": "Bearer",
        }
        return 200, body

    @property
    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> None:
        """Make every issued token expired, as if a day had passed."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def check_token(self, authorization: str | None) -> tuple[int, dict[str, Any]] | None:
        token = (authorization or "").removeprefix("Bearer ").strip()
        with self._lock:
            expires = self._tokens.get(token)
            scopes = self._token_scopes.get(token, ())
        if expires is None:
            return 401, {"statusCode": 401, "error": "Unauthorized", "message": "Invalid token"}
        if expires < time.time():
            return 401, {
                "statusCode": 401,
                "error": "Unauthorized",
                "message": "Expired token received for JSON Web Token validation",
            }
        if "read:logs" not in scopes:  # as Auth0: the scopes the token was issued with, not today's grants
            return 403, {
                "statusCode": 403,
                "error": "Forbidden",
                "message": "Insufficient scope, expected any of: read:logs",
                "errorCode": "insufficient_scope",
            }
        return None

    def query_logs(self, params: dict[str, str]) -> tuple[int, list[StoredEvent] | dict[str, Any]]:
        if "from" in params or "take" in params:
            take = _bounded_int(params.get("take"), 50, 1, MAX_TAKE)
            after = params.get("from")
            with self._lock:
                start = (
                    bisect.bisect_right(self._events, log_id_key(after), key=lambda e: log_id_key(e.log_id))
                    if after
                    else 0
                )
                start = max(0, start - self.page_overlap) if after else start
                return 200, self._events[start : start + take]
        events = self.events
        if params.get("q"):
            matches = _date_range(params["q"])
            if matches is None:
                return 400, {
                    "statusCode": 400,
                    "error": "Bad Request",
                    "message": f"The stand-in only understands q=date:[A TO B]; got {params['q']!r}",
                }
            events = [e for e in events if matches(e.date)]
        per_page = _bounded_int(params.get("per_page"), 50, 1, MAX_TAKE)
        page = _bounded_int(params.get("page"), 0, 0, 10_000)
        if (page + 1) * per_page > MAX_SEARCH_RESULTS:
            return 400, {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "You can only page through the first 1000 records.",
                "errorCode": "invalid_paging",
            }
        descending = params.get("sort", "date:-1") == "date:-1"
        ordered = sorted(events, key=lambda e: (e.date, log_id_key(e.log_id)), reverse=descending)
        return 200, ordered[page * per_page : (page + 1) * per_page]


def _date_range(query: str) -> Any:
    """A predicate on an event's ISO date for ``date:[A TO B}``; ``*`` leaves a side open."""
    found = _DATE_RANGE.match(query.strip())
    if not found:
        return None
    opening, low, high, closing = found.groups()
    low, high = (None if b == "*" else _iso_ms_text(b) for b in (low, high))

    def matches(date: str) -> bool:
        if low is not None and (date < low or (opening == "{" and date == low)):
            return False
        return high is None or date < high or (closing == "]" and date == high)

    return matches


def _iso_ms_text(bound: str) -> str:
    """A bound as the events' own date text (``2024-01-01T10:00:00.000Z``) so strings compare."""
    moment = datetime.fromisoformat(bound.replace("Z", "+00:00"))
    return iso_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _bounded_int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value), low), high) if value is not None else default
    except ValueError:
        return default


def _handler_for(tenant: Auth0StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
            headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
            self._send(status, json.dumps(value).encode(), headers)

        def _arrived(self, method: str, path: str) -> bool:
            """Count the request, let the test's ``before_request`` see it, and serve an injection if one is due."""
            request = f"{method} {path}"
            tenant.requests[request] += 1
            if tenant.before_request is not None:
                tenant.before_request(request)
            return self._serve_injected(path)

        def _serve_injected(self, path: str) -> bool:
            injected = tenant._take_injected(path)
            if injected is None:
                return False
            status, body, headers = injected
            self._send(status, body, headers)
            return True

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if self._arrived("POST", url.path):
                return
            if url.path != "/oauth/token":
                return self._json(404, {"statusCode": 404, "error": "Not Found"})
            if "json" in (self.headers.get("Content-Type") or ""):
                form = json.loads(body or "{}")
            else:
                form = {k: v[0] for k, v in parse_qs(body).items()}
            status, answer = tenant.issue_token(form, self.headers.get("Host", ""))
            self._json(status, answer)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if self._arrived("GET", url.path):
                return
            if not url.path.startswith("/api/v2/logs"):
                return self._json(404, {"statusCode": 404, "error": "Not Found"})
            limit_headers: dict[str, str] = {}
            if tenant.rate_limit is not None:
                allowed, remaining, reset = tenant.rate_limit.take()
                reset_epoch = time.time() + max(0.0, reset - time.monotonic())
                limit_headers = {
                    "x-ratelimit-limit": str(tenant.rate_limit.burst),
                    "x-ratelimit-remaining": str(remaining),
                    "x-ratelimit-reset": str(math.ceil(reset_epoch)),
                }
                if not allowed:
                    tenant.rate_limited += 1
                    return self._json(
                        429,
                        {
                            "statusCode": 429,
                            "error": "Too Many Requests",
                            "message": "Global limit has been reached",
                        },
                        limit_headers,
                    )
            denied = tenant.check_token(self.headers.get("Authorization"))
            if denied:
                return self._json(*denied, limit_headers)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path.startswith("/api/v2/logs/"):
                wanted = url.path.rsplit("/", 1)[1]
                match = [e for e in tenant.events if e.log_id == wanted]
                if not match:
                    return self._json(404, {"statusCode": 404, "error": "Not Found", "message": "Log not found"})
                return self._send(200, match[0].raw.encode(), {"Content-Type": "application/json", **limit_headers})
            status, result = tenant.query_logs(params)
            if isinstance(result, dict):
                return self._json(status, result, limit_headers)
            body = ("[" + ",".join(e.raw for e in result) + "]").encode()
            headers = {"Content-Type": "application/json; charset=utf-8", **limit_headers}
            if "from" in params or "take" in params:
                after = result[-1].log_id if result else params.get("from", "")
                next_query = urlencode({"from": after, "take": params.get("take", "50")})
                headers["Link"] = f'<{tenant.base_url}/api/v2/logs?{next_query}>; rel="next"'
            self._send(status, body, headers)

    return Handler


class ActivityGenerator:
    """Writes realistic tenant activity: new events cloned from the fixtures, dated now."""

    def __init__(self, tenant: Auth0StandIn, *, every_seconds: float = 10.0, seed: int | None = None) -> None:
        self.tenant = tenant
        self.every_seconds = every_seconds
        self.random = random.Random(seed)
        self.templates = [json.loads(line) for line in load_fixture_lines()]
        self.api_templates = [t for t in self.templates if t.get("type") == "sapi"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self) -> StoredEvent:
        """One event: mostly Management API writes, sometimes a login or other activity."""
        pool = self.api_templates if self.random.random() < 0.7 else self.templates
        return self.tenant.add_event(copy.deepcopy(self.random.choice(pool)))

    def start(self) -> ActivityGenerator:
        self._thread = threading.Thread(target=self._run, name="auth0-activity", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_seconds):
            for _ in range(self.random.randint(1, 3)):
                self.emit()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between bursts of new activity")
    args = parser.parse_args()
    tenant = Auth0StandIn(port=args.port).start()
    tenant.seed_fixtures()
    generator = ActivityGenerator(tenant, every_seconds=args.every).start()
    print(f"Auth0 stand-in at {tenant.base_url}  client id {tenant.client_id!r}", flush=True)
    serve_until_interrupted(tenant, generator)


if __name__ == "__main__":
    main()
