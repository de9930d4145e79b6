"""PUT /v1/webhook-endpoint and the signed events a real receiving server on 127.0.0.1 gets."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from aiohttp import web

from tests.integration.apihelp import create, error_of
from tests.support import Harness, free_port
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, workflow_id

SECRET = "whsec_receiver_test_secret"


@dataclass
class Receiver:
    url: str = ""
    fail_first: int = 0  # answer this many deliveries with a 500
    seen: list[tuple[int, dict[str, object], str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        status = 500 if len(self.seen) < self.fail_first else 200
        self.seen.append((status, json.loads(raw), _verify(request, raw)))
        return web.Response(status=status)


def _verify(request: web.Request, raw: bytes) -> str:
    parts = dict(p.split("=", 1) for p in request.headers["Payreq-Signature"].split(","))
    expected = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + raw, hashlib.sha256)
    assert abs(time.time() - int(parts["t"])) < 600
    return "valid" if hmac.compare_digest(expected.hexdigest(), parts["v1"]) else "invalid"


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def test_put_generates_a_secret_once_and_validates_the_url(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    resp = await api.put("/v1/webhook-endpoint", json={"url": "https://localhost/hooks"})
    assert resp.status_code == 200, resp.text
    secret = resp.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    stored = await harness.pool.fetchrow("SELECT url, secret FROM webhook_endpoints")
    assert stored is not None
    assert (stored["url"], stored["secret"]) == ("https://localhost/hooks", secret)
    resp = await api.put(
        "/v1/webhook-endpoint", json={"url": "https://localhost:8443", "secret": SECRET}
    )
    assert resp.json()["secret"] is None
    assert await harness.pool.fetchval("SELECT secret FROM webhook_endpoints") == SECRET
    # Where a URL may point is tested in tests/security/test_ssrf.py (the test app allows
    # loopback, as `payreq dev` does, for its local receivers).
    for bad in ("ftp://x.example", "http://pms.example/hooks", "not a url", "https://"):
        resp = await api.put("/v1/webhook-endpoint", json={"url": bad})
        assert error_of(resp) == (422, "invalid_value", "url"), bad
    resp = await api.put(
        "/v1/webhook-endpoint", json={"url": "https://localhost:8443", "secret": "s"}
    )
    assert error_of(resp) == (422, "invalid_value", "secret")


async def test_payment_events_arrive_signed_with_stable_ids_and_a_500_is_retried(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with receiving(Receiver(fail_first=1)) as receiver, harness.worker():
        put = {"url": receiver.url, "secret": SECRET}
        assert (await api.put("/v1/webhook-endpoint", json=put)).status_code == 200
        rid = (await create(api, amount=12000))["id"]
        handle = harness.client.get_workflow_handle(workflow_id(rid))
        await handle.signal(
            PaymentRequestWorkflow.payment_received,
            PaymentReceived(payment_id="pi_wh", amount=12000, method="visa", at=datetime.now(UTC)),
        )
        # The request completes once its deliveries are done; waiting on it lets the test
        # server skip the retry's backoff.
        await handle.result()
        ids = [r["id"] for r in await harness.pool.fetch("SELECT id FROM outbound_events")]
    delivered = [(s, body) for s, body, sig in receiver.seen if s == 200 and sig == "valid"]
    types = sorted(str(body["type"]) for _, body in delivered)
    assert types == ["payment.succeeded", "payment_request.paid"]
    assert all(sig == "valid" for _, _, sig in receiver.seen)
    failed = [body for s, body, _ in receiver.seen if s == 500]
    assert len(failed) == 1 and failed[0]["id"] in {b["id"] for _, b in delivered}
    assert sorted(str(b["id"]) for _, b in delivered) == sorted(ids)
    paid = next(b for _, b in delivered if b["type"] == "payment_request.paid")
    assert paid["data"]["payment_request_id"] == rid  # type: ignore[index]
    attempts = await harness.pool.fetchval(
        "SELECT max(attempts) FROM outbound_events WHERE delivered_at IS NOT NULL"
    )
    assert attempts == 2
