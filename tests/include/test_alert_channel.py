"""The alert channels' stand-ins record what real clients send: smtplib for SMTP, requests for Slack."""

from __future__ import annotations

import json
import smtplib
import socket
import time
from email.message import EmailMessage

import pytest
import requests

from alert_channel import SlackWebhookChannel, SmtpChannel

ODD = "Zoë {{ conn.x.password }} 😀 \u202e日本 e\u0301 <b>&amp;</b>"


def mail(subject: str = ODD, body: str = ODD + "\nsecond line\n", to: str = "oncall@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "sender@example.com"
    msg["To"] = to
    msg.set_content(body)
    return msg


def smtp_client(channel: SmtpChannel) -> smtplib.SMTP:
    return smtplib.SMTP(channel.host, channel.port, timeout=5)


def test_the_smtp_stand_in_records_the_subject_recipients_and_body_smtplib_sent():
    with SmtpChannel() as channel, smtp_client(channel) as client:
        client.send_message(mail(to="a@example.com, b@example.com"))
        (got,) = channel.wait_for(1, timeout=5)
    assert got.subject == ODD
    assert got.body == ODD + "\nsecond line\n"
    assert got.content_type == "text/plain"
    assert got.rcpt_tos == ["a@example.com", "b@example.com"]
    assert (got.mail_from, got.sender, got.to) == ("sender@example.com",) * 2 + ("a@example.com, b@example.com",)
    assert got.login is None
    assert got.message["Subject"] == ODD


def test_the_smtp_stand_in_with_credentials_takes_mail_only_from_a_client_that_logged_in_with_them():
    with SmtpChannel(credentials=("alerts@example.com", "correct horse")) as channel:
        with smtp_client(channel) as client, pytest.raises(smtplib.SMTPSenderRefused, match="530"):
            client.send_message(mail())
        with smtp_client(channel) as client, pytest.raises(smtplib.SMTPAuthenticationError, match="535"):
            client.login("alerts@example.com", "wrong")
        with smtp_client(channel) as client:
            client.login("alerts@example.com", "correct horse")
            client.send_message(mail())
        (got,) = channel.wait_for(1, timeout=5)
    assert got.login == "alerts@example.com"


def test_wait_for_gives_up_after_its_timeout_and_says_how_many_arrived():
    """0.2 s on an idle machine, its timeout; the 2 s bound is 10 times that, and below the 5 s default timeout
    it must not wait out instead."""
    with SmtpChannel() as channel:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="0 of 1 messages"):
            channel.wait_for(1, timeout=0.2)
    assert time.monotonic() - started < 2


def test_the_smtp_stand_in_connection_points_at_it_without_ssl_or_starttls():
    with SmtpChannel(credentials=("u@example.com", "pw")) as channel:
        conn = json.loads(channel.connection_uri(to="x@example.com", timeout=3))
    assert conn["conn_type"] == "smtp"
    assert (conn["host"], conn["port"], conn["login"], conn["password"]) == (
        "127.0.0.1",
        channel.port,
        "u@example.com",
        "pw",
    )
    assert conn["extra"]["to"] == "x@example.com"
    assert conn["extra"]["disable_ssl"] is conn["extra"]["disable_tls"] is True
    assert conn["extra"]["timeout"] == 3


def test_a_stopped_smtp_stand_in_frees_its_port():
    with SmtpChannel() as channel:
        port = channel.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_the_slack_stand_in_records_a_webhook_post_and_answers_ok_as_slack_does():
    with SlackWebhookChannel() as channel:
        blocks = [{"type": "section", "text": {"type": "plain_text", "text": ODD}}]
        reply = requests.post(channel.url, json={"text": ODD, "blocks": blocks}, timeout=5)
        (got,) = channel.wait_for(1, timeout=5)
    assert (reply.status_code, reply.text) == (200, "ok")
    assert got.path == channel.path == f"/services/{channel.token}"
    assert got.text == ODD
    assert got.blocks == blocks
    assert got.headers["content-type"] == "application/json"


def test_the_slack_stand_in_answers_404_to_another_path_and_400_to_a_post_without_text():
    with SlackWebhookChannel() as channel:
        wrong = requests.post(f"{channel.base_url}/T0/B0/wrong", json={"text": "x"}, timeout=5)
        empty = requests.post(channel.url, json={"unfurl_links": False}, timeout=5)
        assert channel.messages() == []
        assert len(channel.requests) == 2
    assert (wrong.status_code, wrong.text) == (404, "no_service")
    assert (empty.status_code, empty.text) == (400, "no_text")


def test_the_slack_stand_in_answers_with_the_reply_it_is_told_and_still_records_the_post():
    with SlackWebhookChannel() as channel:
        channel.reply = (500, "rollup_error")
        reply = requests.post(channel.url, json={"text": "x"}, timeout=5)
        assert [m.text for m in channel.wait_for(1, timeout=5)] == ["x"]
    assert (reply.status_code, reply.text) == (500, "rollup_error")


def test_the_slack_stand_in_connection_has_the_endpoint_in_host_and_the_token_in_password():
    with SlackWebhookChannel(token="T1/B2/abc") as channel:
        conn = json.loads(channel.connection_uri())
    assert conn == {
        "conn_type": "slackwebhook",
        "host": channel.base_url,
        "password": "T1/B2/abc",
        "extra": {"timeout": 10},
    }
    assert channel.url == f"{channel.base_url}/T1/B2/abc"
    assert channel.base_url.startswith("http://127.0.0.1:")
