"""Reconciliation with Stripe: the schedule that runs ReconcileWorkflow, and its activity.

Stripe's event list is the source: `payment_intent.succeeded` events created since the stored
watermark (less an overlap). Unlike listing PaymentIntents by creation time, it also catches a
payment created before the watermark that succeeded after it (a processing one), and Stripe
keeps events for 30 days, far longer than the 15 minutes between runs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
import stripe
from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from payreq.stripe_inbox import StripeInbox
from workflows.reconcile import (
    RECONCILE_INTERVAL,
    ReconcileInput,
    ReconcileResult,
    ReconcileWorkflow,
)
from workflows.types import PaymentStatus

SCHEDULE_ID = "reconcile-stripe-payments"
WATERMARK_NAME = "stripe-payments"
PAGE_SIZE = 100
APPLIED = ("succeeded", "refunded", "partially_refunded", "disputed")


async def ensure_reconcile_schedule(
    client: Client, task_queue: str, every: timedelta = RECONCILE_INTERVAL
) -> None:
    """Create the schedule, or bring an existing one up to date: safe at every worker start."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run, ReconcileInput(), id=f"{SCHEDULE_ID}-run", task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(update)


class ReconcileActivities:
    def __init__(self, pool: asyncpg.Pool, client: stripe.StripeClient) -> None:
        self._pool = pool
        self._stripe = client

    @activity.defn(name="reconcile_payments")
    async def reconcile_payments(self, inp: ReconcileInput) -> ReconcileResult:
        inbox = StripeInbox(activity.client(), self._stripe)
        stored = await self._pool.fetchval(
            "SELECT last_created FROM reconcile_watermarks WHERE name = $1", WATERMARK_NAME
        )
        since = stored if stored is not None else int(time.time()) - inp.first_run_lookback_seconds
        newest, seen, handed = since, 0, 0
        page = await self._stripe.v1.events.list_async(
            {
                "type": "payment_intent.succeeded",
                "created": {"gte": since - inp.overlap_seconds},
                "limit": PAGE_SIZE,
            }
        )
        async for event in page.auto_paging_iter():
            data = event.to_dict()
            seen += 1
            activity.heartbeat(seen)
            newest = max(newest, int(data["created"]))
            intent = data["data"]["object"]
            if not (intent.get("metadata") or {}).get("payment_request_id"):
                continue  # not created by this service
            if await self._already_applied(intent["id"]):
                continue
            at = datetime.fromtimestamp(int(data["created"]), UTC)
            async with self._pool.acquire() as conn:
                handled = await inbox.payment(conn, intent, PaymentStatus.SUCCEEDED, at)
            handed += handled.outcome in ("signalled", "refunded_after_close")
        await self._pool.execute(
            """INSERT INTO reconcile_watermarks AS w (name, last_created) VALUES ($1, $2)
               ON CONFLICT (name) DO UPDATE SET updated_at = now(),
                   last_created = GREATEST(w.last_created, EXCLUDED.last_created)""",
            WATERMARK_NAME,
            newest,
        )
        return ReconcileResult(seen=seen, handed_on=handed, watermark=newest)

    async def _already_applied(self, payment_id: str) -> bool:
        status = await self._pool.fetchval("SELECT status FROM payments WHERE id = $1", payment_id)
        return status in APPLIED
