"""notify.send: an alert through the connection AUTH0_WEBHOOKS_ALERT_CONN_ID names, to real stand-ins on 127.0.0.1.

The connection comes from an AIRFLOW_CONN_* variable (JSON), as a deployment may give it: no metadata
DB is involved. The notifiers are the providers' own (SmtpNotifier, SlackWebhookNotifier).
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import sys
import time

import pytest
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk._shared.secrets_masker import redact
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from alert_channel import Mail, SlackWebhookChannel, SmtpChannel
from auth0_provider import notify
from auth0_provider.exceptions import AlertConfigError, AlertDeliveryError
from auth0_provider.names import StreamNames
from auth0_provider.notify import send

CONN_ID = "auth0_alerts"
ENV = f"AIRFLOW_CONN_{CONN_ID.upper()}"
SUBJECT = "Stream blocked: {{ conn.auth0_default.password }} Zoë 😀 日本 e\u0301 \u202e <!channel> & \t{% raw %}"
TEXT = (
    "Event 9002 from user {{ conn.auth0_default.password }} {% if true %}x{% endif %} ${HOME} %s {0}\n"
    "  odd: Zoë 😀 日本 e\u0301 \u202eRTL\u202c zero\u200bwidth NUL\x00 tab\t\n"
    "markup: <script>alert(1)</script> <!channel> <@U123> <https://evil.example|click> &amp; \"quoted\" 'single'\n"
    "\n"
    "last line, no newline after"
)
PASSWORD = "smtp-password-never-shown"
needs_slack = pytest.mark.skipif(
    importlib.util.find_spec("airflow.providers.slack") is None,
    reason="apache-airflow-providers-slack is not installed",
)


@pytest.fixture
def smtp(monkeypatch):
    with SmtpChannel() as channel:
        monkeypatch.setenv(ENV, channel.connection_uri())
        yield channel


@pytest.fixture
def slack(monkeypatch):
    with SlackWebhookChannel() as channel:
        monkeypatch.setenv(ENV, channel.connection_uri())
        yield channel


def pre_text(mail: Mail) -> str:
    """The alert text in a mail from send(): the content of its <pre>, unescaped."""
    match = re.fullmatch(r'<pre style="white-space: pre-wrap">(.*)</pre>', mail.body, re.DOTALL)
    assert match, mail.body
    return html.unescape(match[1])


def arrived_once(channel: SmtpChannel | SlackWebhookChannel):
    """The one message a channel got. Both notifiers are synchronous: it is there when send() returns."""
    (message,) = channel.wait_for(1, timeout=5)
    time.sleep(0.2)  # nothing more comes after it (a retry would)
    assert len(channel.messages()) == 1
    return message


# -- e-mail -------------------------------------------------------------------------------------------


def test_an_email_alert_arrives_once_with_its_subject_and_text_byte_for_byte_and_nothing_rendered(smtp):
    send(CONN_ID, SUBJECT, TEXT)
    mail = arrived_once(smtp)
    assert mail.subject == SUBJECT
    assert pre_text(mail) == TEXT
    assert mail.rcpt_tos == ["oncall@example.com"]
    assert mail.mail_from == mail.sender == "auth0-webhooks@example.com"


def test_an_email_alert_escapes_the_texts_markup_so_a_mail_client_shows_it_as_text(smtp):
    send(CONN_ID, "markup", "<script>alert(1)</script> <b>bold</b> &amp;")
    mail = arrived_once(smtp)
    assert mail.content_type == "text/html"  # SmtpNotifier sends HTML only
    assert "<script>" not in mail.body
    assert "<b>" not in mail.body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; &amp;amp;" in mail.body


def test_an_email_alert_goes_to_every_recipient_in_the_extra_to(smtp, monkeypatch):
    monkeypatch.setenv(ENV, smtp.connection_uri(to="a@example.com, b@example.com; c@example.com"))
    send(CONN_ID, "s", "t")
    assert arrived_once(smtp).rcpt_tos == ["a@example.com", "b@example.com", "c@example.com"]


def test_an_email_alert_takes_a_list_of_recipients_too(smtp, monkeypatch):
    monkeypatch.setenv(ENV, smtp.connection_uri(to=["a@example.com", "b@example.com"]))
    send(CONN_ID, "s", "t")
    assert arrived_once(smtp).rcpt_tos == ["a@example.com", "b@example.com"]


def test_a_subject_with_line_breaks_arrives_on_one_line_so_it_cannot_add_a_header(smtp):
    send(CONN_ID, "blocked\r\nBcc: attacker@example.com\nX-Injected: 1", "t")
    mail = arrived_once(smtp)
    assert mail.subject == "blocked Bcc: attacker@example.com X-Injected: 1"
    assert mail.rcpt_tos == ["oncall@example.com"]
    assert mail.message["X-Injected"] is None
    assert mail.message["Bcc"] is None


def test_the_sender_is_the_login_when_the_extra_has_no_from_email_and_the_server_sees_the_login(monkeypatch):
    with SmtpChannel(credentials=("alerts@example.com", PASSWORD)) as channel:
        monkeypatch.setenv(ENV, channel.connection_uri(from_email=None))
        send(CONN_ID, "s", "t")
        mail = arrived_once(channel)
    assert mail.login == mail.mail_from == mail.sender == "alerts@example.com"


def test_a_wrong_smtp_password_is_a_delivery_error_that_does_not_show_the_password(monkeypatch):
    with SmtpChannel(credentials=("alerts@example.com", "the-right-one")) as channel:
        monkeypatch.setenv(ENV, channel.connection_uri())
        conn = json.loads(channel.connection_uri())
        conn["password"] = PASSWORD
        monkeypatch.setenv(ENV, json.dumps(conn))
        with pytest.raises(AlertDeliveryError) as raised:
            send(CONN_ID, "s", "t")
        assert channel.messages() == []
    message = str(raised.value)
    assert "SMTPAuthenticationError" in message
    assert CONN_ID in message
    assert PASSWORD not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_an_unreachable_smtp_server_is_a_delivery_error_that_names_the_setting_and_the_connection(monkeypatch):
    """Refused at once, with no pause before a retry: about 15 ms on an idle machine. The 5 s bound is more than
    300 times that, so a busy machine does not reach it; only a wait would (a timeout, a backoff)."""
    with SmtpChannel() as channel:
        uri = channel.connection_uri()
    monkeypatch.setenv(ENV, uri)  # the server is gone: its port refuses connections
    started = time.monotonic()
    with pytest.raises(AlertDeliveryError, match=f"{notify.SETTING}.*ConnectionRefusedError") as raised:
        send(CONN_ID, "s", "t")
    assert time.monotonic() - started < 5
    assert f"connection {CONN_ID!r}" in str(raised.value)
    assert f"127.0.0.1:{channel.port}" in str(raised.value)
    assert not isinstance(raised.value, AirflowFailException)  # retryable: the server may come back


def test_an_email_connection_of_type_email_works_like_smtp(smtp, monkeypatch):
    conn = json.loads(smtp.connection_uri()) | {"conn_type": "email"}
    monkeypatch.setenv(ENV, json.dumps(conn))
    send(CONN_ID, "s", "t")
    assert arrived_once(smtp).subject == "s"


# -- Slack --------------------------------------------------------------------------------------------


@needs_slack
def test_a_slack_alert_arrives_once_with_its_subject_and_text_byte_for_byte_and_nothing_rendered(slack):
    send(CONN_ID, SUBJECT, TEXT)
    post = arrived_once(slack)
    assert post.path == slack.path
    assert html.unescape(post.text) == f"{SUBJECT}\n\n{TEXT}"
    assert post.json()["unfurl_links"] is False
    assert post.json()["unfurl_media"] is False


@needs_slack
def test_a_slack_alert_escapes_what_slack_reads_as_links_and_mentions(slack):
    send(CONN_ID, "s", "<!channel> <@U123> <https://evil.example|click> &lt;")
    post = arrived_once(slack)
    assert post.text == "s\n\n&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|click&gt; &amp;lt;"


@needs_slack
def test_a_slack_connection_may_hold_the_whole_webhook_url_in_its_password(slack, monkeypatch):
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "slackwebhook", "password": slack.url}))
    send(CONN_ID, "s", "t")
    assert arrived_once(slack).path == slack.path


@needs_slack
def test_a_slack_refusal_is_a_delivery_error_with_slacks_answer_and_without_the_webhook_token(slack):
    slack.reply = (500, "rollup_error")
    with pytest.raises(AlertDeliveryError) as raised:
        send(CONN_ID, "s", "t")
    message = str(raised.value)
    assert "rollup_error" in message
    assert notify.SETTING in message
    assert slack.token not in message
    assert slack.token.rsplit("/", 1)[1] not in message
    assert slack.base_url.rsplit("/", 1)[0] in message  # where it went: scheme, host and port only
    assert len(slack.messages()) == 1  # a 500 is not sent again by the client


@needs_slack
def test_an_unreachable_slack_endpoint_is_a_delivery_error_without_the_webhook_token(monkeypatch, capfd):
    """Refused at once, twice: slack_sdk retries a connection error once, after 0.5 s, about 0.6 s in all on an
    idle machine. The 10 s bound is more than 15 times that: only more retries, or waits, reach it."""
    with SlackWebhookChannel() as channel:
        uri, token = channel.connection_uri(timeout=2), channel.token
    monkeypatch.setenv(ENV, uri)
    started = time.monotonic()
    with pytest.raises(AlertDeliveryError) as raised:
        send(CONN_ID, "s", "t")
    assert time.monotonic() - started < 10
    secret = token.rsplit("/", 1)[1]
    assert secret not in str(raised.value)
    assert CONN_ID in str(raised.value)
    # slack_sdk logs the whole URL at INFO before its one retry; the task log shows it redacted
    logged = "".join(capfd.readouterr())
    assert f"Going to retry the same request: POST {channel.url}" in logged  # what would leak unmasked
    assert secret not in redact(logged)


@needs_slack
@pytest.mark.parametrize("in_password", ["token", "url"])
def test_the_webhook_token_is_masked_for_the_task_log_wherever_the_connection_holds_it(slack, monkeypatch, in_password):
    conn = json.loads(slack.connection_uri())
    if in_password == "url":
        conn = {"conn_type": "slackwebhook", "password": slack.url}
    monkeypatch.setenv(ENV, json.dumps(conn))
    send(CONN_ID, "s", "t")
    assert slack.token.rsplit("/", 1)[1] not in redact(f"POST {slack.url} failed")


@needs_slack
def test_a_slack_connection_without_a_webhook_says_where_to_put_it(slack, monkeypatch):
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "slackwebhook", "host": slack.base_url}))
    with pytest.raises(AlertConfigError, match=f"{notify.SETTING} names connection '{CONN_ID}'.*password"):
        send(CONN_ID, "s", "t")


def test_a_slack_connection_without_the_slack_provider_says_which_package_to_install(slack, monkeypatch):
    monkeypatch.setitem(sys.modules, "airflow.providers.slack.notifications.slack_webhook", None)
    with pytest.raises(AlertConfigError) as raised:
        send(CONN_ID, "s", "t")
    message = str(raised.value)
    assert notify.SETTING in message
    assert repr(CONN_ID) in message
    assert "pip install apache-airflow-providers-slack" in message
    assert slack.token not in message
    assert slack.messages() == []


# -- Jinja: calling a notifier renders its fields; send() does not call it ---------------------------


def test_a_notifier_called_as_a_callback_would_render_the_subject_which_send_delivers_as_written(smtp):
    SmtpNotifier(
        to="oncall@example.com",
        from_email="a@example.com",
        subject="{{ 6 * 7 }}",
        html_content="x",
        smtp_conn_id=CONN_ID,
    )({})
    send(CONN_ID, "{{ 6 * 7 }}", "{{ 6 * 7 }}")
    rendered, verbatim = smtp.wait_for(2, timeout=5)
    assert rendered.subject == "42"
    assert (verbatim.subject, pre_text(verbatim)) == ("{{ 6 * 7 }}", "{{ 6 * 7 }}")


@needs_slack
def test_a_slack_notifier_called_as_a_callback_would_render_the_text_which_send_delivers_as_written(slack):
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    SlackWebhookNotifier(slack_webhook_conn_id=CONN_ID, text="{{ 6 * 7 }}")({})
    send(CONN_ID, "s", "{{ 6 * 7 }}")
    rendered, verbatim = slack.wait_for(2, timeout=5)
    assert rendered.text == "42"
    assert verbatim.text == "s\n\n{{ 6 * 7 }}"


def test_no_notifier_reads_a_field_as_a_template_file_whatever_the_text_ends_with():
    """A notifier with template_ext would load a file named like a field at construction (".html")."""
    assert SmtpNotifier.template_ext == ()
    if importlib.util.find_spec("airflow.providers.slack"):
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        assert SlackWebhookNotifier.template_ext == ()


def test_a_lone_surrogate_from_event_data_does_not_stop_the_alert(smtp):
    text = json.loads('"bad \\ud800 half"')  # valid JSON, not encodable as UTF-8
    send(CONN_ID, "s", text)
    assert pre_text(arrived_once(smtp)) == "bad \\ud800 half"


# -- connections that cannot send -------------------------------------------------------------------


def test_a_missing_connection_names_the_setting_the_connection_id_and_how_to_create_it():
    with pytest.raises(AlertConfigError) as raised:
        send("no_such_alerts", "s", "t")
    message = str(raised.value)
    assert isinstance(raised.value, AirflowFailException)
    assert "AUTH0_WEBHOOKS_ALERT_CONN_ID names connection 'no_such_alerts', which does not exist" in message
    assert "AIRFLOW_CONN_NO_SUCH_ALERTS" in message
    assert "'smtp'" in message and "'slackwebhook'" in message


def test_a_streams_alert_connection_is_named_by_its_key_in_the_streams_file(smtp, monkeypatch):
    key = StreamNames.for_stream("siem").setting("ALERT_CONN_ID")
    assert key == "streams.siem.alert_conn_id (streams file)"
    with pytest.raises(AlertConfigError) as raised:
        send("no_such_alerts", "s", "t", setting=key)
    assert str(raised.value).startswith(f"{key} names connection 'no_such_alerts', which does not exist")
    monkeypatch.setenv(ENV, smtp.connection_uri(to=None))
    with pytest.raises(AlertConfigError) as raised:
        send(CONN_ID, "s", "t", setting=key)
    assert str(raised.value).startswith(f"{key} names connection '{CONN_ID}' (smtp)")
    assert notify.SETTING not in str(raised.value)


def test_an_empty_setting_says_so():
    with pytest.raises(AlertConfigError, match="AUTH0_WEBHOOKS_ALERT_CONN_ID is empty"):
        send("", "s", "t")


def test_a_connection_of_another_type_names_the_setting_the_connection_and_the_types_that_work(monkeypatch):
    secret = "http-password-never-shown"
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "http", "host": "https://example.com", "password": secret}))
    with pytest.raises(AlertConfigError) as raised:
        send(CONN_ID, "s", "t")
    message = str(raised.value)
    assert f"AUTH0_WEBHOOKS_ALERT_CONN_ID names connection '{CONN_ID}', of type 'http'" in message
    assert "'smtp'" in message and "'slackwebhook'" in message and "apache-airflow-providers-slack" in message
    assert secret not in message


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"to": None}, 'set its extra "to"'),
        ({"to": ""}, 'set its extra "to"'),
        ({"from_email": None}, 'set its extra "from_email"'),
    ],
)
def test_an_smtp_connection_without_recipient_or_sender_says_which_extra_to_set(smtp, monkeypatch, extra, says):
    monkeypatch.setenv(ENV, smtp.connection_uri(**extra))
    with pytest.raises(AlertConfigError, match=f"{notify.SETTING} names connection '{CONN_ID}' \\(smtp\\).*{says}"):
        send(CONN_ID, "s", "t")
    assert smtp.messages() == []


def test_config_errors_fail_the_task_and_delivery_errors_let_it_retry():
    assert issubclass(AlertConfigError, AirflowFailException)
    assert issubclass(AlertDeliveryError, AirflowException)
    assert not issubclass(AlertDeliveryError, AirflowFailException)
