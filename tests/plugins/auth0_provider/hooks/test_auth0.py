"""The Auth0 hook against the stand-in: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from auth0_provider.exceptions import Auth0ConfigError, Auth0Error
from auth0_provider.hooks.auth0 import Auth0Hook
from auth0_provider.hooks.token_cache import MemoryTokenCache
from auth0_standin import Auth0StandIn, RateLimit
from tests.support import FORM_ID, api_event, press_test_button


@pytest.fixture
def connect(monkeypatch):
    """Point connection `auth0_default` at a tenant and build hooks that share one token cache."""
    cache = MemoryTokenCache()

    def make(tenant: Auth0StandIn, **kwargs) -> Auth0Hook:
        monkeypatch.setenv("AIRFLOW_CONN_AUTH0_DEFAULT", tenant.connection_uri())
        kwargs.setdefault("backoff_seconds", 0.05)
        return Auth0Hook(token_cache=cache, **kwargs)

    make.cache = cache
    return make


def add_events(tenant: Auth0StandIn, count: int) -> list[str]:
    return [tenant.add_event(api_event("post", f"/api/v2/users/auth0|{i}")).log_id for i in range(count)]


def test_pages_in_log_id_order_until_an_empty_page(standin, connect):
    ids = add_events(standin, 250)
    hook = connect(standin)
    events = hook.read_logs(ids[0], max_events=1000)
    assert [e.log_id for e in events] == ids[1:]
    # 249 events: pages of 100, 100, 49, then the empty page that proves we are caught up
    assert standin.requests["GET /api/v2/logs"] == 4


def test_stops_at_the_per_run_cap(standin, connect):
    ids = add_events(standin, 120)
    events = connect(standin).read_logs(ids[0], max_events=30)
    assert [e.log_id for e in events] == ids[1:31]
    assert standin.requests["GET /api/v2/logs"] == 1


def test_events_keep_unknown_fields_and_exact_bytes(standin, connect):
    first = standin.add_event(api_event("post", "/api/v2/users"))
    raw = (
        f'{{"log_id":"{int(first.log_id) + 1}","date":"2030-01-01T00:00:00.000Z","type":"sapi",'
        '"x_future_field":{"nested":[1,2.50,"\\u00e9"]},"note":"{{ var.value.x }}"}'
    )
    standin.add_raw(raw)
    events = connect(standin).read_logs(first.log_id, max_events=10)
    assert [e.raw for e in events] == [raw]


def test_token_is_reused_across_hooks_and_runs(standin, connect):
    ids = add_events(standin, 3)
    for _ in range(5):  # five task instances, each with its own hook
        connect(standin).read_logs(ids[0], max_events=10)
    assert standin.tokens_issued == 1


def test_token_is_renewed_when_close_to_expiry(connect):
    with Auth0StandIn(token_lifetime=60) as tenant:
        ids = add_events(tenant, 2)
        now = time.time()
        connect(tenant, clock=lambda: now).read_logs(ids[0], max_events=10)
        # 60 s lifetime: renewed once less than 20% (12 s) is left
        connect(tenant, clock=lambda: now + 30).read_logs(ids[0], max_events=10)
        assert tenant.tokens_issued == 1
        connect(tenant, clock=lambda: now + 50).read_logs(ids[0], max_events=10)
        assert tenant.tokens_issued == 2


def test_401_renews_the_token_once(standin, connect):
    ids = add_events(standin, 2)
    connect(standin).read_logs(ids[0], max_events=10)
    standin.expire_tokens()  # the cached token is now rejected with 401
    events = connect(standin).read_logs(ids[0], max_events=10)
    assert [e.log_id for e in events] == ids[1:]
    assert standin.tokens_issued == 2


def test_a_second_401_fails_and_names_the_connection(standin, connect):
    ids = add_events(standin, 2)
    for _ in range(2):
        standin.inject("/api/v2/logs", 401, b'{"statusCode":401,"error":"Unauthorized","message":"Bad audience"}')
    with pytest.raises(Auth0ConfigError, match=r"401.*auth0_default"):
        connect(standin).read_logs(ids[0], max_events=10)
    assert standin.tokens_issued == 2


def test_429_waits_until_the_reset_then_continues(connect):
    """2 to 3 s on an idle machine, most of it the waits for the refill; the 30 s bound is 10 times that, so
    only a wait far past the reset reaches it. The waits the hook chose are checked exactly (``slept``)."""
    with Auth0StandIn(rate_limit=RateLimit(burst=2, per_minute=60)) as tenant:
        ids = add_events(tenant, 250)
        slept: list[float] = []
        hook = connect(tenant, sleep=lambda s: (slept.append(s), time.sleep(s)))
        started = time.monotonic()
        events = hook.read_logs(ids[0], max_events=1000)
        assert [e.log_id for e in events] == ids[1:]
        assert slept, "the stand-in answered 429 and the hook should have waited"
        assert all(0.5 <= s <= 60 for s in slept)
        assert time.monotonic() - started < 30


def test_an_emptied_bucket_is_waited_out_before_the_next_request_not_after_a_429(connect):
    """At 2 requests a second after a burst of 2, the 6 requests wait at least 1.5 s: a lower bound, which a busy
    machine only makes longer. About 4 s on an idle machine; the upper bound, 40 s, is 10 times that and below
    the 60 s a hook waiting out a whole minute's limit would take."""
    with Auth0StandIn(rate_limit=RateLimit(burst=2, per_minute=120)) as tenant:
        ids = add_events(tenant, 501)
        started = time.monotonic()
        events = connect(tenant).read_logs(ids[0], max_events=1000)
        assert len(events) == 500
        assert tenant.rate_limited == 0  # 6 requests at 2 a second, none refused
        assert tenant.requests["GET /api/v2/logs"] == 6
        assert 1.5 <= time.monotonic() - started < 40


