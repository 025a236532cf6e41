"""Helpers the tests share: events shaped like the real fixtures."""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
from pathlib import Path

from auth0_standin import Auth0StandIn, StoredEvent, load_fixture_lines

FIXTURE_EVENTS = [json.loads(line) for line in load_fixture_lines()]


def compact(value: object) -> str:
    """What JSON.stringify (and Auth0) write: no spaces, non-ASCII as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def expected_body(payload: str, event: dict) -> str:
    """Each payload format re-derived from the parsed event, independently of auth0_provider.payloads."""
    if payload == "event":
        return compact(event)
    if payload == "log_stream":
        return compact([{"log_id": event["log_id"], "data": event}])
    # auth0-webhooks: JSON.stringify({date: log.date, request: log.details.request, response: ...});
    # JSON.stringify leaves out members that are undefined
    details = event.get("details") or {}
    members = {"date": event, "request": details, "response": details}
    return compact({name: source[name] for name, source in members.items() if name in source})


def api_event(method: str, path: str, **fields: object) -> dict:
    """A new `sapi` event cloned from a real one in the fixtures, with this method and path."""
    template = next(e for e in FIXTURE_EVENTS if e["type"] == "sapi" and e["details"]["request"]["path"])
    event = copy.deepcopy(template)
    event["details"]["request"].update(method=method, path=path)
    event.update(fields)
    return event


def user_events(standin: Auth0StandIn, count: int) -> list[StoredEvent]:
    """``count`` new Management API calls, one per user (auth0|0, auth0|1, ...), dated now, in log-id order."""
    return [standin.add_event(api_event("post", f"/api/v2/users/auth0|{i}")) for i in range(count)]


def user_creations(
    standin: Auth0StandIn,
    moment: datetime.datetime,
    count: int = 1,
    step: datetime.timedelta = datetime.timedelta(seconds=1),
) -> list[StoredEvent]:
    """``count`` new user-creation events, dated from ``moment`` ``step`` apart, in the order added."""
    event = api_event("post", "/api/v2/users")
    return [standin.add_event(event, moment=moment + i * step) for i in range(count)]


def fixture_event(event_type: str) -> dict:
    """A copy of the first real fixture event of this type (a login, a logout, ...)."""
    return copy.deepcopy(next(e for e in FIXTURE_EVENTS if e["type"] == event_type))


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 that no CA signed: (certfile, keyfile) in ``directory``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(certfile), str(keyfile)


FORM_ID = "Xq7Lp2Za"  # the api-server tests a connection form as a temporary connection with a random id like this


def press_test_button(monkeypatch, **form: object) -> tuple[bool, str]:
    """What the connection form's Test button does (``POST /api/v2/connections/test``): the form as
    ``AIRFLOW_CONN_<random id>``, then ``Connection.test_connection()``, which builds the hook from the
    provider metadata with that id and calls its ``test_connection()``."""
    import warnings

    from airflow.models.connection import Connection

    connection = Connection(conn_id=FORM_ID, **form)
    monkeypatch.setenv(f"AIRFLOW_CONN_{FORM_ID.upper()}", connection.get_uri())
    try:
        with warnings.catch_warnings():  # Airflow's own, from Connection.get_hook
            warnings.filterwarnings("ignore", message="ProvidersManager.hooks is deprecated")
            return connection.test_connection()
    finally:
        monkeypatch.delenv(f"AIRFLOW_CONN_{FORM_ID.upper()}")
