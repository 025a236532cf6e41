"""Send an alert to a person through the Airflow connection named by AUTH0_WEBHOOKS_ALERT_CONN_ID.

The connection's type picks the channel, and each channel is an Airflow notifier from a maintained
provider; nothing here speaks SMTP or Slack itself:

- ``smtp`` (or ``email``): ``SmtpNotifier`` from apache-airflow-providers-smtp (installed with
  Airflow). The recipients are in the connection's extra ``to`` (comma separated, or a list), the
  sender in extra ``from_email`` or else the login. The rest is the provider's own connection:
  host, port, login/password, extras ``disable_ssl``, ``disable_tls``, ``timeout``, ``retry_limit``.
- ``slackwebhook``: ``SlackWebhookNotifier`` from apache-airflow-providers-slack, when installed.
  The connection's password is the incoming webhook's URL, or the token after ``/services/``.

Alert text quotes event data, which anyone who can reach the tenant's login page shapes. So:

- nothing is rendered as Jinja. A notifier renders its templated fields (subject, text...) when it is
  *called*, as Airflow calls it for a callback; ``send`` calls ``notify()`` instead, which sends the
  fields as set. (SmtpNotifier renders only the fields it has to fill from the connection's
  templates, when left None; ``send`` sets them all.)
- markup is escaped: the e-mail body is HTML (the only kind SmtpNotifier sends), so the text goes
  in a ``<pre>`` with ``& < > " '`` escaped; Slack reads ``<...>`` as links and mentions
  (``<!channel>``), so ``& < >`` are escaped as Slack asks. Either way a person reads the text as
  it was, and ``html.unescape`` gives it back byte for byte.
- a subject is one line: line breaks become spaces, so no one can add a mail header through it.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from auth0_provider.exceptions import AlertConfigError, AlertDeliveryError
from auth0_provider.masking import mask, mask_url, redact

SETTING = "AUTH0_WEBHOOKS_ALERT_CONN_ID"
SMTP_CONN_TYPES = ("smtp", "email")
SLACK_CONN_TYPES = ("slackwebhook",)
SLACK_PACKAGE = "apache-airflow-providers-slack"
DEFAULT_SUBJECT = "Auth0 webhooks alert"
_SUPPORTED = (
    "'smtp' (or 'email'; apache-airflow-providers-smtp, installed with Airflow) with extra "
    '{"to": "oncall@example.com"}, or \'slackwebhook\' (pip install ' + SLACK_PACKAGE + ") with the "
    "incoming webhook URL in password"
)
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")

log = logging.getLogger(__name__)


def send(conn_id: str, subject: str, text: str, setting: str = SETTING) -> None:
    """Send ``subject`` and ``text`` through connection ``conn_id``, once, with nothing rendered.

    ``setting`` is how errors name the setting that chose the connection: a stream's key in the streams file.

    Raises AlertConfigError (fail, no retry) when the connection cannot be used as it is, and
    AlertDeliveryError when the channel did not take the message.
    """
    conn = _connection(conn_id, setting)
    conn_type = (conn.conn_type or "").strip().lower()
    subject = _one_line(_printable(subject))
    subject = subject if subject.strip() else DEFAULT_SUBJECT
    text = _printable(text)
    if conn_type in SMTP_CONN_TYPES:
        notifier = _smtp_notifier(conn, subject, text, setting)
        where = f"{conn.host}:{conn.port or 'default port'}"
    elif conn_type in SLACK_CONN_TYPES:
        notifier = _slack_notifier(conn, subject, text, setting)
        where = _slack_endpoint(conn)
    else:
        raise AlertConfigError(
            f"{setting} names connection {conn_id!r}, of type {conn.conn_type!r}, which cannot send alerts. "
            f"Make it a connection of type {_SUPPORTED}; or set {setting} to one that is."
        )
    try:
        notifier.notify({})  # not notifier(context): that would render subject and text as Jinja first
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}")
        raise AlertDeliveryError(
            f"The alert {subject!r} did not go out through connection {conn_id!r} ({setting}; "
            f"{conn_type} at {where}): {reason}"
        ) from None
    log.info("Alert %r sent through connection %r (%s)", subject, conn_id, conn_type)


# -- the connection --------------------------------------------------------------------------------


def _connection(conn_id: str, setting: str) -> Any:
    if not conn_id or not conn_id.strip():
        raise AlertConfigError(f"{setting} is empty: set it to the id of a connection of type {_SUPPORTED}.")
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise AlertConfigError(
            f"{setting} names connection {conn_id!r}, which does not exist. Create it (Admin > Connections, "
            f"an AIRFLOW_CONN_{conn_id.upper()} environment variable, or your secrets backend) as a "
            f"connection of type {_SUPPORTED}; or set {setting} to an existing one."
        ) from None


def _problem(setting: str, conn: Any, what: str) -> AlertConfigError:
    return AlertConfigError(f"{setting} names connection {conn.conn_id!r} ({conn.conn_type}), which {what}")


# -- e-mail ------------------------------------------------------------------------------------------


def _smtp_notifier(conn: Any, subject: str, text: str, setting: str) -> Any:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    extra = conn.extra_dejson
    if not (conn.host or "").strip():
        raise _problem(setting, conn, "has no host: set it to the SMTP server (and port; 465 is SSL, 587 STARTTLS).")
    to = _addresses(extra.get("to"))
    if not to:
        raise _problem(setting, conn, 'has no recipient: set its extra "to", e.g. {"to": "oncall@example.com"}.')
    sender = extra.get("from_email") or conn.login
    if not sender:
        raise _problem(setting, conn, 'has no sender: set its extra "from_email" (or a login that is an address).')
    if conn.password:
        mask(conn.password)
    body = f'<pre style="white-space: pre-wrap">{html.escape(text)}</pre>'
    return SmtpNotifier(to=to, from_email=sender, subject=subject, html_content=body, smtp_conn_id=conn.conn_id)


def _addresses(value: Any) -> list[str]:
    items: Iterable[Any] = re.split(r"[,;]", value) if isinstance(value, str) else value or []
    if not isinstance(items, Iterable):
        return []
    return [str(item).strip() for item in items if str(item).strip()]


# -- Slack -------------------------------------------------------------------------------------------


def _slack_notifier(conn: Any, subject: str, text: str, setting: str) -> Any:
    try:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    except ImportError:
        raise _problem(
            setting,
            conn,
            f"needs the Slack provider, which is not installed: pip install {SLACK_PACKAGE} (add it to "
            "requirements.txt, beside apache-airflow), or use an 'smtp' connection.",
        ) from None
    token = (conn.password or "").strip()
    if not token:
        raise _problem(
            setting,
            conn,
            "has no webhook: put the incoming webhook's URL (https://hooks.slack.com/services/T…/B…/…) "
            "in its password.",
        )
    mask(token)
    if "://" in token:
        mask_url(token)
    message = _slack_escape(f"{subject}\n\n{text}")
    return SlackWebhookNotifier(
        slack_webhook_conn_id=conn.conn_id, text=message, unfurl_links=False, unfurl_media=False
    )


def _slack_endpoint(conn: Any) -> str:
    """Where the webhook goes, without its token: scheme and host only."""
    token = (conn.password or "").strip()
    url = token if "://" in token else (conn.host or "hooks.slack.com/services")
    parts = urlsplit(url if "://" in url else f"{conn.schema or 'https'}://{url}")
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


def _slack_escape(text: str) -> str:
    """Slack's three escapes, so that event data cannot make links or mentions (``<!channel>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- text ----------------------------------------------------------------------------------------------


def _printable(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (valid in JSON, so in event data) as ``\\udXXX``."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def _one_line(text: str) -> str:
    return _LINE_BREAKS.sub(" ", text)