@pytest.mark.parametrize(
    ("limit", "reset_in", "waited"),
    [
        (10, 7, 6),  # Professional: a second before the reset the bucket holds 8 or more; go then
        (2, 2, 2),  # Free: a second early it may hold nothing; wait for the reset itself
        (10, 1.5, 1.5),  # too close to the reset to tell
    ],
)
def test_an_emptied_bucket_is_waited_out_to_the_second_before_its_reset_when_that_is_safe(
    standin, connect, limit, reset_in, waited
):
    ids = add_events(standin, 3)
    now = 1_800_000_000.0
    first_page = f"[{standin.events[1].raw}]".encode()
    headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(now + reset_in)}
    standin.inject("/api/v2/logs", 200, first_page, {"Content-Type": "application/json", **headers})
    slept: list[float] = []
    events = connect(standin, clock=lambda: now, sleep=slept.append).read_logs(ids[0], max_events=10)
    assert [e.log_id for e in events] == ids[1:]
    assert slept == [waited]


def test_429_wait_is_bounded(standin, connect):
    ids = add_events(standin, 2)
    far_future = str(int(time.time()) + 3600)
    standin.inject("/api/v2/logs", 429, b"{}", {"x-ratelimit-reset": far_future})
    slept: list[float] = []
    events = connect(standin, sleep=slept.append, max_rate_limit_wait=7).read_logs(ids[0], max_events=10)
    assert slept == [7]
    assert len(events) == 1


def test_a_429_is_waited_out_once_even_when_it_says_the_bucket_is_empty(standin, connect):
    ids = add_events(standin, 2)
    far_future = str(int(time.time()) + 3600)
    standin.inject("/api/v2/logs", 429, b"{}", {"x-ratelimit-remaining": "0", "x-ratelimit-reset": far_future})
    slept: list[float] = []
    events = connect(standin, sleep=slept.append, max_rate_limit_wait=7).read_logs(ids[0], max_events=10)
    assert slept == [7]  # not a second wait for the same reset before the retry
    assert len(events) == 1


def test_5xx_and_network_errors_retry_with_backoff(standin, connect):
    ids = add_events(standin, 2)
    standin.inject("/oauth/token", 503, b"upstream down")
    standin.inject("/api/v2/logs", 500, b'{"statusCode":500}')
    standin.inject("/api/v2/logs", 502, b"<html>bad gateway</html>")
    slept: list[float] = []
    events = connect(standin, sleep=slept.append).read_logs(ids[0], max_events=10)
    assert len(events) == 1
    assert slept == [0.05, 0.05, 0.1]  # token retry, then two backoffs on the logs request


def test_persistent_5xx_gives_up_with_a_clear_error(standin, connect):
    ids = add_events(standin, 2)
    for _ in range(5):
        standin.inject("/api/v2/logs", 503, b"down")
    with pytest.raises(Auth0Error, match=r"503.*5 times"):
        connect(standin, sleep=lambda s: None).read_logs(ids[0], max_events=10)


