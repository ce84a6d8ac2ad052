"""Webhook targets: which URLs a customer may register, and the one way to POST to them.

The same check runs when a URL is set (API) and again right before each delivery, since a
host's DNS can change after it was accepted. Delivery connects to the very address that
was checked (the Host header and TLS SNI still name the host), so a DNS answer that
changes between the check and the connection (rebinding) cannot redirect it; redirects
are never followed.

Signatures: each attempt is signed when it is sent. `X-Claims-Timestamp` is the Unix time
of the attempt and `X-Claims-Signature-V2` is `sha256=` and the hex HMAC-SHA256, keyed
with the client's webhook_secret, of `<timestamp>.<body>`; a receiver recomputes it,
compares in constant time and refuses a timestamp more than WEBHOOK_REPLAY_WINDOW_S away
from its clock, so a captured request cannot be replayed later. `X-Claims-Signature`
(HMAC of the body alone, no timestamp) is still sent for receivers written before V2.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from claims.audit import audit_record
from claims.models import ApiClient, Case
from common.errors import ApplicationError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED = (
    "a webhook URL must be https://host[:port]/path on a public host "
    "(no user name or password, no private, loopback or link-local address)"
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
# Digits, hex and dots only: an IPv4 address in some form (2130706433, 0x7f.1, 0177.0.0.1).
NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?")


# How far a receiver should accept X-Claims-Timestamp from its own clock (docs/api.md).
WEBHOOK_REPLAY_WINDOW_S = 300
TIMESTAMP_HEADER = "X-Claims-Timestamp"
SIGNATURE_HEADER = "X-Claims-Signature-V2"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>`, keyed with the client's secret."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_signature_verify(
    *, secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent) > WEBHOOK_REPLAY_WINDOW_S:
        return False
    expected = webhook_signature(secret=secret, timestamp=sent, body=body)
    return hmac.compare_digest(expected, signature)


class WebhookRefusedError(ApplicationError):
    """The URL may not be used as a webhook target; `message` says why and what is allowed."""


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: where to connect (`address`) and what to call the host."""

    url: str
    scheme: str
    host: str  # as written (IDNA-encoded), for the Host header and SNI
    port: int
    path: str  # path and query
    addresses: tuple[IPAddress, ...]  # every address the host resolved to, all allowed
    literal: bool  # the URL names an IP address, not a host name

    @property
    def address(self) -> IPAddress:
        return self.addresses[0]


