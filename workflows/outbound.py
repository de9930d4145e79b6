"""Delivery of outbound events to the practice's webhook endpoint: the retry policy of the
`deliver_events` activity, which a request runs once per save that has events (see
PaymentRequestWorkflow._deliver)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

DELIVERY_ATTEMPT_TIMEOUT = timedelta(seconds=30)
DELIVERY_WINDOW = timedelta(days=4)  # the contract promises at least three days of retries
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
)
