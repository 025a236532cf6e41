"""Local stand-ins of the channels an alert goes out on, for the tests: real servers on 127.0.0.1.

- ``SmtpChannel``: an SMTP server (aiosmtpd) that records every message it is handed.
- ``SlackWebhookChannel``: an HTTP server that records Slack incoming-webhook POSTs and answers ``ok``
  as Slack does.

Each runs on a background thread on a free port, is used as a context manager (or start()/stop()),
and offers ``messages()``, ``wait_for(count, timeout)`` and ``connection_uri()``: the Airflow
connection that points at it, as the JSON value of an ``AIRFLOW_CONN_*`` variable.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Generic, Self, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from loopback_server import LoopbackServer, Reply, post_handler

T = TypeVar("T")
STOP_TIMEOUT = 5.0  # seconds to wait for a server thread to end

# aiosmtpd logs every command it reads at INFO, AUTH lines (base64 credentials) included, and warns
# that AUTH without TLS is unsafe: true, and the point of a stand-in for a local relay
logging.getLogger("mail.log").setLevel(logging.ERROR)


class _Recorder(Generic[T]):
    """What a stand-in received, in order, readable from the test's thread."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._arrived = threading.Condition()

    def _record(self, item: T) -> None:
        with self._arrived:
            self._items.append(item)
            self._arrived.notify_all()

    def messages(self) -> list[T]:
        with self._arrived:
            return list(self._items)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[T]:
        """Every message once at least ``count`` arrived; TimeoutError after ``timeout`` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._items) >= count, timeout):
                raise TimeoutError(f"{type(self).__name__}: {len(self._items)} of {count} messages in {timeout} s")
            return list(self._items)

    def reset(self) -> None:
        with self._arrived:
            self._items.clear()


# -- SMTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    mail_from: str  # the envelope sender (MAIL FROM)
    rcpt_tos: list[str]  # the envelope recipients (RCPT TO)
    subject: str  # decoded (RFC 2047)
    to: str  # the To header
    sender: str  # the From header
    body: str  # the first text part, decoded: HTML for an Airflow SmtpNotifier
    content_type: str  # of that part
    raw: bytes  # the message as received
    login: str | None = None  # who authenticated, if anyone

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw.replace(b"\r\n", b"\n"), policy=policy.default)  # type: ignore[return-value]


class _Handler:
    def __init__(self, channel: SmtpChannel) -> None:
        self.channel = channel

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        msg = message_from_bytes(content.replace(b"\r\n", b"\n"), policy=policy.default)  # as a mailbox stores it
        part = msg.get_body(preferencelist=("plain", "html")) or msg
        body = part.get_content() if not part.is_multipart() else ""
        login = session.login_data.decode() if session.login_data else None
        self.channel._record(
            Mail(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                subject=str(msg.get("Subject", "")),
                to=str(msg.get("To", "")),
                sender=str(msg.get("From", "")),
                body=body,
                content_type=part.get_content_type(),
                raw=content,
                login=login,
            )
        )
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's threaded controller, serving a socket bound beforehand (so port 0 works, race-free)."""

    def __init__(self, handler: _Handler, sock: socket.socket, **smtp: Any) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, ready_timeout=STOP_TIMEOUT, **smtp)
        self._sock = sock

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            return super().factory()

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)

    def stop(self, no_assert: bool = False) -> None:
        """As aiosmtpd's, but the wait for the thread is bounded."""
        self.loop.call_soon_threadsafe(self.cancel_tasks)
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
            self._thread = None
        self._cleanup()


