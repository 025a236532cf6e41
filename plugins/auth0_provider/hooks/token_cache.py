"""Where the Management API access token lives between task instances and runs.

Auth0 caps machine-to-machine tokens per month, and a token is valid for a day. A 5-minute DAG
that asked for a new token on every run would burn ~8,640 a month, so the token is kept in an
Airflow Variable: the metadata DB is the one place every worker of every executor can reach, and
Airflow encrypts Variable values with its Fernet key. The Variable's name contains "token", so
Airflow masks its value wherever it shows Variables.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

from auth0_provider.names import token_cache_variable


@dataclass(frozen=True)
class CachedToken:
    access_token: str
    renew_after: float
    fingerprint: str


class TokenCache(Protocol):
    def load(self) -> CachedToken | None: ...

    def store(self, token: CachedToken) -> None: ...

    def clear(self) -> None: ...


class VariableTokenCache:
    """Token cache in the Airflow Variable ``auth0_access_token__<conn_id>``."""

    def __init__(self, conn_id: str) -> None:
        self.key = token_cache_variable(conn_id)

    def load(self) -> CachedToken | None:
        from airflow.sdk import Variable

        raw = Variable.get(self.key, default=None)
        if not raw:
            return None
        try:
            return CachedToken(**json.loads(raw))
        except (TypeError, ValueError):
            return None  # unreadable cache: just ask Auth0 for a new token

    def store(self, token: CachedToken) -> None:
        from airflow.sdk import Variable

        Variable.set(self.key, json.dumps(asdict(token)), description="Auth0 token cache (auth0_provider)")

    def clear(self) -> None:
        from airflow.sdk import Variable

        Variable.set(self.key, "", description="Auth0 token cache (auth0_provider)")


class MemoryTokenCache:
    """Token cache for one process: for scripts that run outside Airflow tasks (and tests)."""

    def __init__(self) -> None:
        self.token: CachedToken | None = None

    def load(self) -> CachedToken | None:
        return self.token

    def store(self, token: CachedToken) -> None:
        self.token = token

    def clear(self) -> None:
        self.token = None
