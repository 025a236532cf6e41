"""Which log events the user asked for: by Auth0 type code, and by Management API endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from auth0_provider.events import LogEvent

API_PREFIX = "/api/v2/"


@dataclass(frozen=True)
class EventFilter:
    """Keep events whose type is wanted and whose API path lies under a wanted endpoint.

    The endpoint filter concerns Management API calls only: an event that carries no request path
    (a login, a signup) is judged by its type alone, so that asking for `s,sapi` with endpoint
    `users` still delivers the logins.
    """

    log_types: frozenset[str]
    api_endpoints: tuple[str, ...] = ()

    def matches(self, event: LogEvent) -> bool:
        if event.type not in self.log_types:
            return False
        path = event.api_path
        if not self.api_endpoints or path is None:
            return True
        return any(endpoint_matches(path, name) for name in self.api_endpoints)

    def select(self, events: Iterable[LogEvent]) -> list[LogEvent]:
        return [event for event in events if self.matches(event)]


def endpoint_matches(path: str, name: str) -> bool:
    """`users` matches /api/v2/users and /api/v2/users/auth0|1, not /api/v2/users-by-email."""
    path = path.split("?", 1)[0].split("#", 1)[0].lower()
    base = API_PREFIX + name.strip("/")
    return path == base or path.startswith(base + "/")