class SmtpChannel(_Recorder[Mail]):
    """An SMTP server on 127.0.0.1: no TLS; AUTH (PLAIN, LOGIN) only if ``credentials`` are given.

    With ``credentials=(login, password)`` it refuses mail from clients that did not log in with them
    (a wrong password gets 535, as from a real server); without, it takes mail from anyone.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None, host: str = "127.0.0.1") -> None:
        super().__init__()
        self.credentials = credentials
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen()
        self.host, self.port = self._sock.getsockname()[:2]
        smtp: dict[str, Any] = {"decode_data": False}
        if credentials:
            smtp |= {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = _Controller(_Handler(self), self._sock, **smtp)

    def connection_uri(self, to: str = "oncall@example.com", **extra: Any) -> str:
        """An ``smtp`` connection to this server as an AIRFLOW_CONN_* JSON value.

        SSL and STARTTLS are off (the provider's SmtpHook turns both on unless told not to); ``to``
        goes in the extra, where auth0_provider.notify looks for the recipients. ``extra`` adds to
        or replaces extra fields (``from_email``, ``timeout``, ``retry_limit``...).
        """
        conn: dict[str, Any] = {"conn_type": "smtp", "host": self.host, "port": self.port}
        if self.credentials:
            conn["login"], conn["password"] = self.credentials
        conn["extra"] = {
            "to": to,
            "from_email": "auth0-webhooks@example.com",
            "disable_ssl": True,
            "disable_tls": True,
            "timeout": 10,
            "retry_limit": 0,
        } | extra
        return json.dumps(conn)

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and secrets.compare_digest(data.login, self.credentials[0].encode())
            and secrets.compare_digest(data.password, self.credentials[1].encode())
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


# -- Slack incoming webhook ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlackPost:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str | None:
        return self.json().get("text")

    @property
    def blocks(self) -> list[dict[str, Any]] | None:
        return self.json().get("blocks")


class SlackWebhookChannel(_Recorder[SlackPost]):
    """Records the POSTs to its webhook path and answers 200 ``ok``, as Slack's incoming webhooks do.

    Another path gets 404 ``no_service`` and a body without ``text``, ``blocks`` or ``attachments``
    400 ``no_text``; neither is recorded as a message. Set ``reply = (status, body)`` to answer
    every accepted POST with that instead (it is still recorded), e.g. ``(500, "rollup_error")``.
    """

    def __init__(self, *, token: str | None = None, host: str = "127.0.0.1") -> None:
        super().__init__()
        # the parts of a real webhook URL after /services/: workspace id, app id, secret
        self.token = token or f"T0000TEST/B0000TEST/{secrets.token_urlsafe(18)}"
        self.reply: tuple[int, str] = (200, "ok")
        self.requests: list[SlackPost] = []  # every POST, whatever it got
        self._server = _SlackServer(self._handle, host)

    @property
    def base_url(self) -> str:
        return f"{self._server.base_url}/services"

    @property
    def path(self) -> str:
        return f"/services/{self.token}"

    @property
    def url(self) -> str:
        """The full webhook URL; it carries the token, as Slack's do."""
        return f"{self.base_url}/{self.token}"

    def connection_uri(self, **extra: Any) -> str:
        """A ``slackwebhook`` connection to this server as an AIRFLOW_CONN_* JSON value.

        The endpoint in host, the token (``T…/B…/…``) in password: how the Slack provider's
        SlackWebhookHook builds the URL. A full webhook URL in password works as well.
        """
        conn: dict[str, Any] = {"conn_type": "slackwebhook", "host": self.base_url, "password": self.token}
        conn["extra"] = {"timeout": 10} | extra
        return json.dumps(conn)

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        post = SlackPost(path, headers, body)
        with self._arrived:
            self.requests.append(post)
        if path != self.path:
            return _text(404, "no_service")
        try:
            payload = json.loads(body)
        except ValueError:
            return _text(400, "invalid_payload")
        if not isinstance(payload, dict) or not any(payload.get(k) for k in ("text", "blocks", "attachments")):
            return _text(400, "no_text")
        self._record(post)
        return _text(*self.reply)


def _text(status: int, body: str) -> Reply:
    data = body.encode()
    return status, {"Content-Type": "text/plain; charset=utf-8"}, data


class _SlackServer(LoopbackServer):
    def __init__(self, handle: Any, host: str) -> None:
        super().__init__(post_handler(handle), host, 0)
