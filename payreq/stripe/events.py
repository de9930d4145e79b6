"""The Stripe events the service acts on (pure: the workflow side may import it)."""

from __future__ import annotations

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
