"""Outbound HTTP to URLs a practice chose (its webhook endpoint), to public addresses only.

A URL is checked twice: at registration (`check_destination`), and at every connection
(`SafeTransport`), which resolves the name, refuses it unless every address is public, and
connects to the address it checked, keeping the name for the Host header, SNI and certificate
verification. A name that resolves publicly at registration and privately later (DNS
rebinding) is therefore refused too. Loopback is allowed only with WEBHOOK_ALLOW_LOOPBACK
(`payreq dev` and the tests; never production).

Address rules use the standard library's `ipaddress` properties; the packages that wrap httpx
for this (drawbridge, egressweave) are young single-author releases, so the hook is ours.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_SECONDS = 5.0
# Names that only mean something inside a network (Kubernetes services, mDNS, cloud metadata).
INTERNAL_SUFFIXES = (
    ".localhost", ".local", ".internal", ".svc", ".cluster.local", ".home.arpa", ".lan",
    ".intranet", ".corp", ".localdomain", ".arpa",
)  # fmt: skip
# IPv6 ranges that carry (or translate to) an IPv4 address: refused whatever they embed.
TRANSLATION_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)
# IANA special-purpose blocks that Python 3.11's is_global still counts as global.
SPECIAL_V4_NETS = tuple(ipaddress.ip_network(n) for n in ("192.0.0.0/24", "192.88.99.0/24"))
# WHATWG: a host whose last label is a number is an IPv4 address in some spelling (decimal,
# hex, octal, short forms); only the dotted-decimal spelling is accepted.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class UnsafeDestination(ValueError):
    """The URL may not be called; the message says why (no secret in it)."""


def address_allowed(addr: IPAddress, *, allow_loopback: bool = False) -> bool:
    if addr.is_loopback:
        return allow_loopback
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id or addr.is_site_local or any(addr in n for n in TRANSLATION_NETS):
            return False
    elif any(addr in n for n in SPECIAL_V4_NETS):
        return False
    return addr.is_global and not (addr.is_multicast or addr.is_reserved or addr.is_unspecified)


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names literally, or None for a domain name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]) or ":" in host:
        raise UnsafeDestination("IP addresses must be written as four decimal numbers")
    return None


def check_url(url: str, *, allow_loopback: bool = False) -> tuple[str, int]:
    """(host, port) of a URL that may be called, judged without DNS."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower().rstrip("."), parts.port
    except ValueError:
        raise UnsafeDestination("not a valid URL") from None
    if not host or parts.username is not None or parts.password is not None:
        raise UnsafeDestination("give an https:// URL with a host name and no user name")
    literal = ip_literal(host)
    loopback = host == "localhost" or (literal is not None and literal.is_loopback)
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_loopback and loopback):
        raise UnsafeDestination("must be an https:// URL")
    if literal is not None:
        if not address_allowed(literal, allow_loopback=allow_loopback):
            raise UnsafeDestination("must be a public address")
    elif host == "localhost":
        if not allow_loopback:
            raise UnsafeDestination("must be a public host name")
    elif host.endswith(INTERNAL_SUFFIXES) or "." not in host:
        raise UnsafeDestination("must be a public host name")
    return host, port or (443 if parts.scheme == "https" else 80)


async def resolve_allowed(host: str, port: int, *, allow_loopback: bool = False) -> list[IPAddress]:
    """Every address of `host`, all of them allowed; UnsafeDestination otherwise."""
    literal = ip_literal(host)
    if literal is not None:
        found = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
            )
        except (OSError, TimeoutError, UnicodeError):
            raise UnsafeDestination("the host name does not resolve") from None
        found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found or not all(address_allowed(a, allow_loopback=allow_loopback) for a in found):
        raise UnsafeDestination("the host name resolves to a non-public address")
    return found


async def check_destination(url: str, *, allow_loopback: bool = False) -> None:
    host, port = check_url(url, allow_loopback=allow_loopback)
    await resolve_allowed(host, port, allow_loopback=allow_loopback)


class SafeTransport(httpx.AsyncBaseTransport):
    """Checks every request's destination, then sends it to the checked address."""

    def __init__(self, *, allow_loopback: bool = False, verify: ssl.SSLContext | bool = True):
        self._allow_loopback = allow_loopback
        # No connection reuse: a pooled connection would skip the next request's check.
        self._inner = httpx.AsyncHTTPTransport(
            verify=verify, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        try:
            host, port = check_url(url, allow_loopback=self._allow_loopback)
            addresses = await resolve_allowed(host, port, allow_loopback=self._allow_loopback)
        except UnsafeDestination as exc:
            raise httpx.ConnectError(f"refused destination: {exc}", request=request) from None
        extensions = dict(request.extensions)
        if ip_literal(host) is None and request.url.scheme == "https":
            extensions["sni_hostname"] = host  # certificate checked against the name
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(addresses[0])),
            headers=request.headers,  # Host stays the name
            stream=request.stream,
            extensions=extensions,
        )
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()


def safe_client(*, allow_loopback: bool, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=SafeTransport(allow_loopback=allow_loopback),
        timeout=timeout,
        follow_redirects=False,
    )
