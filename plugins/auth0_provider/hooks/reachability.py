"""Whether a receiver can be reached, for the webhook connection's Test button: TCP and TLS, nothing sent.

A connection is opened to the URL's host and port (through the proxy a delivery would use, with a
CONNECT tunnel for https) and, for https, the TLS handshake verifies the certificate as requests
verifies it for a delivery. Nothing is written to the connection. Messages name the receiver as
host:port only, and say what failed in the words a person looks for: DNS, refused, timeout, certificate.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
from typing import Any
from urllib.parse import unquote, urlsplit

from requests.utils import DEFAULT_CA_BUNDLE_PATH, select_proxy

UNSENT = "No event was sent, so the receiver's answer (its Authorization and signature checks) was not tried."


def probe(url: str, timeout: float, settings: dict[str, Any], conn_id: str) -> tuple[bool, str]:
    """Open (and close) a TCP connection to ``url``'s host and port, TLS included for https."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        return (
            False,
            f"Connection {conn_id!r}: the URL must be http(s)://host[:port]/..., not {scheme}://",
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return False, f"Connection {conn_id!r}: the URL's port is not a number from 0 to 65535"
    target = _host_port(host, port)
    receiver = f"{scheme}://{target}"
    proxy = select_proxy(url, settings.get("proxies") or {})
    via, peer = "", None
    verify = settings.get("verify", True)
    context = _tls_context(verify, settings.get("cert")) if scheme == "https" else None
    if proxy:
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if proxy_parts.scheme != "http" or not proxy_parts.hostname:
            return False, (
                f"Connection {conn_id!r}: deliveries to {receiver} go through a "
                f"{proxy_parts.scheme} proxy, which the Test cannot go through; nothing was tested."
            )
        peer = _host_port(proxy_parts.hostname, proxy_parts.port or 80)
        via = f" through proxy {peer}"
        opened = _open(proxy_parts.hostname, proxy_parts.port or 80, timeout, context)
        if context is not None:  # CONNECT, then the TLS handshake with the receiver through the tunnel
            opened.set_tunnel(host, port, headers=_proxy_headers(proxy_parts))
    else:
        opened = _open(host, port, timeout, context)
    try:
        opened.connect()
        tls = opened.sock.getpeercert() if context is not None else None
        version = opened.sock.version() if context is not None else None
    except OSError as exc:
        where = f"proxy {peer} (for {receiver})" if peer and not _is_tunnel_error(exc) else receiver + via
        return False, f"Connection {conn_id!r} could not reach {where}: {_reason(exc, timeout)}"
    finally:
        opened.close()
    if context is None:
        if peer:
            return True, (
                f"Reached proxy {peer} over plain http, through which deliveries reach {receiver}; the Test "
                f"does not go beyond the proxy. {UNSENT}"
            )
        return True, f"Reached {target} over plain http. {UNSENT}"
    if verify is False:
        return True, (
            f"Reached {target}{via} over {version}, certificate NOT verified: the connection's extra sets "
            f"verify to false. {UNSENT}"
        )
    return True, f"Reached {target}{via} ({version} verified: {_certificate_summary(tls)}). {UNSENT}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _open(host: str, port: int, timeout: float, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    """An unopened connection; ``connect()`` does the TCP connect (and TLS handshake), and sends nothing."""
    if context is None:
        return http.client.HTTPConnection(host, port, timeout=timeout)
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)


def _tls_context(verify: Any, cert: Any) -> ssl.SSLContext:
    """The certificate checks requests makes for a delivery: ``verify`` is True, False or a CA file/dir."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(verify, str) and os.path.isdir(verify):
        context = ssl.create_default_context(capath=verify)
    else:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH)
    if cert:
        certfile, keyfile = (cert[0], cert[1]) if isinstance(cert, (list, tuple)) else (cert, None)
        context.load_cert_chain(certfile, keyfile)
    return context


def _proxy_headers(proxy: Any) -> dict[str, str]:
    if proxy.username is None:
        return {}
    pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _is_tunnel_error(exc: OSError) -> bool:
    """Past the proxy: it answered CONNECT with an error, or the receiver's TLS handshake failed."""
    return isinstance(exc, ssl.SSLError) or str(exc).startswith("Tunnel connection failed")


def _reason(exc: OSError, timeout: float) -> str:
    """What failed, in the words a person would look for: DNS, refused, timeout, certificate."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verify failed ({exc.verify_message.rstrip('.')}). If the receiver uses a private CA, set "
            '"verify" to its CA file in the connection\'s extra.'
        )
    if isinstance(exc, ssl.SSLError):
        hint = " Does it speak plain http? Then the URL must start with http://." if "WRONG_VERSION" in str(exc) else ""
        return f"TLS handshake failed ({exc.reason or exc}).{hint}"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens on that port"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s (the connect timeout): a firewall may drop the connection"
    if str(exc).startswith("Tunnel connection failed"):
        return f"the proxy refused the tunnel ({str(exc).removeprefix('Tunnel connection failed: ')})"
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def _certificate_summary(certificate: dict[str, Any] | None) -> str:
    """``CN=hooks.example.com, issued by Let's Encrypt, valid until Mar  1 12:00:00 2027 GMT``."""
    if not certificate:
        return "certificate accepted"

    def field(name: tuple[tuple[tuple[str, str], ...], ...], *keys: str) -> str | None:
        values = {key: value for rdn in name for key, value in rdn}
        return next((values[key] for key in keys if values.get(key)), None)

    subject = field(certificate.get("subject", ()), "commonName")
    if subject is None:
        names = [value for kind, value in certificate.get("subjectAltName", ()) if kind in ("DNS", "IP Address")]
        subject = names[0] if names else "no subject name"
    issuer = field(certificate.get("issuer", ()), "organizationName", "commonName") or "unknown issuer"
    until = certificate.get("notAfter")
    return f"CN={subject}, issued by {issuer}" + (f", valid until {until}" if until else "")
