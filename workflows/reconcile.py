"""ReconcileWorkflow: a missed Stripe webhook never loses a payment.

Started by a Temporal Schedule (every RECONCILE_INTERVAL; see activities/reconcile.py for the
schedule and the work). The one activity lists the money events (payments, refunds, disputes)
Stripe reports since the stored watermark of each account and receives each one by the same
path as the webhook: an event already received is a duplicate, the workflow de-duplicates by
PaymentIntent id, and a closed request's payment is refunded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

RECONCILE_INTERVAL = timedelta(minutes=15)
RECONCILE_TIMEOUT = timedelta(minutes=10)
RECONCILE_HEARTBEAT = timedelta(minutes=1)
RECONCILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,  # the next scheduled run starts over from the watermark anyway
)


@dataclass(frozen=True, kw_only=True)
class ReconcileInput:
    overlap_seconds: int = 600  # re-read this much before the watermark
    first_run_lookback_seconds: int = 3 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class ReconcileResult:
    seen: int  # money events Stripe listed (every account)
    handed_on: int  # not received before: signalled (or recorded, if their request had closed)
    watermark: int  # unix seconds of the newest event seen on the platform account


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileResult:
        result: ReconcileResult = await workflow.execute_activity(
            "reconcile_payments",
            inp,
            result_type=ReconcileResult,
            start_to_close_timeout=RECONCILE_TIMEOUT,
            heartbeat_timeout=RECONCILE_HEARTBEAT,
            retry_policy=RECONCILE_RETRY,
        )
        return result