def _allowed_networks() -> list[IPNetwork]:
    return [
        ipaddress.ip_network(cidr, strict=False)
        for cidr in settings.CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS
    ]


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` may not receive webhooks, or None when it may."""
    allowed = _allowed_networks()
    if any(address in net for net in allowed if net.version == address.version):
        return None
    # An address that embeds an IPv4 one (::ffff:127.0.0.1, 6to4, Teredo) is judged as
    # both: the embedded address is where the packets may end up.
    embedded: list[IPAddress] = []
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
    for inner in embedded:
        reason = address_refusal(inner)
        if reason is not None:
            return f"{address} embeds {inner}: {reason}"
    if embedded and all(
        any(inner in net for net in allowed if net.version == 4) for inner in embedded
    ):
        return None
    checks = (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a shared (100.64.0.0/10)", address in SHARED_ADDRESS_SPACE),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        (
            "a site-local",
            isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
        ),
        ("a non-public", not address.is_global),
    )
    for kind, hit in checks:
        if hit:
            return f"{address} is {kind} address"
    return None


def _literal(host: str) -> IPAddress | None:
    """The IP address the host names, or None for a host name; odd IPv4 forms refused."""
    if "%" in host:
        raise WebhookRefusedError(f"{host} has an IPv6 zone id; {ALLOWED}")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if NUMERIC_HOST.fullmatch(host):
        # The C resolver reads these as IPv4 (2130706433 is 127.0.0.1); nobody means a name.
        raise WebhookRefusedError(
            f"{host!r} is not a dotted-decimal IP address or a host name; "
            "write an IPv4 address as four decimal numbers (203.0.113.7) or use a host name"
        )
    return None


def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefusedError(
            f"could not resolve {host}: {exc}; use a host name with a public DNS record"
        ) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise WebhookRefusedError(
            f"{host} has no addresses; use a host name with a public DNS record"
        )
    return tuple(addresses)


def webhook_target_check(*, url: str) -> WebhookTarget:
    """Check `url` as a webhook target and resolve its host; raise WebhookRefusedError if not.

    Allowed: http(s) URLs (http only when DEBUG or CLAIMS_WEBHOOK_ALLOW_HTTP), without
    credentials, whose host resolves only to public addresses, or to addresses inside
    CLAIMS_WEBHOOK_ALLOWED_PRIVATE_NETWORKS.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WebhookRefusedError(f"{url!r} is not a valid URL ({exc}); {ALLOWED}") from exc
    scheme = parts.scheme.lower()
    allow_http = settings.DEBUG or settings.CLAIMS_WEBHOOK_ALLOW_HTTP
    if scheme not in ("http", "https"):
        raise WebhookRefusedError(
            f"the scheme {scheme or '(none)'!r} is not allowed; {ALLOWED}"
            + ("" if not allow_http else " (http:// is also allowed here)")
        )
    if scheme == "http" and not allow_http:
        raise WebhookRefusedError(f"http:// is not allowed, use https://; {ALLOWED}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookRefusedError(
            "a webhook URL may not contain a user name or password; "
            "set webhook_secret and check the X-Claims-Signature header instead"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookRefusedError(f"{url!r} has no host; {ALLOWED}")
    literal = _literal(host)
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise WebhookRefusedError(f"{host!r} is not a valid host name; {ALLOWED}") from exc
    port = port or (443 if scheme == "https" else 80)
    addresses = (literal,) if literal is not None else _resolve(host, port)
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            named = "" if literal is not None else f"{host} resolves to {address}; "
            raise WebhookRefusedError(f"{named}{reason}; {ALLOWED}")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return WebhookTarget(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        addresses=addresses,
        literal=literal is not None,
    )


class _PinnedHostAdapter(HTTPAdapter):
    """Connect to an IP address but check the TLS certificate of (and send SNI for) `host`."""

    def __init__(self, host: str) -> None:
        self._host = host
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **pool_kwargs: Any) -> None:
        pool_kwargs["server_hostname"] = self._host
        pool_kwargs["assert_hostname"] = self._host
        super().init_poolmanager(*args, **pool_kwargs)


def webhook_post(
    *, target: WebhookTarget, body: bytes, headers: dict[str, str]
) -> requests.Response:
    """POST `body` to the checked address; raise requests.HTTPError unless the answer is 2xx.

    Redirects are not followed (a 3xx is a failed delivery) and at most
    CLAIMS_WEBHOOK_MAX_RESPONSE_BYTES of the answer are read.
    """
    address = target.address
    netloc = f"[{address}]" if address.version == 6 else str(address)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal
        host_header = f"[{target.host}]" + (
            "" if target.port == default_port else f":{target.port}"
        )
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would resolve the host again
        session.mount("http://", HTTPAdapter(max_retries=0))
        session.mount(
            "https://",
            HTTPAdapter(max_retries=0) if target.literal else _PinnedHostAdapter(target.host),
        )
        response = session.post(
            f"{target.scheme}://{netloc}:{target.port}{target.path}",
            data=body,
            headers={**headers, "Host": host_header},
            timeout=(
                settings.CLAIMS_WEBHOOK_CONNECT_TIMEOUT_S,
                settings.CLAIMS_WEBHOOK_READ_TIMEOUT_S,
            ),
            allow_redirects=False,
            verify=settings.CLAIMS_WEBHOOK_CA_BUNDLE or True,
            stream=True,  # read the answer ourselves, capped
        )
        try:
            content = response.raw.read(
                settings.CLAIMS_WEBHOOK_MAX_RESPONSE_BYTES, decode_content=False
            )
        finally:
            response.close()
    response._content = content or b""  # what was read, for logs; the rest is dropped
    if not 200 <= response.status_code < 300:
        what = (
            "a redirect, which is not followed" if 300 <= response.status_code < 400 else "not 2xx"
        )
        raise requests.HTTPError(
            f"webhook {target.url} answered {response.status_code} ({what})", response=response
        )
    return response


def case_webhook_deliver(*, case: Case, url: str, body: bytes, headers: dict[str, str]) -> bool:
    """Check the target again, then POST; False (and an audit event saying why) if refused.

    A refused target is not retried: the caller stops. Transport errors and non-2xx answers
    raise requests.RequestException, which the task retries. With a webhook secret, the
    attempt's timestamp and V2 signature headers are added here, at send time.
    """
    try:
        target = webhook_target_check(url=url)
    except WebhookRefusedError as exc:
        logger.warning("webhook for case %s refused: %s", case.pk, exc.message)
        audit_record(
            verb="case.webhook_refused", case=case, data={"url": url, "reason": exc.message}
        )
        return False
    secret = (
        ApiClient.objects.filter(user_id=case.customer_id)
        .values_list("webhook_secret", flat=True)
        .first()
    )
    if secret:
        # Signed now, not when the delivery was queued: a retry an hour later carries its
        # own time and passes the receiver's replay window.
        timestamp = int(time.time())
        headers = {
            **headers,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, body=body),
        }
    webhook_post(target=target, body=body, headers=headers)
    return True
