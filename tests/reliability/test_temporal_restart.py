"""Temporal restart: the dev server (on its SQLite file) stopped and started in the middle of a
run with timers pending and signals in flight. Webhooks that arrive while it is down are
answered 5xx and applied when redelivered; each request's reminder and expiry timers still
fire at their instants."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from tests.reliability.stack import (
    Stack,
    deliver_until_acknowledged,
    payment_event,
    size,
    wait_for,
)
from workflows.payment_request import PaymentRequestWorkflow
from workflows.schedule import reminder_spread
from workflows.types import Empty, PaymentRequestInput, ReminderPolicy, workflow_id

AMOUNT = 10_000
FIRST, SECOND = 3_000, 2_000
EXPIRES_IN_DAYS = 60
EXPIRY_AFTER_REMINDER = timedelta(seconds=15)
LATE_TOLERANCE_SECONDS = 30  # a timer is "at its instant" when it fires this close to it


def reminder_instant(now: datetime, lead: timedelta) -> datetime:
    """The next whole minute at least `lead` ahead (reminders are set to the minute) whose
    date is the same as 15 s later's."""
    at = (now + lead).replace(second=0, microsecond=0) + timedelta(minutes=1)
    while (at + EXPIRY_AFTER_REMINDER).date() != at.date():
        at += timedelta(minutes=1)
    return at


def id_reminded_on_the_minute() -> str:
    """An id whose own reminder offset (workflows/schedule.py) is under 2 s, so its reminder
    is due at `reminder_at` and before the expiry 15 s later (one id in 150 qualifies)."""
    while True:
        request_id = f"pr_{uuid.uuid4().hex[:16]}"
        if reminder_spread(request_id) < timedelta(seconds=2):
            return request_id


def request_input(stack: Stack, n: int, reminder_at: datetime) -> PaymentRequestInput:
    """Made `EXPIRES_IN_DAYS` days ago (less 15 s after the reminder), with one reminder on
    day 60 at `reminder_at`'s minute: the reminder is due at `reminder_at`, the expiry 15 s
    later."""
    return PaymentRequestInput(
        request_id=id_reminded_on_the_minute(),
        practice_id=stack.practice_id,
        patient_id=f"pt_{n:03d}",
        first_name="Maria",
        last_name="Lopez",
        facility_id="fac_1",
        facility_name="Downtown Clinic",
        emails=(f"patient{n}@example.com",),
        amount=AMOUNT,
        created_at=reminder_at + EXPIRY_AFTER_REMINDER - timedelta(days=EXPIRES_IN_DAYS),
        policy=ReminderPolicy(
            reminder_days=(EXPIRES_IN_DAYS,),
            expires_in_days=EXPIRES_IN_DAYS,
            timezone="UTC",
            send_hour=reminder_at.hour,
            send_minute=reminder_at.minute,
            weekends_allowed=True,
        ),
    )


async def start(stack: Stack, inp: PaymentRequestInput) -> None:
    assert stack.client is not None
    op = WithStartWorkflowOperation(
        PaymentRequestWorkflow.run,
        inp,
        id=workflow_id(inp.request_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=stack.task_queue,
    )
    await stack.client.execute_update_with_start_workflow(
        PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
    )


async def test_temporal_restart_resumes_timers_and_signals(stack: Stack) -> None:
    requests = size(15, 100)
    downtime = size(8, 30)
    pool = stack.pool
    assert pool is not None
    reminder_at = reminder_instant(datetime.now(UTC), timedelta(seconds=downtime + 12))
    inputs = [request_input(stack, n, reminder_at) for n in range(requests)]
    await asyncio.gather(*(start(stack, i) for i in inputs))
    async with stack.http() as http:
        first = [
            payment_event(stack, i.request_id, f"pi_{uuid.uuid4().hex[:20]}", FIRST) for i in inputs
        ]
        second = [
            payment_event(stack, i.request_id, f"pi_{uuid.uuid4().hex[:20]}", SECOND)
            for i in inputs
        ]
        await asyncio.gather(*(deliver_until_acknowledged(http, b) for b in first))
        stack.stop_temporal()  # signals just handed over are still to be processed
        stopped = time.perf_counter()
        during = asyncio.gather(*(deliver_until_acknowledged(http, b, pause=1.0) for b in second))
        await asyncio.sleep(downtime)
        await stack.start_temporal()
        down_for = time.perf_counter() - stopped
        refused = sum(await during)

    ids = [i.request_id for i in inputs]

    async def all_expired() -> bool:
        n = await pool.fetchval(
            "SELECT count(*) FROM payment_requests WHERE id = ANY($1) AND status = 'expired'"
            " AND amount_paid = $2",
            ids,
            FIRST + SECOND,
        )
        return bool(n == len(ids))

    await wait_for(all_expired, timeout=(reminder_at - datetime.now(UTC)).total_seconds() + 90)
    reminders = await pool.fetch(
        "SELECT payment_request_id, created_at FROM email_deliveries"
        " WHERE payment_request_id = ANY($1) AND kind = 'reminder' AND status = 'accepted'",
        ids,
    )
    expiries = await pool.fetch(
        "SELECT payment_request_id, at FROM request_events"
        " WHERE payment_request_id = ANY($1) AND type = 'expired'",
        ids,
    )
    expires_at = reminder_at + EXPIRY_AFTER_REMINDER
    reminder_late = [(r["created_at"] - reminder_at).total_seconds() for r in reminders]
    expiry_late = [(e["at"] - expires_at).total_seconds() for e in expiries]
    print(
        f"\ntemporal restart: {requests} requests; dev server down {down_for:.1f}s; "
        f"{refused} webhook deliveries answered 5xx while down, all applied after; reminders "
        f"fired {min(reminder_late):.1f}..{max(reminder_late):.1f}s after their instant, "
        f"expiries {min(expiry_late):.1f}..{max(expiry_late):.1f}s after theirs"
    )
    assert refused > 0  # deliveries while down were refused (or held until it was back)
    assert sorted(r["payment_request_id"] for r in reminders) == sorted(ids)
    assert sorted(e["payment_request_id"] for e in expiries) == sorted(ids)
    assert all(0 <= s < LATE_TOLERANCE_SECONDS for s in reminder_late + expiry_late)
    applied = await pool.fetchval(
        "SELECT count(*) FROM payments WHERE payment_request_id = ANY($1)"
        " AND applied_amount = amount",
        ids,
    )
    assert applied == 2 * len(ids)
