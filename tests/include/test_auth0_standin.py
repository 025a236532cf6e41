"""The stand-in follows the documented Logs API, so that tests against it mean something."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from auth0_standin import Auth0StandIn, RateLimit
from tests.support import api_event


def token(tenant: Auth0StandIn) -> str:
    answer = requests.post(
        f"{tenant.base_url}/oauth/token",
        json=tenant.token_request(),
        timeout=5,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    return body["access_token"]


def test_checkpoint_paging_is_capped_at_100_and_links_the_next_page(standin):
    ids = [standin.add_event(api_event("post", "/api/v2/users")).log_id for _ in range(150)]
    auth = {"Authorization": f"Bearer {token(standin)}"}
    page = requests.get(f"{standin.base_url}/api/v2/logs", params={"from": ids[0], "take": 500}, headers=auth)
    assert [e["log_id"] for e in page.json()] == ids[1:101]
    assert f"from={ids[100]}" in page.headers["Link"]
    empty = requests.get(f"{standin.base_url}/api/v2/logs", params={"from": ids[-1], "take": 100}, headers=auth)
    assert empty.json() == []


def test_search_mode_pages_only_through_1000_results(standin):
    auth = {"Authorization": f"Bearer {token(standin)}"}
    answer = requests.get(f"{standin.base_url}/api/v2/logs", params={"page": 10, "per_page": 100}, headers=auth)
    assert answer.status_code == 400


def test_tokens_are_checked_and_rate_limit_headers_sent():
    with Auth0StandIn(rate_limit=RateLimit(burst=1, per_minute=60)) as tenant:
        assert requests.get(f"{tenant.base_url}/api/v2/logs", headers={"Authorization": "Bearer x"}).status_code == 401
        auth = {"Authorization": f"Bearer {token(tenant)}"}
        limited = requests.get(f"{tenant.base_url}/api/v2/logs", params={"take": 1}, headers=auth)
        assert limited.status_code == 429
        assert int(limited.headers["x-ratelimit-reset"]) > 0
        assert limited.headers["x-ratelimit-remaining"] == "0"


def test_search_mode_filters_by_a_date_range_with_inclusive_and_exclusive_bounds(standin):
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    ids = [
        standin.add_event(api_event("post", "/api/v2/users"), moment=start + timedelta(minutes=m)).log_id
        for m in range(4)
    ]
    auth = {"Authorization": f"Bearer {token(standin)}"}

    def search(q: str) -> list[str]:
        answer = requests.get(f"{standin.base_url}/api/v2/logs", params={"q": q, "sort": "date:1"}, headers=auth)
        assert answer.status_code == 200
        return [e["log_id"] for e in answer.json()]

    assert search("date:[2026-11-24T10:01:00.000Z TO 2026-11-24T10:03:00.000Z}") == ids[1:3]
    assert search("date:{2026-11-24T10:01:00.000Z TO 2026-11-24T10:03:00.000Z]") == ids[2:4]
    assert search("date:[2026-11-24T10:02:00Z TO *]") == ids[2:]
    bad = requests.get(f"{standin.base_url}/api/v2/logs", params={"q": "type:sapi"}, headers=auth)
    assert bad.status_code == 400


def test_retention_forgets_old_logs(standin):
    now = datetime.now(UTC)
    old, new = (standin.add_event(api_event("post", "/api/v2/users"), moment=now - timedelta(days=d)) for d in (3, 0))
    assert standin.forget_before(now - timedelta(days=2)) == 1
    auth = {"Authorization": f"Bearer {token(standin)}"}
    assert requests.get(f"{standin.base_url}/api/v2/logs/{old.log_id}", headers=auth).status_code == 404
    assert requests.get(f"{standin.base_url}/api/v2/logs/{new.log_id}", headers=auth).status_code == 200


def test_an_injection_can_let_requests_through_first(standin):
    ids = [standin.add_event(api_event("post", "/api/v2/users")).log_id for _ in range(3)]
    auth = {"Authorization": f"Bearer {token(standin)}"}
    standin.inject("/api/v2/logs", 503, b"down", after=1)
    standin.inject("/api/v2/logs", 502, b"bad gateway")

    def get() -> int:
        return requests.get(f"{standin.base_url}/api/v2/logs", params={"from": ids[0]}, headers=auth).status_code

    assert [get(), get(), get(), get()] == [200, 503, 502, 200]
    assert standin.injected == []


def test_before_request_sees_each_request_before_it_is_answered(standin):
    ids = [standin.add_event(api_event("post", "/api/v2/users")).log_id for _ in range(2)]
    auth = {"Authorization": f"Bearer {token(standin)}"}
    seen: list[str] = []
    standin.before_request = lambda request: (seen.append(request), standin.expire_tokens())
    answer = requests.get(f"{standin.base_url}/api/v2/logs", params={"from": ids[0]}, headers=auth)
    assert answer.status_code == 401  # expired by the callback before the request was checked
    assert seen == ["GET /api/v2/logs"]


def test_overlapping_pages_repeat_the_end_of_the_page_before(standin):
    ids = [standin.add_event(api_event("post", "/api/v2/users")).log_id for _ in range(5)]
    auth = {"Authorization": f"Bearer {token(standin)}"}
    standin.page_overlap = 1
    page = requests.get(f"{standin.base_url}/api/v2/logs", params={"from": ids[1], "take": 2}, headers=auth)
    assert [e["log_id"] for e in page.json()] == ids[1:3]


def test_a_token_keeps_the_scopes_it_was_issued_with(standin):
    standin.add_event(api_event("post", "/api/v2/users"))
    standin.scopes = ()
    old = {"Authorization": f"Bearer {token(standin)}"}
    standin.scopes = ("read:logs",)  # granted later: only tokens issued from now on carry it
    assert requests.get(f"{standin.base_url}/api/v2/logs", params={"take": 1}, headers=old).status_code == 403
    new = {"Authorization": f"Bearer {token(standin)}"}
    assert requests.get(f"{standin.base_url}/api/v2/logs", params={"take": 1}, headers=new).status_code == 200
