"""A threaded HTTP server on 127.0.0.1 that a test or ``make run`` starts and stops in-process."""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout the test asked for) is not an error worth a traceback."""
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class LoopbackServer:
    """Serves ``handler`` on a background thread; use it as a context manager or start()/stop()."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), handler)
        self._scheme = "http"
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}"

    def use_tls(self, certfile: str, keyfile: str) -> Self:
        """Serve HTTPS with this certificate; call before start()."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https"
        return self

    def start(self) -> Self:
        # stop() waits for the serving loop to notice: poll often, not every 0.5 s (make unit stops dozens)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


Reply = tuple[int, dict[str, str], bytes]  # status, headers, JSON body


def post_handler(handle: Callable[[str, dict[str, str], bytes], Reply]) -> type[BaseHTTPRequestHandler]:
    """A request handler that passes each POST (path, lower-cased headers, body) to ``handle``.

    A reply whose headers set ``Content-Length`` above the length of its body is cut short: the body
    is sent, then the connection closed, as by a receiver that crashes while answering.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, reply_headers, reply = handle(self.path, headers, body)
            answer = {"Content-Type": "application/json", "Content-Length": str(len(reply)), **reply_headers}
            self.send_response(status)
            for name, value in answer.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply)
            if int(answer["Content-Length"]) > len(reply):
                self.close_connection = True  # mid-body: the client sees the connection end early

    return Handler


def serve_until_interrupted(*running: LoopbackServer | Any) -> None:
    """Block until Ctrl-C, then stop what was started, last first."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for thing in reversed(running):
            thing.stop()
