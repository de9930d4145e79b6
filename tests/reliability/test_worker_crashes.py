"""Worker crashes: requests in flight with payments and emails while the worker process is
SIGKILLed at random instants and started again. Every request ends paid with the right
balance; every email arrives; a kill sends at most one duplicate, with the same Message-ID."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter

from tests.reliability.stack import (
    Stack,
    create_request,
    deliver_until_acknowledged,
    payment_event,
    size,
    wait_for,
)

AMOUNT = 10_000
PAYMENTS = (4_000, 6_000)
EMAILS_PER_REQUEST = 3  # the request, "payment received" after the first, the receipt


async def test_worker_killed_at_random_instants_loses_and_doubles_nothing(stack: Stack) -> None:
    requests = size(12, 200)
    kills = size(2, 20)
    rng = random.Random(11)
    pool = stack.pool
    assert pool is not None
    started = time.perf_counter()
    async with stack.http() as http:

        async def lifecycle(n: int) -> str:
            await asyncio.sleep(rng.uniform(0, size(4, 40)))  # arrivals spread over the kills
            request_id = await create_request(http, n, AMOUNT, f"patient{n}@example.com")
            for amount in PAYMENTS:
                pid = f"pi_{uuid.uuid4().hex[:20]}"
                await deliver_until_acknowledged(
                    http, payment_event(stack, request_id, pid, amount)
                )
                await asyncio.sleep(rng.uniform(0, 1))
            return request_id

        async def killer() -> None:
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.5, size(3, 4)))
                stack.kill_worker()
                await asyncio.sleep(rng.uniform(0, 1))
                stack.start_worker()

        lifecycles = asyncio.gather(*(lifecycle(n) for n in range(requests)))
        _, ids = await asyncio.gather(killer(), lifecycles)

    async def all_done() -> bool:
        paid = await pool.fetchval(
            "SELECT count(*) FROM payment_requests WHERE id = ANY($1) AND status = 'paid'"
            " AND amount_paid = $2 AND amount_remaining = 0",
            ids,
            AMOUNT,
        )
        distinct = len({m.message["Message-ID"] for m in stack.smtp.messages})
        return paid == len(ids) and distinct == EMAILS_PER_REQUEST * len(ids)

    try:
        # an email activity caught by a kill is retried only when its start-to-close timeout
        # (2 minutes) runs out: the server cannot tell a dead worker from a slow one
        await wait_for(all_done, timeout=size(200, 600), interval=1)
    finally:
        ids_seen = Counter(m.message["Message-ID"] for m in stack.smtp.messages)
        duplicates = sum(c - 1 for c in ids_seen.values())
        print(
            f"\nworker crashes: {len(ids)} requests, {kills} SIGKILLs ({stack.worker_starts} "
            f"worker starts); {len(stack.smtp.messages)} emails, {len(ids_seen)} distinct, "
            f"{duplicates} duplicates; all settled after {time.perf_counter() - started:.1f}s"
        )
    rows = await pool.fetch(
        "SELECT payment_request_id, count(*) AS n, sum(applied_amount) AS applied"
        " FROM payments WHERE payment_request_id = ANY($1) GROUP BY 1",
        ids,
    )
    assert {(r["n"], r["applied"]) for r in rows} == {(len(PAYMENTS), AMOUNT)}
    assert len(rows) == len(ids)
    assert duplicates <= kills
    deliveries = await pool.fetch(
        "SELECT message_id, status FROM email_deliveries WHERE payment_request_id = ANY($1)", ids
    )
    # A kill between the server's 250 and the record leaves the row 'sending' until the
    # activity's retry (after its 2-minute start-to-close timeout) records it: such a message
    # has arrived, and its duplicate, if any, will carry the same Message-ID.
    assert {r["status"] for r in deliveries} <= {"accepted", "sending"}
    assert set(ids_seen) == {r["message_id"] for r in deliveries}