def test_unreachable_tenant_gives_up_after_bounded_attempts(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUTH0_DEFAULT",
        json.dumps({"conn_type": "auth0", "host": "http://127.0.0.1:9", "login": "id", "password": "s3cret-value"}),
    )
    hook = Auth0Hook(token_cache=MemoryTokenCache(), sleep=lambda s: None, max_attempts=3)
    with pytest.raises(Auth0Error, match="after 3 attempts") as err:
        hook.read_logs("1", max_events=1)
    assert "s3cret-value" not in str(err.value)


def test_403_names_the_missing_scope():
    with Auth0StandIn(scopes=("read:users",)) as tenant:
        os.environ["AIRFLOW_CONN_AUTH0_DEFAULT"] = tenant.connection_uri()
        try:
            with pytest.raises(Auth0ConfigError, match="lacks the read:logs scope"):
                Auth0Hook(token_cache=MemoryTokenCache()).read_logs("1", max_events=1)
        finally:
            del os.environ["AIRFLOW_CONN_AUTH0_DEFAULT"]


def test_a_token_cached_before_read_logs_was_granted_is_renewed_once(standin, connect):
    ids = add_events(standin, 2)
    standin.scopes = ()
    with pytest.raises(Auth0ConfigError, match="even with a freshly issued token: the application lacks the read:logs"):
        connect(standin).read_logs(ids[0], max_events=10)
    assert standin.tokens_issued == 2  # the cached one, then one fresh token before giving up
    standin.scopes = ("read:logs",)  # granted in the dashboard: the cached token still lacks it
    events = connect(standin).read_logs(ids[0], max_events=10)
    assert [e.log_id for e in events] == ids[1:]
    assert standin.tokens_issued == 3


def test_wrong_client_secret_is_a_clear_error_without_the_secret(standin, monkeypatch):
    conn = json.loads(standin.connection_uri()) | {"password": "not-the-right-secret"}
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_DEFAULT", json.dumps(conn))
    with pytest.raises(Auth0ConfigError, match="refused the client credentials of connection 'auth0_default'") as err:
        Auth0Hook(token_cache=MemoryTokenCache()).read_logs("1", max_events=1)
    assert "not-the-right-secret" not in str(err.value)


def test_html_error_page_instead_of_json(standin, connect):
    standin.inject("/api/v2/logs", 200, b"<html><body>Maintenance</body></html>", {"Content-Type": "text/html"})
    with pytest.raises(Auth0Error, match=r"unusable body \(text/html\)"):
        connect(standin).read_logs("1", max_events=10)


def test_duplicates_across_pages_are_dropped(standin, connect):
    ids = add_events(standin, 3)
    page_one = "[" + ",".join(e.raw for e in standin.events[1:3]) + "]"
    standin.inject("/api/v2/logs", 200, page_one.encode())
    events = connect(standin).read_logs(ids[0], max_events=10)
    assert [e.log_id for e in events] == ids[1:]


def test_oldest_and_newest_log_use_search_mode(standin, connect):
    ids = add_events(standin, 3)
    hook = connect(standin)
    assert hook.edge_log(newest=False).log_id == ids[0]
    assert hook.edge_log(newest=True).log_id == ids[-1]


