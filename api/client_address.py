"""The client's address, honouring X-Forwarded-For only from the proxies in TRUSTED_PROXIES.

Each proxy appends the address it received the connection from, so the right end of the
header is what the trusted proxies wrote and the left end is whatever the client sent. The
client is the right-most address that is not a trusted proxy: anything a client puts in the
header itself sits to the left of that and is ignored, so rotating it changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7` → networks; ValueError naming the bad entry."""
    networks = []
    for part in (p.strip() for p in value.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not an address or CIDR: {part!r}") from None
    return tuple(networks)


def is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """`peer` is the socket's address; `forwarded_for` every X-Forwarded-For header, in order."""
    if not is_trusted(peer, proxies):
        return peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer  # every hop is a proxy: the first one is the client
