"""A webhook receiver to read and copy: verify the signature, then deduplicate on webhook-id.

``make run`` uses it as the demo receiver. Alone::

    python include/example_receiver.py --port 8090 --secret whsec_...

What a production receiver must do, in order:

1. Verify the Standard Webhooks signature over the raw body bytes, before parsing anything
   (``standardwebhooks`` also rejects timestamps more than 5 minutes off, which stops replays).
2. Deduplicate on ``webhook-id`` (the Auth0 log id; also sent as ``Idempotency-Key``): delivery is
   at least once, so the same event can arrive again after a retry or a replay. Answer 2xx to a
   duplicate, or it will be retried. Here the seen ids live in memory; use a unique key in your
   database instead, written in the same transaction as the work.
3. Answer 2xx only once the event is safely stored. Anything else is retried later.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from loopback_server import LoopbackServer, Reply, post_handler, serve_until_interrupted


class VerifyingReceiver:
    """Accepts each signed event once; ``on_event`` gets the parsed body of every new one."""

    def __init__(self, secret: str, on_event: Callable[[Any], None]) -> None:
        self.webhook = Webhook(secret)
        self.on_event = on_event
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def receive(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        """The HTTP status and message to answer one request with."""
        try:
            payload = self.webhook.verify(body, dict(headers))
        except WebhookVerificationError as exc:
            return 401, f"rejected: {exc}"
        msg_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        with self._lock:
            if msg_id in self.seen:
                return 200, "duplicate, already processed"
            self.on_event(payload)  # store it; raise to answer 500 and be retried
            self.seen.add(msg_id)
        return 200, "accepted"


class ExampleReceiver(LoopbackServer):
    """VerifyingReceiver served over HTTP on 127.0.0.1."""

    def __init__(self, secret: str, on_event: Callable[[Any], None], host: str = "127.0.0.1", port: int = 0) -> None:
        self.receiver = VerifyingReceiver(secret, on_event)
        super().__init__(post_handler(self._answer), host, port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/auth0"

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        try:
            status, message = self.receiver.receive(body, headers)
        except Exception as exc:  # the event was not stored: ask for a retry
            status, message = 500, f"not stored: {type(exc).__name__}"
        return status, {}, json.dumps({"status": message}).encode()


def print_event(payload: Any) -> None:
    """One line per event (or per element of a Log Streams array): when, which log, what happened."""
    for item in payload if isinstance(payload, list) else [payload]:
        event = item.get("data", item) if isinstance(item, dict) else {}
        request = (event.get("details") or {}).get("request") or event.get("request") or {}
        what = f"{event.get('type', '')} {str(request.get('method', '')).upper()} {request.get('path', '')}"
        print(f"[webhook] signature ok  {event.get('date')} {what.strip()}  log_id={event.get('log_id')}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--secret", required=True, help="the whsec_... value set as the connection's password")
    args = parser.parse_args()
    server = ExampleReceiver(args.secret, print_event, port=args.port).start()
    print(f"Webhook receiver at {server.url}", flush=True)
    serve_until_interrupted(server)


if __name__ == "__main__":
    main()
