"""Time travel: N requests through 60 days of reminders on the time-skipping server, with the
real worker, Postgres, SMTP and localstripe: every request sends its first email and its four
reminders, then expires. Reports the wall time."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from activities.email import SmtpConfig
from payreq.codec import Keyring
from payreq.practices import create_practice
from payreq.temporal import converter_for
from tests.bench.lifecycle import bounded
from tests.conftest import register_search_attributes
from tests.support import (
    BIN_DIR,
    PUBLIC_BASE_URL,
    TEST_PAYLOAD_KEY,
    RecordingHandler,
    stripe_client,
)
from worker import build_worker
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import Empty, PaymentRequestInput, ReminderPolicy, Status, workflow_id

TASK_QUEUE = "bench-time-travel"
SIMULATED_DAYS = 61
QUIET_SECONDS = 0.5


async def _quiesce(pool: asyncpg.Pool, handler: RecordingHandler) -> None:
    """Until no email and no read-model write has happened for QUIET_SECONDS: skipping time
    while activities run would time them out (see tests/support.py wait_idle)."""
    last: tuple[object, ...] = ()
    while True:
        now = (
            len(handler.messages),
            await pool.fetchval("SELECT max(version) + count(*) FROM payment_requests"),
            await pool.fetchval("SELECT sum(version) FROM payment_requests"),
        )
        if now == last:
            return
        last = now
        await asyncio.sleep(QUIET_SECONDS)


async def run_time_travel(
    database_url: str, smtp: SmtpConfig, handler: RecordingHandler, stripe_base: str, n: int
) -> dict[str, Any]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        test_server_existing_path=str(BIN_DIR / "temporal-test-server"),
    )
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=20)
    assert pool is not None
    sent_before = len(handler.messages)
    try:
        async with env, httpx.AsyncClient(timeout=5) as http:
            await register_search_attributes(env.client)
            async with pool.acquire() as conn:
                practice_id, _ = await create_practice(conn, "Time Travel Clinic")
            worker = build_worker(
                env.client,
                task_queue=TASK_QUEUE,
                pool=pool,
                smtp=smtp,
                stripe=stripe_client(stripe_base),
                public_base_url=PUBLIC_BASE_URL,
                http=http,
            )
            async with worker:
                started = time.perf_counter()

                async def one(i: int) -> str:
                    inp = PaymentRequestInput(
                        request_id=f"pr_{uuid.uuid4().hex[:16]}",
                        practice_id=practice_id,
                        patient_id=f"pt_{i:05d}",
                        first_name="Maria",
                        last_name="Lopez",
                        facility_id="fac_1",
                        facility_name="Downtown Clinic",
                        emails=(f"tt{i}@example.com",),
                        amount=12_000,
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
                    await env.client.execute_update_with_start_workflow(
                        PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
                    )
                    return inp.request_id

                ids = await bounded(n, one)
                created = time.perf_counter() - started
                for _ in range(SIMULATED_DAYS):  # a day at a time, each day's work done
                    await _quiesce(pool, handler)
                    await env.sleep(timedelta(days=1))
                await _quiesce(pool, handler)
                wall = time.perf_counter() - started
                rows = await pool.fetch(
                    "SELECT status, reminders_sent FROM payment_requests WHERE id = ANY($1)", ids
                )
    finally:
        await pool.close()
    expired = sum(1 for r in rows if r["status"] == Status.EXPIRED)
    reminders = sum(r["reminders_sent"] for r in rows)
    return {
        "requests": n,
        "simulated_days": SIMULATED_DAYS,
        "create_s": round(created, 2),
        "wall_s": round(wall, 2),
        "expired": expired,
        "reminders_sent": reminders,
        "emails_delivered": len(handler.messages) - sent_before,
    }
