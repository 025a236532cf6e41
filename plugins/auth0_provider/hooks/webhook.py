"""WebhookHook: the ``auth0_webhook`` connection and how a delivery is sent to it.

An HttpHook, so the connection works the way Airflow users know: host is the URL, the extra holds
headers (``Authorization`` included) plus the HttpHook options ``timeout`` and ``verify``. What
differs is what a receiver on the public internet needs:

- the password holds Standard Webhooks signing secrets (``whsec_...``, space separated). It signs
  and is never sent: no Basic auth, and a login is refused so nothing suggests otherwise;
- each send is signed with a fresh timestamp, over the exact body bytes;
- only a 2xx is a delivery. Redirects are not followed (requests would replay a POST as a GET),
  410 Gone stops without retries, and a ``Retry-After`` on 429/503 is raised for the retry policy.
  Any other 4xx but 401, 403, 404, 408 and 429 refuses this delivery's content (``WebhookRejected``):
  such a delivery may be parked as a dead letter (``dead_letters``); endpoint trouble never is.
  An answer cut off mid-body is not a delivery either: it is sent again.

The UI's Test button (``test_connection``) sends no event: it checks the connection as a delivery
would, then only opens a connection to the receiver's host and port (``reachability``: TCP, and the
TLS handshake with the certificate verified as a delivery verifies it).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from airflow.providers.http.hooks.http import HttpHook
from requests import PreparedRequest, Response, Session
from requests.exceptions import ChunkedEncodingError

from auth0_provider import signing
from auth0_provider.exceptions import (
    WebhookConfigError,
    WebhookDeliveryError,
    WebhookGone,
    WebhookRejected,
    WebhookRetryLater,
)
from auth0_provider.hooks.reachability import probe
from auth0_provider.masking import mask, mask_url, redact, redacted_excerpt
from auth0_provider.names import WEBHOOK_CONN_ID
from auth0_provider.retry_after import retry_after_seconds

DEFAULT_TIMEOUT = (10.0, 30.0)  # connect, read: a hung receiver must not hold a worker slot for long
MAX_TIMEOUT = 300.0
_SENSITIVE_HEADERS = ("authorization", "proxy-authorization")
# 4xx answers about the endpoint, the URL or our credentials, not about the event: never a rejection
ENDPOINT_TROUBLE_4XX = frozenset({401, 403, 404, 408, 429})


class WebhookHook(HttpHook):
    """Signs and sends deliveries to the webhook in an ``auth0_webhook`` connection."""

    conn_name_attr = "http_conn_id"
    default_conn_name = WEBHOOK_CONN_ID
    conn_type = "auth0_webhook"
    hook_name = "Auth0 webhook receiver"

    def __init__(self, http_conn_id: str = default_conn_name, method: str = "POST", **kwargs: Any) -> None:
        super().__init__(method=method, http_conn_id=http_conn_id, **kwargs)
        self.signing_secrets: tuple[str, ...] = ()

    def test_connection(self) -> tuple[bool, str]:
        """Whether a delivery could reach the receiver, for ``POST /api/v2/connections/test``; sends no event.

        The connection is checked as a delivery checks it (a scheme, no login, signing secrets that parse,
        the ``timeout`` extra), then a connection is opened to the URL's host and port, through the proxy a
        delivery would use, and for https the TLS handshake verifies the certificate as a delivery would
        (``verify`` extra, ``REQUESTS_CA_BUNDLE``, else certifi's CAs). Nothing is sent over it. Messages
        show the receiver as scheme://host:port only: a URL may carry a token in its path.
        """
        connection = None
        try:
            connection = self.get_connection(self.http_conn_id)
            session = self.get_conn()  # refuses a missing scheme, a login, a malformed signing secret
            connect_timeout = self._timeout(self.merged_extra.get("timeout"))[0]
            url = self._get_srv_base_urls()[0] if self._srv_lookup_enabled else self.base_url
            settings = session.merge_environment_settings(
                url, proxies=session.proxies, stream=session.stream, verify=session.verify, cert=session.cert
            )
            ok, message = probe(url, connect_timeout, settings, self.http_conn_id)
        except WebhookConfigError as exc:
            ok, message = False, str(exc)
        except Exception as exc:  # the api-server shows any message: make it say which connection
            ok, message = False, f"Connection {self.http_conn_id!r}: {type(exc).__name__}: {exc}"
        return ok, _scrub(message, connection, self.signing_secrets)

    def _extract_auth(self, connection: Any) -> None:
        """Read the signing secrets; unlike HttpHook, never turn login/password into Basic auth."""
        if connection.login:
            raise WebhookConfigError(
                f"Connection {self.http_conn_id!r} has a login. Leave it empty: the password holds the "
                f"signing secret(s) ({signing.SECRET_PREFIX}...) and is never sent. To authenticate to the "
                'receiver, put {"Authorization": "..."} in the connection\'s extra.'
            )
        try:
            self.signing_secrets = signing.parse_signing_secrets(connection.password)
        except signing.SigningSecretError as exc:
            raise WebhookConfigError(
                f"Connection {self.http_conn_id!r}: {exc}. The password must be empty (unsigned) or "
                f"space-separated {signing.SECRET_PREFIX}<base64> secrets."
            ) from None
        for secret in self.signing_secrets:
            mask(secret)
            mask(secret[len(signing.SECRET_PREFIX) :])
        return None

    def _set_base_url(self, connection: Any) -> None:
        """Refuse a host without a scheme: HttpHook would silently send it over plain http.

        The URL's user info, path and query are masked first: a Slack-style URL carries its token in
        the path, and requests quotes path and query in its errors, which HttpHook logs.
        """
        host = (connection.host or "").strip()
        mask_url(host if "://" in host or not host else f"https://{host}")
        if "://" not in host and not connection.schema:
            raise WebhookConfigError(
                f"Connection {self.http_conn_id!r}: host {host!r} has no scheme. Write the full URL, for "
                f"example 'https://{host or 'example.com/hooks/auth0'}': http or https is not guessed."
            )
        super()._set_base_url(connection)

    def _configure_session_from_extra(
        self, session: Session, connection: Any, extra_options: dict[str, Any]
    ) -> Session:
        session = super()._configure_session_from_extra(session, connection, extra_options)
        for name, value in session.headers.items():
            if name.lower() in _SENSITIVE_HEADERS:
                mask(value)  # even where [core] hide_sensitive_var_conn_fields is off
        mask(dict(session.headers))  # and any header whose name Airflow deems sensitive (token, api_key...)
        return session

    def run_and_check(self, session: Session, prepped_request: PreparedRequest, extra_options: dict[str, Any]) -> Any:
        """Sign this send, with bounded timeouts, no redirects, and the status always checked."""
        body = prepped_request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        prepped_request.body = body
        prepped_request.headers["Content-Length"] = str(len(body))
        msg_id = prepped_request.headers.get("webhook-id")
        if not msg_id:
            raise ValueError("a delivery needs a webhook-id header: its idempotency key")
        prepped_request.headers.update(signing.signature_headers(msg_id, body, self.signing_secrets))
        options = {
            **extra_options,
            "timeout": self._timeout(extra_options.get("timeout")),
            "allow_redirects": False,
            "check_response": True,
        }
        try:
            return super().run_and_check(session, prepped_request, options)
        except ChunkedEncodingError as exc:  # the answer's body ended early: its status cannot be trusted
            raise WebhookDeliveryError(
                f"Webhook answer was cut off: the connection closed before the end of its body ({exc}). The "
                "receiver may have kept the delivery, but only a whole 2xx answer counts: it is sent again (by a retry "
                f"or the next run) with the same Idempotency-Key {msg_id}."
            ) from exc

    def check_response(self, response: Response) -> None:
        """Only a 2xx is a delivery; every other answer raises an error that says what to do."""
        status = response.status_code
        if 200 <= status < 300:
            return
        what = f"Webhook answered {status} {response.reason}"
        if 300 <= status < 400:
            raise WebhookDeliveryError(
                f"{what} (redirect to {response.headers.get('Location', 'nowhere')}); redirects are not "
                f"followed, so nothing was delivered. Point connection {self.http_conn_id!r} at the final URL.",
                status,
            )
        if status == 410:
            raise WebhookGone(
                f"{what}: the receiver asked us to stop sending. Nothing after this delivery is committed; "
                f"fix the receiver or connection {self.http_conn_id!r}, then clear the failed task from the UI."
            )
        if status in (429, 503):
            wait = retry_after_seconds(response.headers.get("Retry-After"), time.time())
            if wait is not None:
                raise WebhookRetryLater(f"{what}; it asked to be retried in {wait:.0f} s", wait, status)
        excerpt = _snippet(response)
        if 400 <= status < 500 and status not in ENDPOINT_TROUBLE_4XX:
            raise WebhookRejected(f"{what}, refusing this delivery: {excerpt}", status, excerpt)
        raise WebhookDeliveryError(f"{what}: {excerpt}", status)

    def _timeout(self, value: Any) -> tuple[float, float]:
        """(connect, read) seconds from the ``timeout`` extra: one number or a pair, each in (0, 300]."""
        if value is None:
            return DEFAULT_TIMEOUT
        pair = value if isinstance(value, (list, tuple)) else (value, value)
        try:
            connect, read = (float(part) for part in pair)
        except (TypeError, ValueError):
            connect = read = -1.0
        if not (0 < connect <= MAX_TIMEOUT and 0 < read <= MAX_TIMEOUT):
            raise WebhookConfigError(
                f"Connection {self.http_conn_id!r}: extra 'timeout' is {value!r}. Use seconds, as one number "
                f"(30) or [connect, read] ([10, 30]), each above 0 and at most {MAX_TIMEOUT:.0f}."
            )
        return connect, read


def _scrub(text: str, connection: Any, secrets: tuple[str, ...]) -> str:
    """``text`` without the password, signing secrets or the URL's credentials, path and query.

    Explicit, as well as through the secrets masker: the api-server returns the message as is.
    """
    hidden: set[str] = set(secrets) | {secret[len(signing.SECRET_PREFIX) :] for secret in secrets}
    if connection is not None:
        hidden.add(connection.password or "")
        host = (connection.host or "").strip()
        parts = urlsplit(host if "://" in host else f"//{host}")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        hidden |= {parts.username or "", parts.password or "", parts.query, target}
        if parts.path.strip("/"):
            hidden.add(parts.path)
    for value in sorted(hidden, key=len, reverse=True):
        if value.strip("/?"):
            text = text.replace(value, "***")
    return redact(text)


def _snippet(response: Response, limit: int = 300) -> str:
    """The start of the receiver's answer, which may quote our headers back: redacted."""
    text = (response.text or "").strip()
    return redacted_excerpt(text, limit) if text else "(empty body)"
