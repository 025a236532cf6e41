"""A webhook receiver on 127.0.0.1 that records (and prints) every delivery it gets.

``make run`` uses it as the demo receiver; the tests use it to see exactly what arrived, how many
requests were in flight at once, and to make chosen deliveries fail.

Run it alone with ``python include/webhook_receiver.py --port 8090``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback_server import LoopbackServer, serve_until_interrupted


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def key(self) -> str:
        return self.headers.get("idempotency-key", "")

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(LoopbackServer):
    """Records deliveries; answers 200 unless ``fail_keys`` names the delivery's Idempotency-Key."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        on_delivery: Callable[[Delivery], None] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.delay = delay
        self.on_delivery = on_delivery
        self.fail_keys: dict[str, int] = {}  # Idempotency-Key -> status to answer with
        self.deliveries: list[Delivery] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), host, port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/auth0"

    def connection_uri(self) -> str:
        """The ``auth0_webhook`` connection as an AIRFLOW_CONN_* JSON value (full URL in host)."""
        return json.dumps({"conn_type": "http", "host": self.url})

    def delivered_keys(self) -> list[str]:
        with self._lock:
            return [d.key for d in self.deliveries]

    def reset(self) -> None:
        with self._lock:
            self.deliveries.clear()
            self.max_in_flight = self.in_flight

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            key = headers.get("idempotency-key", "")
            status = self.fail_keys.get(key)
            if status is not None:
                return status
            delivery = Delivery(path, headers, body, time.time())
            with self._lock:
                self.deliveries.append(delivery)
            if self.on_delivery:
                self.on_delivery(delivery)
            return 200
        finally:
            with self._lock:
                self.in_flight -= 1


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status = receiver._handle(self.path, headers, body)
            reply = b'{"ok":true}' if status == 200 else b'{"ok":false}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    return Handler


def print_delivery(delivery: Delivery) -> None:
    """One line per event: when, which log, what happened."""
    try:
        event = delivery.json()
        request = (event.get("details") or {}).get("request") or {}
        what = f"{event.get('type')} {str(request.get('method', '')).upper()} {request.get('path', '')}".strip()
        summary = f"{event.get('date')} {what}  log_id={event.get('log_id')}"
    except (ValueError, AttributeError):
        summary = f"{len(delivery.body)} bytes (not a JSON object)"
    print(f"[webhook] {summary}  ({len(delivery.body)} bytes)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    receiver = WebhookReceiver(port=args.port, on_delivery=print_delivery).start()
    print(f"Webhook receiver at {receiver.url}", flush=True)
    serve_until_interrupted(receiver)


if __name__ == "__main__":
    main()
