"""Money events for a request whose workflow has completed (it takes no more signals): the
read model is written here instead, and a payment that reaches it is refunded. Nothing is
dropped. Every statement runs on the caller's connection (the webhook holds the event's row)."""

from __future__ import annotations

import logging

import stripe

from payreq.stripe.events import Outcome
from payreq.stripe.refunds import RefundRefused, refund_once
from payreq.tables import Conn, payments, request_events
from workflows.types import (
    DisputeChanged,
    PaymentReceived,
    PaymentStatus,
    RefundInput,
    RefundReason,
)

log = logging.getLogger("payreq.stripe")


async def payment_after_close(
    conn: Conn, client: stripe.StripeClient | None, request_id: str, event: PaymentReceived
) -> Outcome:
    """The outcome: duplicate, recorded_after_close, refund_refused or refunded_after_close."""
    status = await payments.status_of(conn, event.payment_id)
    if status not in (None, PaymentStatus.PENDING, PaymentStatus.FAILED):
        return "duplicate"  # the workflow applied it before it closed
    if event.status != PaymentStatus.SUCCEEDED:
        detail = f"{event.payment_id} {event.amount}"
        await record_service_event(conn, request_id, f"payment_{event.status}", detail)
        return "recorded_after_close"
    if client is None:
        raise RuntimeError("a payment reached a closed request and Stripe is not configured")
    inp = RefundInput(
        request_id=request_id,
        payment_id=event.payment_id,
        amount=event.amount,
        reason=RefundReason.CLOSED,
    )
    detail = f"{event.payment_id} {event.amount} closed"
    try:
        await refund_once(conn, client, inp)
    except RefundRefused:
        await record_service_event(conn, request_id, "refund_failed", detail)
        return "refund_refused"
    await payments.refunded_after_close(
        conn,
        event.payment_id,
        request_id,
        amount=event.amount,
        currency=event.currency,
        method=event.method or None,
        paid_at=event.at,
    )
    await record_service_event(conn, request_id, "refund_issued", detail)
    log.info("refunded a payment that reached a closed request")
    return "refunded_after_close"


async def refund_after_close(conn: Conn, request_id: str, payment_id: str, net: int) -> None:
    await payments.refund_changed(conn, payment_id, net)
    await record_service_event(conn, request_id, "refund", f"{payment_id} {net}")


async def dispute_after_close(conn: Conn, request_id: str, event: DisputeChanged) -> None:
    await payments.dispute_changed(conn, event.payment_id, event.status, event.closed)
    kind = "dispute_closed" if event.closed else "dispute_opened"
    await record_service_event(conn, request_id, kind, f"{event.payment_id} {event.status}")


async def record_service_event(conn: Conn, request_id: str, kind: str, detail: str) -> None:
    """An event on the request written by the service rather than the workflow (which has
    closed)."""
    await request_events.record_service_event(conn, request_id, kind, detail)
