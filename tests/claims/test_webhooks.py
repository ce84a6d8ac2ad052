"""One capability's tests, sharing its fixtures: webhook targets checked when set and when
delivered, on the same fake DNS, local HTTP(S) server and API client.

Webhook targets: no SSRF when a URL is set, nor when the worker delivers to it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from claims.models import ApiClient, AuditEvent, Case
from claims.webhooks import (
    WebhookRefusedError,
    case_webhook_deliver,
    webhook_post,
    webhook_signature_verify,
    webhook_target_check,
)

PUBLIC_IP = "93.184.215.14"


class _Server:
    """A live HTTP server on 127.0.0.1 that records what reaches it."""

    def __init__(self, status: int = 204, headers: dict[str, str] | None = None, body: bytes = b""):
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.received.append((self.path, dict(self.headers), self.rfile.read(length)))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def dns(fake_dns: dict[str, list[str]]) -> dict[str, list[str]]:
    fake_dns["hooks.example.com"] = [PUBLIC_IP]
    fake_dns["dual.example.com"] = [PUBLIC_IP, "2606:4700::1111"]
    fake_dns["local.example.com"] = ["127.0.0.1"]
    fake_dns["mixed.example.com"] = [PUBLIC_IP, "10.0.0.7"]
    fake_dns["metadata.example.com"] = ["169.254.169.254"]
    fake_dns["v6local.example.com"] = ["::1"]
    fake_dns["nowhere.example.com"] = []
    return fake_dns


GOOD = [
    ("https://hooks.example.com/claims?x=1", "hooks.example.com", 443, "/claims?x=1", PUBLIC_IP),
    ("https://HOOKS.example.com:8443/", "hooks.example.com", 8443, "/", PUBLIC_IP),
    ("https://dual.example.com", "dual.example.com", 443, "/", PUBLIC_IP),
    ("https://8.8.8.8/hook", "8.8.8.8", 443, "/hook", "8.8.8.8"),
    ("https://[2606:4700::1111]/hook", "2606:4700::1111", 443, "/hook", "2606:4700::1111"),
]


@pytest.mark.parametrize(("url", "host", "port", "path", "address"), GOOD)
def test_good_targets(url: str, host: str, port: int, path: str, address: str, dns) -> None:  # type: ignore[no-untyped-def]
    target = webhook_target_check(url=url)
    assert (target.host, target.port, target.path, str(target.address)) == (
        host,
        port,
        path,
        address,
    )


BAD = [
    ("http://hooks.example.com/hook", "http:// is not allowed, use https://"),
    ("ftp://hooks.example.com/hook", "the scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", "the scheme 'file' is not allowed"),
    ("gopher://hooks.example.com:70/", "the scheme 'gopher' is not allowed"),
    ("hooks.example.com/hook", "the scheme '(none)' is not allowed"),
    ("https://user:pw@hooks.example.com/", "may not contain a user name or password"),
    ("https://user@hooks.example.com/", "may not contain a user name or password"),
    ("https:///hook", "has no host"),
    ("https://hooks.example.com:99999/", "is not a valid URL"),
    ("https://127.0.0.1:8199/hook", "127.0.0.1 is a loopback address"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("https://10.1.2.3/", "10.1.2.3 is a private address"),
    ("https://172.16.0.1/", "172.16.0.1 is a private address"),
    ("https://192.168.1.1/", "192.168.1.1 is a private address"),
    ("https://100.64.0.1/", "100.64.0.1 is a shared (100.64.0.0/10) address"),
    ("https://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("https://224.0.0.1/", "224.0.0.1 is a multicast address"),
    ("https://240.0.0.1/", "240.0.0.1 is a private address"),
    ("https://203.0.113.7/", "203.0.113.7 is a private address"),
    ("https://2130706433/", "'2130706433' is not a dotted-decimal IP address"),
    ("https://0177.0.0.1/", "'0177.0.0.1' is not a dotted-decimal IP address"),
    ("https://0x7f.1/", "'0x7f.1' is not a dotted-decimal IP address"),
    ("https://0x7f000001/", "'0x7f000001' is not a dotted-decimal IP address"),
    ("https://127.1/", "'127.1' is not a dotted-decimal IP address"),
    ("https://[::1]/", "::1 is a loopback address"),
    ("https://[::]/", ":: is an unspecified address"),
    ("https://[fe80::1]/", "fe80::1 is a link-local address"),
    ("https://[fec0::1]/", "fec0::1 is a site-local address"),
    ("https://[fd00::1]/", "fd00::1 is a private address"),
    ("https://[::ffff:127.0.0.1]/", "::ffff:7f00:1 embeds 127.0.0.1: 127.0.0.1 is a loopback"),
    (
        "https://[::ffff:169.254.169.254]/",
        "embeds 169.254.169.254: 169.254.169.254 is a link-local",
    ),
    ("https://[2002:7f00:1::1]/", "2002:7f00:1::1 embeds 127.0.0.1"),
    ("https://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1 is a reserved address"),
    (
        "https://local.example.com/",
        "local.example.com resolves to 127.0.0.1; 127.0.0.1 is a loopback",
    ),
    (
        "https://metadata.example.com/",
        "resolves to 169.254.169.254; 169.254.169.254 is a link-local",
    ),
    ("https://mixed.example.com/", "mixed.example.com resolves to 10.0.0.7; 10.0.0.7 is a private"),
    ("https://v6local.example.com/", "v6local.example.com resolves to ::1; ::1 is a loopback"),
    ("https://nowhere.example.com/", "could not resolve nowhere.example.com"),
]


@pytest.mark.parametrize(("url", "reason"), BAD)
def test_bad_targets(url: str, reason: str, dns) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WebhookRefusedError) as info:
        webhook_target_check(url=url)
    assert reason in info.value.message
    assert any(hint in info.value.message for hint in ALLOWED_HINTS)  # says what to do


ALLOWED_HINTS = (
    "a webhook URL must be https://host[:port]/path on a public host",
    "use https://",
    "set webhook_secret",
    "write an IPv4 address as four decimal numbers (203.0.113.7) or use a host name",
    "use a host name with a public DNS record",
)


def test_http_only_when_debug_or_allowed(dns, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEBUG = False
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = False
    with pytest.raises(WebhookRefusedError):
        webhook_target_check(url="http://hooks.example.com/")
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = True
    assert webhook_target_check(url="http://hooks.example.com/").port == 80
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = False
    settings.DEBUG = True
    assert webhook_target_check(url="http://hooks.example.com/").port == 80


def test_allowed_private_networks(dns, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "fd00::/8"]
    assert str(webhook_target_check(url="https://local.example.com/").address) == "127.0.0.1"
    assert str(webhook_target_check(url="https://[::ffff:127.0.0.1]/").address) == "::ffff:7f00:1"
    assert str(webhook_target_check(url="https://[fd00::1]/").address) == "fd00::1"
    with pytest.raises(WebhookRefusedError, match=r"10\.0\.0\.7 is a private address"):
        webhook_target_check(url="https://mixed.example.com/")
    with pytest.raises(WebhookRefusedError, match="not a dotted-decimal"):
        webhook_target_check(url="https://2130706433/")  # odd forms stay refused


# The API -----------------------------------------------------------------------------------


@pytest.fixture
def api(customer) -> Client:  # type: ignore[no-untyped-def]
    cache.clear()
    token, _ = Token.objects.get_or_create(user=customer)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8199/hook", "http:// is not allowed, use https://"),
        ("https://127.0.0.1:8199/hook", "127.0.0.1 is a loopback address"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("ftp://hooks.example.com/x", "the scheme 'ftp' is not allowed"),
        ("https://user:pw@hooks.example.com/", "may not contain a user name or password"),
        ("https://[::ffff:127.0.0.1]/", "embeds 127.0.0.1"),
        ("https://local.example.com/", "local.example.com resolves to 127.0.0.1"),
        ("https://2130706433/", "Enter a valid URL."),  # Django's URL check refuses it first
    ],
)
def test_api_put_refuses(api, customer, dns, url: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    ApiClient.objects.create(user=customer, webhook_url="https://hooks.example.com/old")
    response = api.put("/api/webhook/", {"webhook_url": url}, content_type="application/json")
    assert response.status_code == 400
    (message,) = response.json()["webhook_url"]
    assert reason in message
    assert ApiClient.objects.get(user=customer).webhook_url == "https://hooks.example.com/old"


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["https://hooks.example.com/claims", ""])
def test_api_put_accepts(api, customer, dns, url: str) -> None:  # type: ignore[no-untyped-def]
    response = api.put("/api/webhook/", {"webhook_url": url}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"webhook_url": url}
    assert ApiClient.objects.get(user=customer).webhook_url == url


# Delivery ----------------------------------------------------------------------------------


@pytest.fixture
def case(customer) -> Case:  # type: ignore[no-untyped-def]
    return Case.objects.create(
        customer=customer,
        policy_number="W-1",
        loss_date=dt.date(2026, 11, 2),
        loss_place="Depot",
        description="Scraped a pole",
    )


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as live:
        yield live


@pytest.fixture
def http_allowed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOW_HTTP = True  # the local servers speak plain http


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "local.example.com"])
def test_worker_refuses_a_stored_private_target(
    case: Case,
    customer: Any,
    server: _Server,
    dns: dict[str, list[str]],
    settings: Any,
    http_allowed: None,
    host: str,
) -> None:
    url = f"http://{host}:{server.port}/hook"
    ApiClient.objects.create(user=customer, webhook_url=url)  # stored before the check existed
    body = b'{"event": "case.finished"}'
    delivered = case_webhook_deliver(
        case=case, url=url, body=body, headers={"Content-Type": "application/json"}
    )
    assert delivered is False
    assert server.received == []
    (event,) = AuditEvent.objects.filter(case=case, verb="case.webhook_refused")
    assert event.data["url"] == url
    assert "127.0.0.1 is a loopback address" in event.data["reason"]

    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    delivered = case_webhook_deliver(
        case=case, url=url, body=body, headers={"Content-Type": "application/json"}
    )
    assert delivered is True
    ((path, headers, payload),) = server.received
    assert (path, payload) == ("/hook", body)
    assert headers["Host"] == f"{host}:{server.port}"
    assert AuditEvent.objects.filter(verb="case.webhook_refused").count() == 1


@pytest.mark.django_db
def test_delivery_connects_to_the_checked_address(server, dns, settings, http_allowed) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    target = webhook_target_check(url=f"http://local.example.com:{server.port}/hook")
    dns["local.example.com"] = ["10.255.255.1"]  # rebinding after the check
    response = webhook_post(target=target, body=b"{}", headers={})
    assert response.status_code == 204
    ((_path, headers, _payload),) = server.received
    assert headers["Host"] == f"local.example.com:{server.port}"


@pytest.mark.django_db
def test_redirects_are_not_followed(dns, settings, http_allowed) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    with _Server() as inside:
        location = {"Location": f"http://127.0.0.1:{inside.port}/admin"}
        with _Server(status=302, headers=location) as outside:
            target = webhook_target_check(url=f"http://127.0.0.1:{outside.port}/hook")
            with pytest.raises(
                requests.HTTPError, match="302 \\(a redirect, which is not followed\\)"
            ):
                webhook_post(target=target, body=b"{}", headers={})
            assert len(outside.received) == 1
        assert inside.received == []


@pytest.mark.django_db
def test_answer_read_is_capped(dns, settings, http_allowed) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    settings.CLAIMS_WEBHOOK_MAX_RESPONSE_BYTES = 1024
    with _Server(status=200, body=b"x" * 1_000_000) as big:
        target = webhook_target_check(url=f"http://127.0.0.1:{big.port}/hook")
        response = webhook_post(target=target, body=b"{}", headers={})
    assert response.status_code == 200
    assert response.content == b"x" * 1024


@pytest.mark.django_db
def test_failed_answer_raises_for_the_task_to_retry(server, dns, settings, http_allowed) -> None:  # type: ignore[no-untyped-def]
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    with _Server(status=503) as down:
        target = webhook_target_check(url=f"http://127.0.0.1:{down.port}/hook")
        with pytest.raises(requests.HTTPError, match="answered 503 \\(not 2xx\\)"):
            webhook_post(target=target, body=b"{}", headers={})


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.django_db
@pytest.mark.parametrize("cert_name", ["tls.example.com", "other.example.com"])
def test_https_pins_the_address_and_checks_the_host_certificate(
    tmp_path: Path, dns: dict[str, list[str]], settings: Any, cert_name: str
) -> None:
    cert_path, key_path = _self_signed(tmp_path, cert_name)
    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    settings.CLAIMS_WEBHOOK_CA_BUNDLE = str(cert_path)
    dns["tls.example.com"] = ["127.0.0.1"]
    with _Server() as live:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        live.httpd.socket = context.wrap_socket(live.httpd.socket, server_side=True)
        target = webhook_target_check(url=f"https://tls.example.com:{live.port}/hook")
        dns["tls.example.com"] = ["10.255.255.1"]  # rebinding after the check
        if cert_name == "tls.example.com":
            response = webhook_post(target=target, body=b"{}", headers={})
            assert response.status_code == 204
            ((_path, headers, _payload),) = live.received
            assert headers["Host"] == f"tls.example.com:{live.port}"
        else:  # the certificate is checked against the host name, not the address
            with pytest.raises(requests.exceptions.SSLError):
                webhook_post(target=target, body=b"{}", headers={})
            assert live.received == []


@pytest.mark.django_db
def test_case_webhook_send_refuses_then_delivers(
    case: Case, customer: Any, server: _Server, settings: Any, http_allowed: None
) -> None:
    from claims import outbox

    url = f"http://127.0.0.1:{server.port}/hook"
    ApiClient.objects.create(user=customer, webhook_url=url, webhook_secret="s3cret")
    assert outbox.case_webhook_send(case_id=case.pk) is False  # refused: no exception, no retry
    assert server.received == []
    assert Case.objects.get(pk=case.pk).webhook_sent_at is None
    assert AuditEvent.objects.filter(case=case, verb="case.webhook_refused").count() == 1

    settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    assert outbox.case_webhook_send(case_id=case.pk) is True
    assert outbox.case_webhook_send(case_id=case.pk) is False  # sent once
    ((path, headers, payload),) = server.received
    assert path == "/hook"
    assert headers["X-Claims-Signature"].startswith("sha256=")
    # V2: the timestamp of this attempt is signed with the body; it expires after the window.
    sent = int(headers["X-Claims-Timestamp"])
    assert abs(sent - time.time()) < 60
    signed = f"{sent}.".encode() + payload
    expected = hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert headers["X-Claims-Signature-V2"] == f"sha256={expected}"
    check = {"secret": "s3cret", "timestamp": str(sent), "signature": f"sha256={expected}"}
    assert webhook_signature_verify(**check, body=payload)
    assert not webhook_signature_verify(**check, body=payload + b" ")
    assert not webhook_signature_verify(**check, body=payload, now=sent + 301)
    assert not webhook_signature_verify(**check, body=payload, now=sent - 301)
    assert not webhook_signature_verify(**{**check, "timestamp": str(sent + 1)}, body=payload)
    assert Case.objects.get(pk=case.pk).webhook_sent_at is not None
