"""Reconciliation with Stripe: the schedule that runs ReconcileWorkflow, and its activity.

Stripe's event list is the source, per account (the platform's own and each practice's
connected account): every event that moves money (payments, refunds including failed ones,
disputes and their outcomes) created since that account's watermark (less an overlap), each
received exactly as a webhook delivery is (an event the webhook already handled is a
duplicate). Unlike listing PaymentIntents by creation time, it also catches a payment created
before the watermark that succeeded after it, and Stripe keeps events for 30 days, far longer
than the 15 minutes between runs.
"""

from __future__ import annotations

import time
from datetime import timedelta

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

from payreq.stripe.client import log_failure, options
from payreq.stripe.events import MONEY_EVENTS, Outcome
from payreq.stripe.inbox import StripeInbox, receive
from workflows.types import ReconcileInput, ReconcileResult

RECONCILE_INTERVAL = timedelta(minutes=15)
SCHEDULE_ID = "reconcile-stripe-payments"
WATERMARK_NAME = "stripe-payments"
PAGE_SIZE = 100
HANDED_ON: tuple[Outcome, ...] = ("signalled", "refunded_after_close", "recorded_after_close")


async def ensure_reconcile_schedule(
    client: Client, task_queue: str, every: timedelta = RECONCILE_INTERVAL
) -> None:
    """Create the schedule, or bring an existing one up to date: safe at every worker start."""
    # Imported here: the workflow module imports this one for its activity class.
    from workflows.reconcile import ReconcileWorkflow

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
        """Every account in turn: the platform's own, then each practice's connected one."""
        inbox = StripeInbox(activity.client(), self._stripe)
        seen = handed = 0
        watermark = 0
        for account in [None, *await self._accounts()]:
            s, h, newest = await self._reconcile_account(inbox, inp, account)
            seen, handed = seen + s, handed + h
            watermark = newest if account is None else watermark
        return ReconcileResult(seen=seen, handed_on=handed, watermark=watermark)

    async def _reconcile_account(
        self, inbox: StripeInbox, inp: ReconcileInput, account: str | None
    ) -> tuple[int, int, int]:
        name = WATERMARK_NAME if account is None else f"{WATERMARK_NAME}:{account}"
        stored = await self._pool.fetchval(
            "SELECT last_created FROM reconcile_watermarks WHERE name = $1", name
        )
        since = stored if stored is not None else int(time.time()) - inp.first_run_lookback_seconds
        newest, seen, handed = since, 0, 0
        try:
            page = await self._stripe.v1.events.list_async(
                {
                    "types": list(MONEY_EVENTS),
                    "created": {"gte": since - inp.overlap_seconds},
                    "limit": PAGE_SIZE,
                },
                options(account),
            )
            async for event in page.auto_paging_iter():
                data = event.to_dict()
                seen += 1
                activity.heartbeat(seen)
                newest = max(newest, int(data["created"]))
                handled = await receive(self._pool, inbox, data)
                handed += handled.outcome in HANDED_ON
        except stripe.StripeError as exc:
            log_failure("event list", exc, account)
            raise
        await self._pool.execute(_WATERMARK, name, newest)
        return seen, handed, newest

    async def _accounts(self) -> list[str]:
        rows = await self._pool.fetch(
            """SELECT stripe_account_id FROM practices WHERE stripe_account_id IS NOT NULL
               UNION SELECT stripe_account_id FROM stripe_payment_intents
               WHERE stripe_account_id IS NOT NULL ORDER BY 1"""
        )
        return [r["stripe_account_id"] for r in rows]


_WATERMARK = """INSERT INTO reconcile_watermarks AS w (name, last_created) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET updated_at = now(),
    last_created = GREATEST(w.last_created, EXCLUDED.last_created)"""
