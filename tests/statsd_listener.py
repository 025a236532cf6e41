"""A StatsD server stand-in: a UDP socket on 127.0.0.1 that keeps every line it receives.

    with StatsdListener() as statsd:
        env["AIRFLOW__METRICS__STATSD_PORT"] = str(statsd.port)
        ...
        statsd.wait_for("airflow.auth0_webhooks.events_delivered", timeout=10)
        # -> ["airflow.auth0_webhooks.events_delivered:3|c"]
        statsd.flush()  # every packet sent so far has been read: now assert what did not come

A StatsD packet holds one or more lines ``<name>:<value>|<type>[|@<rate>][|#<tags>]`` separated by
newlines; each line is kept as it came. Every wait is bounded; ``stop`` (or leaving the ``with``)
closes the socket and joins the thread.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from types import TracebackType

FLUSH_MARKER = "statsd_listener.flush"


class StatsdListener:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self.port = 0  # the bound port, once started
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._flushes = itertools.count()

    # -- lifecycle --

    def start(self) -> StatsdListener:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, self._requested_port))
        sock.settimeout(0.1)  # so the thread notices stop() within 0.1 s
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name=f"statsd-listener-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the StatsD listener on port {self.port} did not stop within {timeout} s")
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> StatsdListener:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                packet = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = [line for line in packet.decode("utf-8", "replace").split("\n") if line]
            with self._changed:
                self._lines.extend(lines)
                self._changed.notify_all()

    def flush(self, timeout: float = 5.0) -> None:
        """Return once every packet already sent to the listener has been read.

        A UDP send on the loopback interface lands in the listener's queue before the send returns,
        so once a sender (a child process, say) is done, a marker sent now is read after all of its
        packets: waiting for it makes "nothing (else) arrived" a sound assertion without a sleep.
        """
        marker = f"{FLUSH_MARKER}.{next(self._flushes)}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(f"{marker}:1|c".encode(), (self.host, self.port))
        self.wait_for(marker, timeout)

    # -- what was received --

    @property
    def lines(self) -> list[str]:
        """Every line received so far, in order (``flush`` markers left out)."""
        with self._changed:
            return [line for line in self._lines if not line.startswith(FLUSH_MARKER)]

    def received(self, name: str) -> list[str]:
        """The lines received so far for the metric ``name`` (prefix included), without waiting."""
        with self._changed:
            return [line for line in self._lines if metric_name(line) == name]

    def wait_for(self, name: str, timeout: float = 10.0, count: int = 1) -> list[str]:
        """At least ``count`` lines for ``name`` (prefix included), waiting up to ``timeout`` seconds.

        Returns every line received for it; TimeoutError, listing what did arrive, if too few came.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self._lines if metric_name(line) == name]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self._changed.wait(left)
            if len(found) >= count:
                return found
            seen = sorted({metric_name(line) for line in self._lines if not line.startswith(FLUSH_MARKER)})
        raise TimeoutError(f"{len(found)} of {count} StatsD line(s) for {name!r} within {timeout} s; received: {seen}")

    def clear(self) -> None:
        with self._changed:
            self._lines.clear()


def metric_name(line: str) -> str:
    """``airflow.x.y:1|c`` -> ``airflow.x.y``."""
    return line.split(":", 1)[0]


def parse(line: str) -> tuple[str, str, str]:
    """``airflow.x.y:1|c|@0.5`` -> ``("airflow.x.y", "1", "c")``: name, value, type."""
    name, rest = line.split(":", 1)
    value, kind = rest.split("|")[:2]
    return name, value, kind
