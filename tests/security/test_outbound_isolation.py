"""Item 7: one practice's endpoint that hangs cannot delay another practice's email: deliveries
run on their own task queue with bounded concurrency, apart from emails and refunds."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from aiohttp import web

from tests.integration.pay_helpers import start_request
from tests.security.test_ssrf import receiver
from tests.support import Harness, eventually, seed_practice
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, workflow_id

HANGING_REQUESTS = 8
MAIN_SLOTS, DELIVERY_SLOTS = 4, 3


async def test_a_hanging_endpoint_does_not_delay_another_practices_email(
    harness: Harness,
) -> None:
    release = asyncio.Event()
    in_flight, peak = 0, 0

    async def hang(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        return web.Response()

    async with (
        receiver(hang) as port,
        harness.worker(
            max_concurrent_activities=MAIN_SLOTS, outbound_max_concurrent=DELIVERY_SLOTS
        ),
    ):
        await harness.pool.execute(
            "INSERT INTO webhook_endpoints (practice_id, url, secret) VALUES ($1, $2, 'whsec_x')",
            harness.practice_id,
            f"http://127.0.0.1:{port}/hooks",
        )
        for n in range(HANGING_REQUESTS):
            request_id, _ = await start_request(harness)
            await harness.client.get_workflow_handle(workflow_id(request_id)).signal(
                PaymentRequestWorkflow.payment_received,
                PaymentReceived(
                    payment_id=f"pi_{n}", amount=12000, method="visa", at=datetime.now(UTC)
                ),
            )
        await eventually(lambda: in_flight >= DELIVERY_SLOTS, timeout=20)
        other, _ = await seed_practice(harness.pool, "Other Clinic")
        started = time.monotonic()
        await start_request(harness, practice_id=other, emails=("other@example.com",))
        await eventually(lambda: harness.smtp.to("other@example.com"), timeout=20)
        email_seconds = time.monotonic() - started
        release.set()
    print(f"other practice's email after {email_seconds:.2f}s; deliveries in flight peak {peak}")
    assert email_seconds < 5  # on one shared queue it waited 9.7 s for the hanging deliveries
    assert peak == DELIVERY_SLOTS  # bounded, however many requests wait to deliver
