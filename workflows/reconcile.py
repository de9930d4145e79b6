"""ReconcileWorkflow: a missed Stripe webhook never loses a payment.

Started by a Temporal Schedule (every RECONCILE_INTERVAL; see activities/reconcile.py for the
schedule and the work). The one activity lists the money events (payments, refunds, disputes)
Stripe reports since the stored watermark of each account and receives each one by the same
path as the webhook: an event already received is a duplicate, the workflow de-duplicates by
PaymentIntent id, and a closed request's payment is refunded.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.types import ReconcileInput, ReconcileResult

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities

RECONCILE_TIMEOUT = timedelta(minutes=10)
RECONCILE_HEARTBEAT = timedelta(minutes=1)
RECONCILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,  # the next scheduled run starts over from the watermark anyway
)


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, inp: ReconcileInput) -> ReconcileResult:
        return await workflow.execute_activity_method(
            ReconcileActivities.reconcile_payments,
            inp,
            start_to_close_timeout=RECONCILE_TIMEOUT,
            heartbeat_timeout=RECONCILE_HEARTBEAT,
            retry_policy=RECONCILE_RETRY,
        )
