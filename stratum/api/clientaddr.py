"""The client's address: the one function the rate limiter, the lock-outs, audit entries and logs use.

`REMOTE_ADDR` is the peer that connected. When that peer is a proxy listed in `TRUSTED_PROXIES` (comma-separated
CIDRs, default empty), the client is the right-most `X-Forwarded-For` address that is not itself a trusted proxy:
each trusted hop appends the address it saw, so everything left of the first untrusted entry (read from the right)
was written by the client and may be forged. A peer outside `TRUSTED_PROXIES` is the client, whatever its
forwarding headers say. `X-Real-IP` and `Forwarded` are never read.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings

UNKNOWN = "unknown"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_trusted_proxies(value: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) from the setting; raises ValueError naming the entry that is not one."""
    items = value.split(",") if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP network (CIDR such as 10.0.0.0/8 or an address)") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == network.version and ip in network for network in networks)


def client_address(request) -> str:
    """The client's IP address as text (`unknown` when the peer's address is missing or malformed)."""
    meta = getattr(request, "META", None)
    if meta is None:  # a DRF Request passes through to its HttpRequest's META too, but be explicit
        meta = request._request.META
    cached = meta.get("stratum.client_address")
    if cached is not None:
        return cached
    peer = _address(meta.get("REMOTE_ADDR") or "")
    networks = getattr(settings, "TRUSTED_PROXY_NETWORKS", ())
    result = str(peer) if peer is not None else UNKNOWN
    if peer is not None and networks and _trusted(peer, networks):
        hops = [hop for header in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if (hop := header.strip())]
        for hop in reversed(hops):
            ip = _address(hop)
            if ip is None:  # garbage from the far side: everything left of it is the client's own word
                break
            result = str(ip)
            if not _trusted(ip, networks):
                break
    meta["stratum.client_address"] = result
    return result
