"""A webhook receiver on 127.0.0.1 for the tests: records every request and can be told to misbehave.

The tests use it to see exactly what arrived, how many requests were in flight at once, whether
each request carried a valid Standard Webhooks signature (checked with the ``standardwebhooks``
package, not our code), and to make chosen deliveries fail. ``make run`` uses
``example_receiver.py`` instead, the one meant to be read and copied.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from loopback_server import LoopbackServer, Reply, post_handler


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int = 200
    verified: str = "unsigned"  # "ok", "unsigned", or why standardwebhooks rejected it

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(LoopbackServer):
    """Answers 200 and records the delivery, unless told otherwise.

    - ``secret``: verify every request's signature; a bad or missing one is answered 401.
    - ``fail_keys``: Idempotency-Key -> status to answer with, every time.
    - ``refuse_log_ids``: log id -> status to answer, every time, to any request whose body carries
      that event, alone or in a batch: a receiver whose schema does not take one event.
    - ``script``: Idempotency-Key -> replies ``(status, headers)`` to give, one per request, first.
      Headers with a ``Content-Length`` larger than the reply cut it short: the connection is closed
      mid-body, after the request was recorded, as by a receiver that crashes while answering.
    - ``hang``: Idempotency-Key -> seconds to stall before answering, every time: a receiver that
      takes longer than the sender's read timeout. It still records and answers the request once
      the sender has given up, as a receiver that kept working on it would (``in_flight`` counts
      it until then).
    - ``echo_on_error``: put the request's Authorization header in error bodies, as careless
      receivers do, to prove the sender keeps it out of its logs anyway.
    """

    def __init__(
        self,
        *,
        secret: str | None = None,
        delay: float = 0.0,
        on_delivery: Callable[[Delivery], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.webhook = Webhook(secret) if secret else None
        self.secret = secret
        self.delay = delay
        self.on_delivery = on_delivery
        self.fail_keys: dict[str, int] = {}
        self.refuse_log_ids: dict[str, int] = {}
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.hang: dict[str, float] = {}
        self.echo_on_error = False
        self.deliveries: list[Delivery] = []  # accepted (2xx) ones
        self.requests: list[Delivery] = []  # every request, with the status it got
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        super().__init__(post_handler(self._handle), host, port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/auth0"

    def connection_uri(self, **extra: Any) -> str:
        """The ``auth0_webhook`` connection as an AIRFLOW_CONN_* JSON value (full URL in host)."""
        conn: dict[str, Any] = {"conn_type": "auth0_webhook", "host": self.url, "password": self.secret or ""}
        if extra:
            conn["extra"] = extra
        return json.dumps(conn)

    def delivered_keys(self) -> list[str]:
        with self._lock:
            return [d.key for d in self.deliveries]

    def delivered_log_ids(self) -> list[str]:
        """The log id of every event accepted, one per event whether it came alone or in a batch."""
        with self._lock:
            bodies = [d.body for d in self.deliveries]
        return [log_id for body in bodies for log_id in _log_ids(body)]

    def reset(self) -> None:
        with self._lock:
            self.deliveries.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            key = headers.get("idempotency-key", "")
            stall = self.delay + self.hang.get(key, 0.0)
            if stall:
                time.sleep(stall)
            verified = self._verify(headers, body)
            with self._lock:
                scripted = self.script.get(key)
                status, reply_headers = scripted.pop(0) if scripted else (self.fail_keys.get(key, 200), {})
                refused = [self.refuse_log_ids[i] for i in _log_ids(body) if i in self.refuse_log_ids]
            if refused and status < 300:
                status, reply_headers = refused[0], {}
            if verified not in ("ok", "unsigned"):
                status, reply_headers = 401, {}
            delivery = Delivery(path, headers, body, time.time(), status, verified)
            with self._lock:
                self.requests.append(delivery)
                if status < 300:
                    self.deliveries.append(delivery)
            if status < 300 and self.on_delivery:
                self.on_delivery(delivery)
            reply = b'{"ok":true}'
            if status >= 300:
                echoed = headers.get("authorization", "") if self.echo_on_error else ""
                reply = json.dumps({"ok": False, "error": verified, "authorization": echoed}).encode()
            return status, reply_headers, reply
        finally:
            with self._lock:
                self.in_flight -= 1

    def _verify(self, headers: dict[str, str], body: bytes) -> str:
        if self.webhook is None:
            return "unsigned"
        try:
            self.webhook.verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            return str(exc)
        return "ok"


def _log_ids(body: bytes) -> list[str]:
    """The log id of each event a body carries, alone or in a batch (a ``log_stream`` element carries it
    beside its ``data``); none when it is not JSON."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    events = parsed if isinstance(parsed, list) else [parsed]
    return [str(event["log_id"]) for event in events if isinstance(event, dict) and "log_id" in event]