def test_missing_connection_names_the_connection_id(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AUTH0_DEFAULT", raising=False)
    with pytest.raises(Exception, match="auth0_default"):
        Auth0Hook(token_cache=MemoryTokenCache()).read_logs("1", max_events=1)


def test_connection_host_may_be_a_domain_or_a_full_url(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AUTH0_DEFAULT",
        json.dumps({"conn_type": "auth0", "host": "my-tenant.eu.auth0.com", "login": "id", "password": "secret1"}),
    )
    tenant = Auth0Hook(token_cache=MemoryTokenCache()).tenant
    assert tenant.base_url == "https://my-tenant.eu.auth0.com"
    assert tenant.audience == "https://my-tenant.eu.auth0.com/api/v2/"
    assert "secret1" not in repr(tenant)


def test_the_oldest_log_is_the_lowest_log_id_among_the_oldest_dates(standin, connect):
    """Auth0 dates and log ids disagree by a few seconds; starting from the oldest *date* could skip
    an event whose log id is lower, because checkpoints only return higher ids."""
    early_id = standin.add_event(api_event("post", "/api/v2/users")).log_id
    late = json.loads(standin.events[-1].raw) | {"date": "2001-01-01T00:00:00.000Z"}
    late["log_id"] = str(int(early_id) + 1)
    standin.add_raw(json.dumps(late))  # oldest date, but not the lowest log id
    assert connect(standin).edge_log(newest=False).log_id == early_id


def test_the_oldest_log_dated_in_a_range_is_found_by_a_date_search(standin, connect):
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    before, first, _, after = (
        standin.add_event(api_event("post", "/api/v2/users"), moment=start + timedelta(minutes=m))
        for m in (-1, 0, 4, 5)
    )
    hook = connect(standin)
    assert hook.edge_log(newest=False, dated=(start, start + timedelta(minutes=5))).log_id == first.log_id
    assert hook.edge_log(newest=False, dated=(start + timedelta(hours=1), start + timedelta(hours=2))) is None
    assert {before.log_id, after.log_id}.isdisjoint(
        e.log_id for e in hook._get_logs({"q": "date:[2026-11-24T10:00:00.000Z TO 2026-11-24T10:05:00.000Z}"})
    )


def test_paging_stops_after_the_page_that_passes_the_stop_mark(standin, connect):
    ids = add_events(standin, 250)
    stop_at = ids[120]
    events = connect(standin).read_logs(ids[0], max_events=1000, stop=lambda e: e.log_id == stop_at)
    assert [e.log_id for e in events] == ids[1:201]  # the page holding it is kept whole, then no more
    assert standin.requests["GET /api/v2/logs"] == 2


def test_whether_a_log_is_still_kept(standin, connect):
    old = standin.add_event(api_event("post", "/api/v2/users"), moment=datetime.now(UTC) - timedelta(days=3))
    hook = connect(standin)
    assert hook.log_exists(old.log_id)
    standin.forget_before(datetime.now(UTC) - timedelta(days=2))
    assert not hook.log_exists(old.log_id)


@pytest.mark.parametrize("host", ["http://my-tenant.eu.auth0.com", "http://10.0.0.5:8089", "http://auth0.example.com"])
def test_plain_http_is_refused_for_a_real_host_so_the_secret_never_travels_in_clear(monkeypatch, host):
    conn = {"conn_type": "auth0", "host": host, "login": "id", "password": "secret1"}
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_DEFAULT", json.dumps(conn))
    with pytest.raises(Auth0ConfigError, match=r"'auth0_default'.*plain http.*unencrypted") as caught:
        _ = Auth0Hook(token_cache=MemoryTokenCache()).tenant
    assert "secret1" not in str(caught.value)


@pytest.mark.parametrize("host", ["http://127.0.0.1:8089", "http://localhost:8089", "http://[::1]:8089"])
def test_plain_http_is_allowed_for_a_local_stand_in(monkeypatch, host):
    conn = {"conn_type": "auth0", "host": host, "login": "id", "password": "secret1"}
    monkeypatch.setenv("AIRFLOW_CONN_AUTH0_DEFAULT", json.dumps(conn))
    assert Auth0Hook(token_cache=MemoryTokenCache()).tenant.base_url == host


# -- the UI's Test button: POST /api/v2/connections/test -----------------------------------------


@pytest.fixture
def press_test(monkeypatch):
    """Test a connection form as the api-server does, and prove the token cache Variable is never used."""
    from auth0_provider.hooks.token_cache import VariableTokenCache

    variable_calls: list[str] = []
    for name in ("load", "store", "clear"):
        monkeypatch.setattr(VariableTokenCache, name, lambda self, *a, _name=name: variable_calls.append(_name))

    def press(form: dict) -> tuple[bool, str]:
        return press_test_button(monkeypatch, **form)

    press.variable_calls = variable_calls
    return press


def form(tenant: Auth0StandIn, **changes: str) -> dict:
    return json.loads(tenant.connection_uri()) | changes


def test_the_test_button_gets_a_token_and_reads_one_log_without_the_token_cache_variable(standin, press_test):
    add_events(standin, 3)
    ok, message = press_test(form(standin))
    assert (ok, message) == (True, f"Token granted and 1 log(s) read from {standin.base_url.split('://')[1]}")
    assert standin.tokens_issued == 1
    assert standin.requests["GET /api/v2/logs"] == 1
    assert press_test.variable_calls == []  # neither read nor written: no token left behind, no DB needed


def test_the_test_button_names_the_client_secret_when_auth0_refuses_it(standin, press_test):
    ok, message = press_test(form(standin, password="not-the-right-secret"))
    assert not ok
    assert message == (
        f"Auth0 refused the client credentials of connection '{FORM_ID}' (HTTP 401: access_denied Unauthorized): "
        "check the Client Secret (the connection's password) and the Client ID (its login)."
    )
    assert "not-the-right-secret" not in message
    assert standin.requests["GET /api/v2/logs"] == 0
    assert press_test.variable_calls == []


def test_the_test_button_names_the_read_logs_scope_when_the_token_lacks_it(press_test):
    with Auth0StandIn(scopes=("read:users",)) as tenant:
        ok, message = press_test(form(tenant))
        assert not ok
        assert message == (
            f"Auth0 granted connection '{FORM_ID}' a token without read:logs (its scopes: read:users): the "
            "application has no read:logs scope: grant it in Auth0 Dashboard > Applications > APIs > Auth0 "
            "Management API > Machine to Machine Applications."
        )
        assert tenant.tokens_issued == 1
        (token,) = tenant.issued_tokens
        for secret in (token, tenant.client_secret):
            assert secret not in message
        assert press_test.variable_calls == []


def test_the_test_button_names_the_read_logs_scope_when_auth0_refuses_the_logs_without_asking_a_second_token(
    standin, press_test
):
    insufficient = {"statusCode": 403, "error": "Forbidden", "errorCode": "insufficient_scope"}
    standin.inject("/api/v2/logs", 403, json.dumps(insufficient).encode())
    ok, message = press_test(form(standin))
    assert not ok
    assert "the application lacks the read:logs scope. Grant read:logs" in message
    assert "Auth0 Management API" in message
    assert standin.tokens_issued == 1  # the Test's token is fresh: renewing it could not help
    assert standin.client_secret not in message and standin.issued_tokens[0] not in message


def test_the_test_button_tries_an_unreachable_tenant_once_and_says_why(press_test):
    """Refused at once and not tried again: a few ms on an idle machine. The 10 s bound is thousands of times
    that, so only a backoff (1 s, doubling) reaches it; the message counts the attempts exactly."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    started = time.monotonic()
    ok, message = press_test(
        {"conn_type": "auth0", "host": f"http://127.0.0.1:{closed}", "login": "id", "password": "s3cret-value"}
    )
    assert not ok
    assert message == "Could not reach Auth0 (POST /oauth/token) after 1 attempt: ConnectionError (connection refused)"
    assert time.monotonic() - started < 10


def test_the_test_button_does_not_retry_a_failing_token_endpoint(standin, press_test):
    for _ in range(2):
        standin.inject("/oauth/token", 503, b"upstream down")
    ok, message = press_test(form(standin))
    assert (ok, message) == (False, "Auth0 answered HTTP 503 for POST /oauth/token once: upstream down")
    assert standin.requests["POST /oauth/token"] == 1


def test_stops_at_the_byte_cap_and_asks_for_fewer_events_once_they_are_known_to_be_large(standin, connect):
    first = standin.add_event(api_event("post", "/api/v2/users"))
    big = [standin.add_event(api_event("post", "/api/v2/users", note="z" * 10_000)) for _ in range(250)]
    events = connect(standin).read_logs(first.log_id, max_events=1000, max_bytes=1_200_000)
    sizes = [len(e.raw) for e in events]
    assert [e.log_id for e in events] == [e.log_id for e in big[: len(events)]]
    assert 1_200_000 <= sum(sizes) < 1_200_000 + 2 * max(sizes), "it stops at the cap, past it by little"
    assert len(events) < 150, "after the first page of 100 it asked only for about what still fits"


@pytest.mark.parametrize("settle", [True, False])
def test_a_reader_sharing_the_read_pool_leaves_a_bucket_the_next_reader_can_use_without_a_429(connect, settle):
    """Streams of one tenant take turns in its read pool; each new reader starts knowing nothing of the bucket."""
    with Auth0StandIn(rate_limit=RateLimit(burst=2, per_minute=120)) as tenant:
        ids = add_events(tenant, 301)
        with connect(tenant, settle_on_exit=settle) as first:
            assert len(first.read_logs(ids[0], max_events=200)) == 200  # 2 pages: the bucket is empty
        with connect(tenant) as second:  # another stream's reader, right after
            assert len(second.read_logs(ids[200], max_events=100)) == 100
        assert tenant.rate_limited == (0 if settle else 1)
