"""Delivery of outbound events to the practice's webhook endpoint: the retry policy of the
`deliver_events` activity, which a request runs once per save that has events (see
PaymentRequestWorkflow._deliver)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy


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
