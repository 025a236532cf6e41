"""Auth0 Management API hook: the tenant connection, the access token and the Logs API protocol."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from airflow.sdk import BaseHook

from auth0_provider import metrics
from auth0_provider.events import LogEvent, MalformedLogPage, log_id_key, parse_log_page
from auth0_provider.exceptions import Auth0ConfigError, Auth0Error
from auth0_provider.hooks.token_cache import CachedToken, MemoryTokenCache, TokenCache, VariableTokenCache
from auth0_provider.masking import mask, redact
from auth0_provider.names import AUTH0_CONN_ID
from auth0_provider.records import Auth0Usage
from auth0_provider.retry_after import retry_after_seconds
from auth0_provider.staging import RunBudget

PAGE_SIZE = 100  # the Logs API maximum for `take` and `per_page`
USER_AGENT = "airflow-provider-auth0-webhooks"
READ_LOGS = "read:logs"
# Where the scope is granted, for messages that ask a person to grant it
GRANT_READ_LOGS = (
    "grant it in Auth0 Dashboard > Applications > APIs > Auth0 Management API > Machine to Machine Applications"
)
# The UI's Test button waits for the answer: one attempt, short timeouts, at most one short 429 wait
TEST_TIMEOUT = (10.0, 20.0)
TEST_MAX_RATE_LIMIT_WAIT = 5.0


@dataclass(frozen=True)
class Tenant:
    """Where and as whom to call the Management API, read from the Airflow connection."""

    conn_id: str
    base_url: str
    audience: str
    client_id: str
    client_secret: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """Identifies the app and tenant a cached token belongs to (the secret is not part of it)."""
        text = f"{self.base_url}|{self.audience}|{self.client_id}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


class Auth0Hook(BaseHook):
    """Reads an Auth0 tenant's logs with a client-credentials token.

    The connection's host is the tenant domain (``my-tenant.eu.auth0.com``) or a full base URL
    (``http://127.0.0.1:8089``); login and password are the client id and secret of a
    machine-to-machine application that has the ``read:logs`` scope. An optional ``audience`` in
    the extra is needed only when the host is a custom domain.
    """

    conn_name_attr = "auth0_conn_id"
    default_conn_name = AUTH0_CONN_ID
    conn_type = "auth0"
    hook_name = "Auth0"

    def __init__(
        self,
        auth0_conn_id: str = default_conn_name,
        *,
        token_cache: TokenCache | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_rate_limit_wait: float = 60.0,
        max_rate_limited: int = 10,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        settle_on_exit: bool = False,
    ) -> None:
        super().__init__()
        self.auth0_conn_id = auth0_conn_id
        self.token_cache = token_cache or VariableTokenCache(auth0_conn_id)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_rate_limited = max_rate_limited
        self.clock = clock
        self.sleep = sleep
        # Readers that take turns in one pool (several streams of a tenant): leaving, wait out a bucket this
        # hook emptied, so that the next reader, which cannot know, is not answered 429 on its first request
        self.settle_on_exit = settle_on_exit
        self.requests_sent = 0
        self.rate_limit_waits = 0  # 429s waited out, and empty buckets waited for before sending
        self.rate_limit_waited = 0.0  # seconds
        self._tenant: Tenant | None = None
        self._session: requests.Session | None = None
        self._token: str | None = None
        self._granted_scopes: tuple[str, ...] | None = None  # of the token this hook obtained, if Auth0 said
        self._not_before = 0.0  # Unix time before which the next request would only get a 429

    # -- connection -------------------------------------------------------------------------

    @property
    def tenant(self) -> Tenant:
        if self._tenant is None:
            self._tenant = self._read_tenant()
        return self._tenant

    def _read_tenant(self) -> Tenant:
        conn = self.get_connection(self.auth0_conn_id)
        cid = self.auth0_conn_id
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            raise Auth0ConfigError(f"Connection {cid!r} has no host: set it to the Auth0 tenant domain.")
        if not conn.login or not conn.password:
            raise Auth0ConfigError(
                f"Connection {cid!r} needs the client id (login) and client secret (password) of a "
                "machine-to-machine application that has the read:logs scope."
            )
        base_url = host if "://" in host else f"https://{host}"
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Auth0ConfigError(f"Connection {cid!r}: host {host!r} is not a domain or an http(s) URL.")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise Auth0ConfigError(
                f"Connection {cid!r}: host {host!r} uses plain http, which would send the client secret "
                f"unencrypted. Use https://{parts.netloc} (or just the domain); plain http is allowed only "
                "for a local stand-in on 127.0.0.1, ::1 or localhost."
            )
        audience = conn.extra_dejson.get("audience") or f"https://{parts.netloc}/api/v2/"
        mask(conn.password)
        return Tenant(cid, base_url, audience, conn.login, conn.password)

    def get_conn(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
            self._session.headers["User-Agent"] = USER_AGENT
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Auth0Hook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.settle_on_exit:
                self._pace()
        finally:
            self.close()

    # -- the UI's Test button ---------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Get a token and read one log, as a run would, for ``POST /api/v2/connections/test``.

        The api-server passes the form as a temporary connection (an ``AIRFLOW_CONN_*`` variable named
        by a random id, which ``auth0_conn_id`` holds here). The token is kept in memory only: a Test
        neither reads nor writes the token cache Variable, so it needs no metadata DB and leaves no
        token behind. One attempt, short timeouts: the UI waits for the answer.
        """
        probe = Auth0Hook(
            self.auth0_conn_id,
            token_cache=MemoryTokenCache(),
            timeout=TEST_TIMEOUT,
            max_attempts=1,
            max_rate_limited=1,
            max_rate_limit_wait=TEST_MAX_RATE_LIMIT_WAIT,
            clock=self.clock,
            sleep=self.sleep,
        )
        try:
            with probe:
                tenant = probe.tenant
                probe.get_access_token()
                scopes = probe._granted_scopes
                if scopes is not None and READ_LOGS not in scopes:
                    shown = ", ".join(scopes[:5]) + (f" and {len(scopes) - 5} more" if len(scopes) > 5 else "")
                    return False, (
                        f"Auth0 granted connection {tenant.conn_id!r} a token without {READ_LOGS} (its scopes: "
                        f"{shown or 'none'}): the application has no {READ_LOGS} scope: {GRANT_READ_LOGS}."
                    )
                page = probe._get_logs({"per_page": 1, "page": 0}, renew=False)  # the token is fresh
        except (Auth0ConfigError, Auth0Error) as exc:
            return False, probe._scrub(str(exc))
        except Exception as exc:  # the api-server shows any message: keep it without secrets
            return False, probe._scrub(f"Connection {self.auth0_conn_id!r}: {type(exc).__name__}: {exc}")
        return True, f"Token granted and {len(page)} log(s) read from {urlsplit(tenant.base_url).netloc}"

    def _scrub(self, text: str) -> str:
        """``text`` without the client secret or the token, even where the secrets masker is off."""
        for secret in (self._tenant.client_secret if self._tenant else None, self._token):
            if secret:
                text = text.replace(secret, "***")
        return redact(text)

    # -- access token -----------------------------------------------------------------------

    def get_access_token(self) -> str:
        """A valid token, reused across task instances and runs until shortly before it expires."""
        if self._token is None:
            tenant = self.tenant
            cached = self.token_cache.load()
            if cached and cached.fingerprint == tenant.fingerprint and self.clock() < cached.renew_after:
                mask(cached.access_token)
                self._token = cached.access_token
            else:
                self._token = self._request_token(tenant)
        return self._token

    def _request_token(self, tenant: Tenant) -> str:
        body = {
            "grant_type": "client_credentials",
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "audience": tenant.audience,
        }
        response = self._send("POST", f"{tenant.base_url}/oauth/token", json=body)
        if response.status_code in (400, 401, 403):
            refused = (
                f"Auth0 refused the client credentials of connection {tenant.conn_id!r} "
                f"(HTTP {response.status_code}: {_error_text(response)})"
            )
            if response.status_code == 401:  # access_denied: no such client, or not its secret
                raise Auth0ConfigError(
                    f"{refused}: check the Client Secret (the connection's password) and the Client ID (its login)."
                )
            if response.status_code == 403:  # the application is not authorized for this audience
                raise Auth0ConfigError(
                    f"{refused}: the application is not authorized for the Management API ({tenant.audience}). "
                    "Authorize it in Auth0 Dashboard > Applications > APIs > Auth0 Management API > Machine to "
                    "Machine Applications; for a custom domain, set the audience extra to "
                    "https://<tenant>.auth0.com/api/v2/."
                )
            raise Auth0ConfigError(
                f"{refused}. Check the client id and secret, and that the application is authorized for the "
                f"Management API ({tenant.audience})."
            )
        if not response.ok:
            raise Auth0Error(f"Auth0 token endpoint answered HTTP {response.status_code}: {_error_text(response)}")
        try:
            answer = response.json()
            token, expires_in = str(answer["access_token"]), float(answer.get("expires_in") or 86400)
        except (ValueError, KeyError, TypeError):
            raise Auth0Error("Auth0 token endpoint answered without an access_token") from None
        mask(token)
        scope = answer.get("scope")
        self._granted_scopes = tuple(scope.split()) if isinstance(scope, str) else None
        now = self.clock()
        renew_after = now + expires_in - min(600.0, expires_in * 0.2)
        self.token_cache.store(CachedToken(token, renew_after, tenant.fingerprint))
        self.log.info("Obtained a new Auth0 access token, valid for %.0f s", expires_in)
        return token

    def _forget_token(self) -> None:
        self._token = None
        self.token_cache.clear()

    # -- Logs API ---------------------------------------------------------------------------

    def read_logs(
        self,
        after_log_id: str,
        max_events: int,
        *,
        max_bytes: int | None = None,
        stop: Callable[[LogEvent], bool] | None = None,
    ) -> list[LogEvent]:
        """Events newer than ``after_log_id`` in log-id order (checkpoint mode), at most ``max_events``.

        Pages until Auth0 returns an empty page, the cap is reached, or a page holds an event for
        which ``stop`` is true (a replay past its window). Duplicates across pages and events at or
        before the checkpoint are dropped. With ``max_bytes``, it also stops once the events read
        hold that many bytes of text, and asks for fewer per page once they are large
        (``staging.RunBudget``); what it returns may pass the cap by part of a page, for the caller to cut.
        """
        budget = RunBudget(max_events, max_bytes or sys.maxsize)
        events: dict[str, LogEvent] = {}
        size = 0
        cursor = after_log_id
        floor = log_id_key(after_log_id)
        while budget.open(len(events), size):
            page = self._get_logs({"from": cursor, "take": budget.next_take(len(events), size, PAGE_SIZE)})
            if not page:
                break
            for event in page:
                if log_id_key(event.log_id) > floor and event.log_id not in events:
                    events[event.log_id] = event
                    size += len(event.raw)
            newest = max((event.log_id for event in page), key=log_id_key)
            if log_id_key(newest) <= log_id_key(cursor):
                break  # no progress: stop rather than read the same page forever
            cursor = newest
            if stop is not None and any(stop(event) for event in page):
                break
        ordered = sorted(events.values(), key=lambda event: log_id_key(event.log_id))
        return ordered[:max_events]

    def edge_log(self, *, newest: bool, dated: tuple[datetime, datetime] | None = None) -> LogEvent | None:
        """The newest or oldest log the tenant still keeps, or of those dated in ``[from, to)``.

        Search mode sorts by date, but checkpoints go by log id, and the two orders differ by a few
        seconds. So take a page of the oldest (newest) dates and start from its lowest (highest) log
        id: a checkpoint from there misses nothing and skips nothing older.
        """
        params: dict[str, Any] = {"sort": "date:-1" if newest else "date:1", "per_page": PAGE_SIZE, "page": 0}
        if dated is not None:
            params["q"] = f"date:[{_lucene_time(dated[0])} TO {_lucene_time(dated[1])}}}"
        page = self._get_logs(params)
        if not page:
            return None
        pick = max if newest else min
        return pick(page, key=lambda event: log_id_key(event.log_id))

    def log_exists(self, log_id: str) -> bool:
        """Whether Auth0 still keeps this log (``GET /api/v2/logs/{id}``; 404 once retention dropped it)."""
        return self._authorized_get(f"/api/v2/logs/{quote(log_id, safe='')}", {}, missing_ok=True) is not None

    def _get_logs(self, params: dict[str, Any], *, renew: bool = True) -> list[LogEvent]:
        response = self._authorized_get("/api/v2/logs", params, renew=renew)
        content_type = response.headers.get("Content-Type", "no content type")
        try:
            text = response.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Auth0Error(f"Auth0 answered GET /api/v2/logs with an unusable body ({content_type}): {exc}") from None
        del response  # a page of large events: hold its text once, not its bytes too, while it is split
        try:
            return parse_log_page(text)
        except MalformedLogPage as exc:
            raise Auth0Error(f"Auth0 answered GET /api/v2/logs with an unusable body ({content_type}): {exc}") from None

    def _authorized_get(
        self, path: str, params: dict[str, Any], *, missing_ok: bool = False, renew: bool = True
    ) -> requests.Response | None:
        """GET ``path`` with the token; on 401/403 renew it once, unless ``renew`` is false (it is fresh)."""
        renewed = not renew
        while True:
            token = self.get_access_token()
            url = f"{self.tenant.base_url}{path}"
            response = self._send("GET", url, params=params, headers={"Authorization": f"Bearer {token}"})
            if response.status_code in (401, 403) and not renewed:
                # 401: the token expired or was revoked. 403: a token keeps the scopes it was issued
                # with, so one cached before read:logs was granted is refused until it is renewed.
                self.log.info("Auth0 answered %d for %s; renewing the access token once", response.status_code, path)
                self._forget_token()
                renewed = True
                continue
            if response.status_code == 401:
                raise Auth0ConfigError(
                    f"Auth0 answered 401 for {path} even with a freshly issued token "
                    f"(connection {self.auth0_conn_id!r}): {_error_text(response)}"
                )
            if response.status_code == 403:
                raise Auth0ConfigError(
                    f"Auth0 answered 403 for {path} even with a freshly issued token: the application lacks "
                    "the read:logs scope. Grant "
                    f"read:logs to the client of connection {self.auth0_conn_id!r} in the Auth0 dashboard "
                    f"(Applications > APIs > Auth0 Management API > Machine to Machine Applications)."
                )
            if response.status_code == 404 and missing_ok:
                return None
            if not response.ok:
                raise Auth0Error(f"Auth0 answered HTTP {response.status_code} for {path}: {_error_text(response)}")
            return response

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request, retried on network errors and 5xx (backoff) and on 429 (until the reset)."""
        failures = rate_limited = 0
        while True:
            self._pace()
            self.requests_sent += 1
            metrics.auth0_request()
            try:
                response = self.get_conn().request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                if failures >= self.max_attempts:
                    raise Auth0Error(
                        f"Could not reach Auth0 ({method} {_path(url)}) after {_attempts(failures)}: "
                        f"{type(exc).__name__}{_network_reason(exc)}"
                    ) from None
                self._back_off(failures, f"{type(exc).__name__} on {method} {_path(url)}")
                continue
            if response.status_code == 429:
                rate_limited += 1
                if rate_limited > self.max_rate_limited:
                    raise Auth0Error(
                        f"Auth0 kept answering 429 Too Many Requests for {_path(url)} "
                        f"({_times(rate_limited)}); the tenant's rate limit is exhausted"
                    )
                wait = self._rate_limit_wait(response)
                self.log.warning("Auth0 rate limit reached (429); waiting %.1f s", wait)
                self._wait_for_rate_limit(wait)
                continue
            if response.status_code >= 500:
                failures += 1
                if failures >= self.max_attempts:
                    raise Auth0Error(
                        f"Auth0 answered HTTP {response.status_code} for {method} {_path(url)} "
                        f"{_times(failures)}: {_error_text(response)}"
                    )
                self._back_off(failures, f"HTTP {response.status_code} on {method} {_path(url)}")
                continue
            self._note_rate_limit(response)  # a 429 is waited out above, once
            return response

    def _note_rate_limit(self, response: requests.Response) -> None:
        """Remember when to send next if this request emptied the bucket, so the next one needs no 429.

        ``x-ratelimit-reset`` is whole seconds, so the bucket is full somewhere in the second before
        it; waiting for the reset itself leaves it full, refilling nothing, for up to that second
        (about 8% of the Professional rate). A second earlier it already holds more than
        ``limit * (1 - 1 / (reset - 1 - now))`` requests; when that is at least one, go then.
        """
        if response.headers.get("x-ratelimit-remaining") != "0":
            return
        with contextlib.suppress(KeyError, ValueError):
            reset = float(response.headers["x-ratelimit-reset"])
            self._not_before = reset
            limit = int(response.headers["x-ratelimit-limit"])
            early = reset - 1 - self.clock()
            if early > 0 and limit * (1 - 1 / early) >= 1:
                self._not_before = reset - 1

    def _pace(self) -> None:
        wait = min(self._not_before - self.clock(), self.max_rate_limit_wait)
        if wait > 0:
            self.log.debug("Auth0 rate limit bucket is empty; waiting %.1f s for it to refill", wait)
            self._wait_for_rate_limit(wait)
        self._not_before = 0.0

    def _wait_for_rate_limit(self, seconds: float) -> None:
        self.rate_limit_waits += 1
        self.rate_limit_waited += seconds
        metrics.rate_limit_wait(seconds)
        self.sleep(seconds)

    @property
    def usage(self) -> Auth0Usage:
        """What this hook has asked of Auth0 so far, for the status page."""
        return Auth0Usage(self.requests_sent, self.rate_limit_waits, round(self.rate_limit_waited, 3))

    def _back_off(self, failures: int, what: str) -> None:
        wait = min(self.backoff_seconds * 2 ** (failures - 1), 30.0)
        self.log.warning("%s; retrying in %.1f s (attempt %d of %d)", what, wait, failures + 1, self.max_attempts)
        self.sleep(wait)

    def _rate_limit_wait(self, response: requests.Response) -> float:
        """Seconds until Auth0's token bucket refills, from x-ratelimit-reset (Unix time) or Retry-After."""
        wait = None
        reset = response.headers.get("x-ratelimit-reset")
        try:
            if reset is not None:
                wait = float(reset) - self.clock()
        except ValueError:
            wait = None
        if wait is None:
            wait = retry_after_seconds(response.headers.get("Retry-After"), self.clock())
        if wait is None:
            wait = self.backoff_seconds
        return min(max(wait, 0.5), self.max_rate_limit_wait)


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _network_reason(exc: BaseException) -> str:
    """Why a request could not be sent, in a few words (DNS, refused, certificate...); no URL, no headers."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f" (certificate verify failed: {current.verify_message})"
        if isinstance(current, socket.gaierror) or "NameResolution" in type(current).__name__:
            return " (DNS lookup failed)"
        if isinstance(current, ConnectionRefusedError):
            return " (connection refused)"
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return ""


def _is_loopback(hostname: str | None) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname or "").is_loopback
    except ValueError:
        return False


def _lucene_time(moment: datetime) -> str:
    """A search-mode date bound, in the form Auth0's own dates take (UTC, milliseconds)."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _path(url: str) -> str:
    return urlsplit(url).path


def _error_text(response: requests.Response, limit: int = 300) -> str:
    """Auth0's own error fields when it sent JSON, else the start of the body."""
    try:
        body = response.json()
        if isinstance(body, dict):
            text = " ".join(str(body[k]) for k in ("error", "error_description", "message") if body.get(k))
            if text:
                return redact(text)[:limit]
    except ValueError:
        pass
    return redact((response.text or response.reason or "").strip())[:limit]
