"""A webhook receiver to read and copy: verify the signature, then deduplicate each event on its log_id.

``make run`` uses it as the demo receiver. Alone::

    python include/example_receiver.py --port 8090 --secret whsec_...

What a production receiver must do, in order:

1. Verify the Standard Webhooks signature over the raw body bytes, before parsing anything
   (``standardwebhooks`` also rejects timestamps more than 5 minutes off, which stops replays).
2. Deduplicate each event on its ``log_id``: delivery is at least once, so the same event can
   arrive again after a retry or a replay. With ``AUTH0_WEBHOOKS_BATCH_SIZE`` above 1 a request
   is a JSON array, and the same event can come back in a different batch (a replayed batch, or a
   last batch that grew before it was sent again), under another ``webhook-id``: so look at each
   element. A body without log ids (the ``legacy`` format) can only be deduplicated on
   ``webhook-id`` (the log id, for one event per request). Answer 2xx to a duplicate, or it will
   be retried. Here the seen ids live in memory; use a unique key in your database instead,
   written in the same transaction as the work.
3. Answer 2xx only once every new event is safely stored. Anything else is retried later.
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
    """Accepts each signed event once; ``on_event`` gets every new event (each element of a batch)."""

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
        events = payload if isinstance(payload, list) else [payload]
        with self._lock:
            new = [
                (key, event)
                for key, event in zip(event_keys(events, msg_id), events, strict=True)
                if key not in self.seen
            ]
            if not new:
                return 200, "duplicate, already processed"
            for key, event in new:
                self.on_event(event)  # store it; raise to answer 500 and be retried
                self.seen.add(key)
        return 200, "accepted" if len(new) == len(events) else f"accepted {len(new)} new of {len(events)}"


def event_keys(events: list[Any], msg_id: str) -> list[str]:
    """What to deduplicate each event on: its log_id, or without one the webhook-id (and position)."""
    log_ids = [event.get("log_id") if isinstance(event, dict) else None for event in events]
    if all(isinstance(log_id, str) and log_id for log_id in log_ids):
        return log_ids
    return [msg_id] if len(events) == 1 else [f"{msg_id}#{n}" for n in range(len(events))]


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


def print_event(item: Any) -> None:
    """One line per event (the event itself, or a Log Streams element): when, which log, what happened."""
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
