"""Outbound HTTP to URLs that users give us (webhooks, Slack, creative media): the SSRF guard.

- At creation, `validate_public_url()` refuses non-http(s) schemes, credentials in the URL, malformed or local
  host names and literal private/loopback/link-local/metadata addresses — in any spelling the resolver accepts
  (127.1, 0177.0.0.1, 0x7f000001) and inside IPv6 (mapped, IPv4-compatible, 6to4, NAT64) — and plain http
  outside DEBUG.
- At delivery, `safe_request()` resolves the host and refuses any address that is not globally routable,
  then connects to exactly the vetted address (the TLS server name stays the host name), so a DNS answer
  that changes between the check and the connection cannot reach an internal service. Redirects are never
  followed; the timeout is 10 s.
- `WEBHOOK_ALLOW_PRIVATE_TARGETS=1` lifts the address checks (tests, on-premise installations).
"""
from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
import time
import unicodedata
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

from .exceptions import ValidationFailed

DEFAULT_TIMEOUT = 10.0
MAX_URL_LENGTH = 2000
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
HOST_NAME = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
LEGACY_IPV4 = re.compile(r"^[0-9a-fx.]+$")  # 127.1, 0177.0.0.1, 0x7f.1, 2130706433: what inet_aton accepts
# Special-purpose ranges Python 3.11's ipaddress still calls global (RFC 6890 updates, local-use NAT64).
NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("64:ff9b:1::/48"))
GLOBAL_EXCEPTIONS = (ipaddress.ip_address("192.0.0.9"), ipaddress.ip_address("192.0.0.10"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class UnsafeTarget(ValueError):
    """The URL or the address it resolves to is not allowed as an outbound target."""


def _private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: mapped, 6to4, NAT64 (64:ff9b::/96) or IPv4-compatible (::/96)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
        ip = embedded
    if any(ip in network for network in NOT_GLOBAL if network.version == ip.version) and ip not in GLOBAL_EXCEPTIONS:
        return False
    return ip.is_global and not ip.is_multicast


def _literal_ip(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if LEGACY_IPV4.match(host) and any(c.isdigit() for c in host):
        try:  # the resolver reads these as IPv4 addresses, so they are literals, not names
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # the dots IDNA reads as dots


def normalize_host(hostname: str) -> str:
    """The host as a resolver sees it: NFKC (circled, full-width and other compatibility digits and letters become
    plain ones — `①②⑦.⓪.⓪.①` is 127.0.0.1), IDNA for names (ASCII, `xn--` labels), lower case, no trailing dot.
    An IPv6 literal is returned as given. A name that IDNA refuses comes back empty."""
    host = unicodedata.normalize("NFKC", hostname).translate(FULL_STOPS).lower().rstrip(".")
    if not host or ":" in host or host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return ""


def validate_public_url(url: str, *, require_https: bool | None = None) -> str:
    """Checks a URL a user hands us. Returns it unchanged or raises UnsafeTarget with a readable reason."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"The URL must be 1 to {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        _ = parts.hostname  # a bracketed host that is not an IPv6 address raises here
    except ValueError:
        raise UnsafeTarget("The URL is not valid.") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTarget("The URL must start with https://.")
    if require_https is None:
        require_https = not settings.DEBUG and not _private_allowed()
    if require_https and parts.scheme != "https":
        raise UnsafeTarget("The URL must use https.")
    if parts.username or parts.password:
        raise UnsafeTarget("Credentials in the URL are not allowed.")
    host = normalize_host(parts.hostname or "")
    if not host:
        raise UnsafeTarget("The URL has no host.")
    if _literal_ip(host) is None and not HOST_NAME.match(host):
        raise UnsafeTarget("The URL's host name is not valid.")
    try:
        _ = parts.port
    except ValueError:
        raise UnsafeTarget("The URL has an invalid port.") from None
    if _private_allowed():
        return url
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host and _literal_ip(host) is None:
        raise UnsafeTarget("The URL points at a local host name.")
    literal = _literal_ip(host)
    if literal is not None and not address_is_public(str(literal)):
        raise UnsafeTarget("The URL points at a private, loopback or link-local address.")
    return url


def resolve(host: str, port: int) -> list[str]:
    """All addresses of `host` (a seam for tests: monkeypatch `stratum.api.net.resolve`)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def vetted_addresses(host: str, port: int) -> list[str]:
    literal = _literal_ip(host)
    try:
        addresses = [str(literal)] if literal is not None else resolve(host, port)
    except OSError as exc:
        raise UnsafeTarget(f"The host {host} could not be resolved: {exc}") from exc
    if not addresses:
        raise UnsafeTarget(f"The host {host} has no address.")
    if not _private_allowed():
        bad = [a for a in addresses if not address_is_public(a)]
        if bad:
            raise UnsafeTarget(f"The host {host} resolves to a non-public address ({bad[0]}).")
    return addresses


class _GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses that pass the guard, re-resolving at connection time."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last_error: Exception | None = None
        for address in vetted_addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                           socket_options=socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"could not connect to {host}")


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pool._network_backend = _GuardedBackend()


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs ~30 ms, which every webhook attempt would otherwise pay."""
    return httpx.create_ssl_context()


def safe_client(*, timeout: float = DEFAULT_TIMEOUT) -> httpx.Client:
    return httpx.Client(transport=GuardedTransport(verify=_tls_context()), timeout=timeout, follow_redirects=False,
                        trust_env=False)


def safe_request(method: str, url: str, *, timeout: float = DEFAULT_TIMEOUT, max_response_bytes: int | None = None,
                 **kwargs) -> httpx.Response:
    """One request to a user-supplied URL: checked, resolved and vetted, no redirects followed.

    With `max_response_bytes`, only that much of the response body is read (and reading stops once
    `timeout` seconds have passed in total), so a hostile receiver cannot stream an endless answer.
    Raises UnsafeTarget for a refused target and httpx.HTTPError for transport failures.
    """
    validate_public_url(url, require_https=False)
    parts = urlsplit(url)
    vetted_addresses(normalize_host(parts.hostname or ""), parts.port or (443 if parts.scheme == "https" else 80))
    with safe_client(timeout=timeout) as client:
        if max_response_bytes is None:
            return client.request(method, url, **kwargs)
        started = time.monotonic()
        with client.stream(method, url, **kwargs) as streamed:
            body = bytearray()
            for chunk in streamed.iter_bytes():
                body.extend(chunk)
                if len(body) >= max_response_bytes or time.monotonic() - started > timeout:
                    break
            headers = [(k, v) for k, v in streamed.headers.multi_items()
                       if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
            return httpx.Response(streamed.status_code, headers=headers, content=bytes(body[:max_response_bytes]),
                                  request=streamed.request)


def public_url_validate(url: str, *, field: str = "url") -> str:
    """`validate_public_url` for input (webhook and Slack URLs): https outside DEBUG, no credentials, no local names,
    no private/loopback/link-local literals; else a 422 naming `field`."""
    try:
        return validate_public_url(url)
    except UnsafeTarget as exc:
        raise ValidationFailed(errors={field: [str(exc)]}) from None
    except ValueError:  # urlsplit refuses some malformed URLs itself ("https://[::1/")
        raise ValidationFailed(errors={field: ["The URL is not valid."]}) from None
