"""The client's address for rate limits: the TCP peer, or X-Forwarded-For behind a trusted proxy.

X-Forwarded-For is anyone's to write, so it is read only when the peer is one of
``TRUSTED_PROXIES``; then the rightmost hop that is not itself a trusted proxy is the client
(hops further left were written by the client and prove nothing).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from gateway.keys import SETTINGS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` ("10.0.0.1, 10.1.0.0/16") as networks (validated by Settings)."""
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in setting.split(",") if p.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: web.Request) -> str:
    """The address to count attempts against (``"unknown"`` when aiohttp has none)."""
    peer = request.remote or "unknown"
    networks = trusted_networks(request.app[SETTINGS].trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for value in request.headers.getall("X-Forwarded-For", []) for h in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed header: count against the proxy rather than trust garbage
        if not _trusted(hop, networks):
            return hop
    return peer
