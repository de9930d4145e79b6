"""Delivery of outbound events to the practice's webhook endpoint: the retry policy, and
DeliverEventWorkflow, one per event, which requests started before the outbound-delivery-v2
patch (workflows/payment_request.py): since then a request delivers each save's events in one
activity of its own. Kept registered for the workflows of the old kind still running."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.types import DeliverEventInput, DeliverEventResult


def outbound_task_queue(main: str) -> str:
    """The task queue of `deliver_events`, served by its own worker with bounded concurrency
    (WEBHOOK_MAX_CONCURRENT_DELIVERIES), so slow practice endpoints never hold the slots that
    emails, refunds and read-model writes use."""
    return f"{main}-outbound"


DELIVERY_ATTEMPT_TIMEOUT = timedelta(seconds=30)
DELIVERY_WINDOW = timedelta(days=4)  # the contract promises at least three days of retries
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)


@workflow.defn
class DeliverEventWorkflow:
    @workflow.run
    async def run(self, inp: DeliverEventInput) -> DeliverEventResult:
        try:
            return await workflow.execute_activity(
                "deliver_event",
                inp,
                result_type=DeliverEventResult,
                start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
                schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError:
            await workflow.execute_activity(
                "mark_event_undeliverable",
                inp,
                start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
            )
            return DeliverEventResult(status="undeliverable", attempts=-1)
