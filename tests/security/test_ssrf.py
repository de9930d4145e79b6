"""Item 1: SSRF through the practice's webhook URL. Every form below is refused at
registration (PUT /v1/webhook-endpoint, 422 naming `url`) and again by the worker's transport
at connect time, which also pins the checked address while verifying the certificate for the
name, follows no redirect and gives up on a slow endpoint."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from activities.webhooks import WebhookActivities
from payreq.egress import SafeTransport, safe_client
from tests.integration.apihelp import error_of
from tests.integration.test_email_tls import certificate, server_context
from tests.support import Harness, free_port
from workflows.types import DeliverEventsInput

__all__ = ["certificate"]  # the module-scoped fixture, shared with the SMTP TLS tests

HOSTS = [
    # loopback, private, link-local (cloud metadata), CGNAT, unspecified, multicast, reserved
    "127.0.0.1", "127.1.2.3", "10.0.0.5:6443", "172.16.0.1", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "192.0.0.8",
    # other spellings of IPv4 addresses
    "2852039166", "0xa9fea9fe", "0xA9.0xFE.0xA9.0xFE", "0251.0376.0251.0376", "169.254.43518",
    "169.16689662", "127.1", "0177.0.0.1", "017700000001", "0x7f000001", "0", "127.0.0.1.",
    # IPv6, and IPv6 forms that carry an IPv4 address
    "[::1]", "[::]", "[::ffff:a9fe:a9fe]", "[::ffff:169.254.169.254]", "[::ffff:127.0.0.1]",
    "[::a9fe:a9fe]", "[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a9fe:a9fe]",
    "[2002:a9fe:a9fe::]", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[::ffff:8.8.8.8]",
    "[fe80::1]", "[fe80::1%25eth0]", "[fc00::1]", "[fd00:ec2::254]", "[fec0::1]", "[ff02::1]",
    "[2001:db8::1]",
    # names that mean something only inside a network, or resolve to nothing
    "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "kubernetes",
    "metadata.google.internal", "localhost", "api.localhost", "printer.local", "nas.home.arpa",
    "1.0.0.127.in-addr.arpa", "no-such-host.invalid", "example.com@127.0.0.1",
]  # fmt: skip
URLS = [f"https://{host}/hooks" for host in HOSTS] + [
    "http://127.0.0.1:9999/anything",
    "http://pms.example.com/hooks",
    "ftp://pms.example.com/hooks",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "https://user:pw@pms.example.com/hooks",
]


async def test_every_form_is_refused_at_registration(prod_api: httpx.AsyncClient) -> None:
    accepted = []
    for url in URLS:
        resp = await prod_api.put("/v1/webhook-endpoint", json={"url": url})
        if resp.status_code != 422 or error_of(resp) != (422, "invalid_value", "url"):
            accepted.append(url)
    print(f"{len(URLS)} address forms refused at registration")
    assert accepted == []
    assert len(URLS) == 64


async def test_every_form_is_refused_at_connect_time(harness: Harness) -> None:
    async with safe_client(allow_loopback=False, timeout=5) as http:
        activities = WebhookActivities(harness.pool, http)
        outcomes = {url: await activities._post(url, b"{}", {}) for url in URLS}
    sent = {u: o for u, o in outcomes.items() if not (o or "").startswith("refused destination")}
    assert sent == {}


@asynccontextmanager
async def receiver(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def _endpoint_with_event(harness: Harness, url: str) -> str:
    """A stored endpoint (as if registered before the rules, or its name re-pointed since)."""
    await harness.pool.execute(
        "INSERT INTO webhook_endpoints (practice_id, url, secret) VALUES ($1, $2, 'whsec_x')",
        harness.practice_id,
        url,
    )
    event_id = "evt_ssrf_1"
    await harness.pool.execute(
        """INSERT INTO outbound_events (id, practice_id, type, payload)
           VALUES ($1, $2, 'payment.succeeded', $3)""",
        event_id,
        harness.practice_id,
        json.dumps({"id": event_id}),
    )
    return event_id


async def test_the_worker_refuses_a_stored_loopback_url_at_connect_time(harness: Harness) -> None:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response()

    async with receiver(handle) as port:
        event_id = await _endpoint_with_event(harness, f"http://localhost:{port}/admin")
        async with safe_client(allow_loopback=False, timeout=5) as http:
            activities = WebhookActivities(harness.pool, http)
            with pytest.raises(Exception, match="refused destination"):
                await activities.deliver_events(DeliverEventsInput(event_ids=(event_id,)))
    assert seen == []
    row = await harness.pool.fetchrow("SELECT * FROM outbound_events WHERE id = $1", event_id)
    assert row is not None
    assert row["delivered_at"] is None and "refused destination" in row["last_error"]


async def test_pinned_address_keeps_the_name_for_host_sni_and_certificate(
    certificate: tuple[Path, Path],
) -> None:
    hosts: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hosts.append(request.host)
        return web.Response(text="ok")

    trust = ssl.create_default_context(cafile=str(certificate[0]))
    async with receiver(handle, server_context(certificate)) as port:
        transport = SafeTransport(allow_loopback=True, verify=trust)
        async with httpx.AsyncClient(transport=transport) as client:
            resp = await client.post(f"https://localhost:{port}/hooks", content=b"{}")
            assert resp.status_code == 200
            # The certificate names localhost and 127.0.0.1, not this name: refused.
            with pytest.raises(httpx.ConnectError):
                await client.post(
                    f"https://127.0.0.1:{port}/hooks",
                    content=b"{}",
                    extensions={"sni_hostname": "evil.example"},
                )
    assert hosts == [f"localhost:{port}"]


async def test_no_redirect_is_followed_and_a_slow_endpoint_is_cut_off(harness: Harness) -> None:
    seen: list[str] = []
    release = asyncio.Event()  # the slow answer never comes while the client waits

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        if request.path == "/slow":
            await release.wait()
        raise web.HTTPTemporaryRedirect("/internal")

    async with receiver(handle) as port, safe_client(allow_loopback=True, timeout=60) as http:
        activities = WebhookActivities(harness.pool, http, deadline_seconds=0.5)
        assert await activities._post(f"http://127.0.0.1:{port}/hooks", b"{}", {}) == "HTTP 307"
        started = time.monotonic()
        try:
            assert await activities._post(f"http://127.0.0.1:{port}/slow", b"{}", {}) == (
                "timed out"
            )
            assert time.monotonic() - started < 2
        finally:
            release.set()  # the receiver stops at once, also when an assertion failed
    assert seen == ["/hooks", "/slow"]
