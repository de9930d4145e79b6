"""Webhook storm: signed Stripe deliveries with duplicates and out-of-order refunds, 50 at a
time, against the real API, worker, Temporal dev server and Postgres. The expected balance of
every request is computed here, from the events alone, and compared with the read model."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

from tests.reliability.stack import (
    Stack,
    create_request,
    deliver,
    payment_event,
    refund_event,
    size,
    wait_for,
)

CONCURRENCY = 50
DUPLICATE_SHARE = 0.30
OUT_OF_ORDER_SHARE = 0.20


@dataclass
class Expected:
    request_id: str
    requested: int
    payments: dict[str, int] = field(default_factory=dict)  # payment id -> amount
    refunded: dict[str, int] = field(default_factory=dict)  # payment id -> final cumulative

    @property
    def paid(self) -> int:
        return sum(a - self.refunded.get(p, 0) for p, a in self.payments.items())

    @property
    def status(self) -> str:
        if self.paid >= self.requested:
            return "paid"
        return "partially_paid" if self.paid else "sent"


def plan(rng: random.Random, stack: Stack, exp: Expected) -> list[tuple[str, bytes]]:
    """The unique events of one request, in the order Stripe would make them. Requests with
    refunds are never paid in full, so the final state does not depend on delivery order."""
    with_refunds = rng.random() < 0.5
    count = rng.randint(2, 5)
    budget = exp.requested - (count if with_refunds else 0)
    cuts = sorted(rng.sample(range(1, budget), count - 1)) if count > 1 else []
    amounts = [b - a for a, b in zip([0, *cuts], [*cuts, budget], strict=True)]
    events: list[tuple[str, bytes]] = []
    for amount in amounts:
        pid = f"pi_{uuid.uuid4().hex[:20]}"
        exp.payments[pid] = amount
        events.append(("payment", payment_event(stack, exp.request_id, pid, amount)))
        if with_refunds:
            cumulative = 0
            for _ in range(rng.randint(1, 3)):
                if cumulative == amount:
                    break
                cumulative = rng.randint(cumulative + 1, amount)
                body = refund_event(stack, exp.request_id, pid, amount, cumulative)
                events.append(("refund", body))
            exp.refunded[pid] = cumulative
    return events


def storm(rng: random.Random, unique: list[tuple[str, bytes]], deliveries: int) -> list[bytes]:
    """20% of the events moved out of order (every refund that moves goes before its
    payment), then duplicates until 30% of the deliveries are repeats."""
    order = list(unique)
    moved = rng.sample(range(len(order)), int(len(order) * OUT_OF_ORDER_SHARE))
    for i in sorted(moved, reverse=True):
        item = order.pop(i)
        order.insert(rng.randint(0, max(0, i - 1)), item)
    bodies = [b for _, b in order]
    while len(bodies) < deliveries:
        bodies.insert(rng.randint(0, len(bodies)), rng.choice(bodies[: max(1, len(bodies))]))
    return bodies


async def test_webhook_storm_applies_every_event_once(stack: Stack) -> None:
    requests = size(20, 100)
    deliveries = size(200, 1000)
    rng = random.Random(7)
    async with stack.http() as http:
        ids = await asyncio.gather(
            *(
                create_request(http, n, rng.randint(5000, 30000), "p@example.com")
                for n in range(requests)
            )
        )
        rows = await stack.pool.fetch(  # type: ignore[union-attr]
            "SELECT id, amount_requested FROM payment_requests WHERE id = ANY($1)", list(ids)
        )
        expected = {r["id"]: Expected(r["id"], r["amount_requested"]) for r in rows}
        unique: list[tuple[str, bytes]] = []
        for exp in expected.values():
            unique += plan(rng, stack, exp)
        deliveries = max(deliveries, round(len(unique) / (1 - DUPLICATE_SHARE)))
        bodies = storm(rng, unique, deliveries)
        refunds_first = _refunds_before_payment(bodies)

        sem = asyncio.Semaphore(CONCURRENCY)
        statuses: list[int] = []

        async def one(body: bytes) -> None:
            async with sem:
                status = await deliver(http, body)
                while status >= 500:  # Stripe redelivers what was not acknowledged
                    statuses.append(status)
                    await asyncio.sleep(0.5)
                    status = await deliver(http, body)
                statuses.append(status)

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        sent = time.perf_counter() - started

        async def settled() -> bool:
            got = await stack.pool.fetch(  # type: ignore[union-attr]
                "SELECT id, status, amount_paid, amount_remaining FROM payment_requests"
                " WHERE id = ANY($1)",
                list(ids),
            )
            return all(
                (g["status"], g["amount_paid"], g["amount_remaining"])
                == (
                    expected[g["id"]].status,
                    expected[g["id"]].paid,
                    max(0, expected[g["id"]].requested - expected[g["id"]].paid),
                )
                for g in got
            )

        try:
            await wait_for(settled, timeout=size(90, 300))
        finally:
            elapsed = time.perf_counter() - started
            print(
                f"\nwebhook storm: {requests} requests, {len(bodies)} deliveries "
                f"({len(unique)} unique events, {len(bodies) - len(unique)} duplicates, "
                f"{refunds_first} refunds delivered before their payment), {CONCURRENCY} at a "
                f"time: sent in {sent:.1f}s ({len(bodies) / sent:.0f}/s), all balances right "
                f"after {elapsed:.1f}s; answers {sorted(set(statuses))}, "
                f"{sum(s >= 500 for s in statuses)} 5xx redelivered"
            )

    pool = stack.pool
    assert pool is not None
    payments = await pool.fetch(
        "SELECT id, payment_request_id, amount, applied_amount, refunded_amount, status"
        " FROM payments WHERE payment_request_id = ANY($1)",
        list(ids),
    )
    by_id = {p["id"]: p for p in payments}
    all_expected = {pid: (e, a) for e in expected.values() for pid, a in e.payments.items()}
    assert by_id.keys() == all_expected.keys()
    for pid, (exp, amount) in all_expected.items():
        row = by_id[pid]
        refunded = exp.refunded.get(pid, 0)
        status = (
            "refunded" if refunded >= amount else "partially_refunded" if refunded else "succeeded"
        )
        assert (row["amount"], row["applied_amount"], row["refunded_amount"], row["status"]) == (
            amount,
            amount,
            refunded,
            status,
        ), pid
    applied_twice = await pool.fetchval(
        "SELECT count(*) FROM (SELECT detail FROM request_events WHERE type = 'payment_succeeded'"
        " AND payment_request_id = ANY($1) GROUP BY detail HAVING count(*) > 1) t",
        list(ids),
    )
    handled = await pool.fetchval("SELECT count(*) FROM stripe_events WHERE handled_at IS NOT NULL")
    print(f"payments applied twice: {applied_twice}; stripe events recorded: {handled}")
    assert applied_twice == 0
    assert handled == len(unique)
    assert refunds_first > 0


def _refunds_before_payment(bodies: list[bytes]) -> int:
    import json

    seen_payments: set[str] = set()
    early = 0
    for b in bodies:
        event = json.loads(b)
        obj = event["data"]["object"]
        if event["type"] == "payment_intent.succeeded":
            seen_payments.add(obj["id"])
        elif obj["payment_intent"] not in seen_payments:
            early += 1
    return early
