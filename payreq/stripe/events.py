"""The Stripe events the service acts on (pure: the workflow side may import it)."""

from __future__ import annotations

from typing import Literal

from workflows.types import PaymentStatus

PAYMENT_EVENT_STATUSES = {
    "payment_intent.succeeded": PaymentStatus.SUCCEEDED,
    "payment_intent.processing": PaymentStatus.PENDING,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
}
# A refund made, and a refund that failed later (its money back on the balance).
REFUND_EVENTS = ("charge.refunded", "charge.refund.updated", "refund.updated", "refund.failed")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.closed")
# What the Stripe webhook endpoint subscribes to, and what reconciliation reads back.
MONEY_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.processing",
    "payment_intent.payment_failed",
    *REFUND_EVENTS,
    *DISPUTE_EVENTS,
)
# What receiving one event came to (the webhook answers it; reconciliation counts the first three).
Outcome = Literal[
    "signalled",  # handed to the request's workflow
    "refunded_after_close",  # a payment that reached a closed request, refunded in full
    "recorded_after_close",  # a pending or failed payment, or a refund, after the close
    "refund_refused",  # Stripe would not refund a payment that reached a closed request
    "duplicate",  # received before
    "not_ours",  # no request of this service
    "account_mismatch",  # the event came from another account than the request's
    "ignored",  # a type the service does not act on
]
