"""Stripe money events, handed to the request's workflow: the one path shared by the Stripe
webhook (api/routes/stripe_webhook.py) and the reconciliation (activities/reconcile.py).

The workflow owns the balance and de-duplicates by PaymentIntent id, so handing it the same
payment twice is harmless. A request whose workflow has already closed cannot take a signal
(Temporal answers NOT_FOUND): a payment that reaches it is refunded here, with the same
idempotency key the workflow would use, and recorded in the read model. Nothing is dropped.

Every database statement runs on the one connection the caller passes in, so a caller holding
a row lock (the webhook's per-event lock) never waits on the pool for a second connection.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import stripe
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    DisputeChanged,
    PaymentReceived,
    PaymentStatus,
    RefundInput,
    RefundReceived,
    workflow_id,
)

SIGNAL_RPC_TIMEOUT = timedelta(seconds=10)
METHOD_LOOKUP_TIMEOUT_SECONDS = 5.0
# Seqs of events this module writes to request_events: below every "viewed" seq (minus a day
# ordinal, about -740,000) and every workflow seq (positive), so they can never collide.
SERVICE_EVENT_SEQ_CEILING = -1_000_000

PAYMENT_EVENT_STATUSES = {
    "payment_intent.succeeded": PaymentStatus.SUCCEEDED,
    "payment_intent.processing": PaymentStatus.PENDING,
    "payment_intent.payment_failed": PaymentStatus.FAILED,
}
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.closed")

log = logging.getLogger("payreq.stripe")
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True)
class Handled:
    outcome: (
        str  # signalled, refunded_after_close, recorded_after_close, duplicate, not_ours, ignored
    )
    request_id: str | None = None


class WorkflowClosed(Exception):
    """The request's workflow has completed: it takes no more signals."""


class TemporalUnavailable(Exception):
    """Temporal did not take the signal (down, unreachable, timed out): retry later."""


class StripeInbox:
    def __init__(self, temporal: Client, stripe_client: stripe.StripeClient | None) -> None:
        self._temporal = temporal
        self._stripe = stripe_client

    async def hand_on(self, conn: Conn, event: dict[str, Any]) -> Handled:
        kind = event["type"]
        obj = event["data"]["object"]
        at = datetime.fromtimestamp(int(event["created"]), UTC)
        if kind in PAYMENT_EVENT_STATUSES:
            return await self.payment(conn, obj, PAYMENT_EVENT_STATUSES[kind], at)
        if kind == "charge.refunded":
            return await self._refund(conn, obj, at)
        if kind in DISPUTE_EVENTS:
            return await self._dispute(conn, obj, kind == "charge.dispute.closed", at)
        return Handled("ignored")

    async def payment(
        self, conn: Conn, intent: dict[str, Any], status: PaymentStatus, at: datetime
    ) -> Handled:
        request_id = await self._owner(conn, intent.get("metadata"), intent["id"])
        if request_id is None:
            return Handled("not_ours")
        event = PaymentReceived(
            payment_id=intent["id"],
            amount=int(intent.get("amount_received") or intent["amount"]),
            currency=str(intent.get("currency") or "usd"),
            status=status,
            method=await self._method(intent),
            at=at,
        )
        try:
            await self._signal(request_id, PaymentRequestWorkflow.payment_received, event)
        except WorkflowClosed:
            return await self._payment_after_close(conn, request_id, event)
        return Handled("signalled", request_id)

    async def _refund(self, conn: Conn, charge: dict[str, Any], at: datetime) -> Handled:
        payment_id = charge.get("payment_intent")
        if not payment_id:
            return Handled("not_ours")
        request_id = await self._owner(conn, charge.get("metadata"), payment_id)
        if request_id is None:
            return Handled("not_ours")
        event = RefundReceived(
            payment_id=payment_id,
            amount_refunded=int(charge["amount_refunded"]),
            payment_amount=int(charge["amount"]),
            at=at,
        )
        try:
            await self._signal(request_id, PaymentRequestWorkflow.refund_received, event)
        except WorkflowClosed:
            await conn.execute(_REFUND_AFTER_CLOSE, payment_id, event.amount_refunded)
            await record_service_event(
                conn, request_id, "refund", f"{payment_id} {event.amount_refunded}"
            )
            return Handled("recorded_after_close", request_id)
        return Handled("signalled", request_id)

    async def _dispute(
        self, conn: Conn, dispute: dict[str, Any], closed: bool, at: datetime
    ) -> Handled:
        payment_id = dispute.get("payment_intent") or await self._charge_intent(dispute)
        if not payment_id:
            return Handled("not_ours")
        request_id = await self._owner(conn, dispute.get("metadata"), payment_id)
        if request_id is None:
            return Handled("not_ours")
        event = DisputeChanged(
            payment_id=payment_id,
            dispute_id=dispute["id"],
            status=str(dispute["status"]),
            closed=closed,
            at=at,
        )
        try:
            await self._signal(request_id, PaymentRequestWorkflow.dispute_changed, event)
        except WorkflowClosed:
            await conn.execute(_DISPUTE_AFTER_CLOSE, payment_id, event.status, event.closed)
            kind = "dispute_closed" if closed else "dispute_opened"
            await record_service_event(conn, request_id, kind, f"{payment_id} {event.status}")
            return Handled("recorded_after_close", request_id)
        return Handled("signalled", request_id)

    async def _payment_after_close(
        self, conn: Conn, request_id: str, event: PaymentReceived
    ) -> Handled:
        status = await conn.fetchval("SELECT status FROM payments WHERE id = $1", event.payment_id)
        if status not in (None, PaymentStatus.PENDING, PaymentStatus.FAILED):
            return Handled("duplicate", request_id)  # the workflow applied it before it closed
        if event.status != PaymentStatus.SUCCEEDED:
            await record_service_event(
                conn, request_id, f"payment_{event.status}", f"{event.payment_id} {event.amount}"
            )
            return Handled("recorded_after_close", request_id)
        if not await self._refund_closed(conn, request_id, event):
            detail = f"{event.payment_id} {event.amount} closed"
            await record_service_event(conn, request_id, "refund_failed", detail)
            return Handled("refund_refused", request_id)
        await conn.execute(
            _PAYMENT_AFTER_CLOSE,
            event.payment_id,
            request_id,
            event.amount,
            event.currency,
            event.method or None,
            event.at,
        )
        detail = f"{event.payment_id} {event.amount} closed"
        await record_service_event(conn, request_id, "refund_issued", detail)
        return Handled("refunded_after_close", request_id)

    async def _refund_closed(self, conn: Conn, request_id: str, event: PaymentReceived) -> bool:
        """The same key, lock and `refunds` row as activities/stripe.py, so whichever of the
        workflow or this path gets there first, the money goes back once. False when Stripe
        refuses the refund (recorded as failed: retrying would not change its mind)."""
        inp = RefundInput(
            request_id=request_id, payment_id=event.payment_id, amount=event.amount, reason="closed"
        )
        key = f"{inp.request_id}:{inp.reason}:{inp.payment_id}"
        if self._stripe is None:
            raise RuntimeError("a payment reached a closed request and Stripe is not configured")
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            if await conn.fetchval(
                "SELECT 1 FROM refunds WHERE idempotency_key = $1 AND stripe_refund_id IS NOT NULL",
                key,
            ):
                return True
            try:
                refund = await self._stripe.v1.refunds.create_async(
                    {
                        "payment_intent": inp.payment_id,
                        "amount": inp.amount,
                        "metadata": {"payment_request_id": inp.request_id, "reason": inp.reason},
                    },
                    {"idempotency_key": key},
                )
            except stripe.InvalidRequestError:
                await conn.execute(
                    _RECORD_REFUND,
                    key,
                    request_id,
                    inp.payment_id,
                    inp.amount,
                    inp.reason,
                    "failed",
                    None,
                )
                return False
            await conn.execute(
                _RECORD_REFUND,
                key,
                request_id,
                inp.payment_id,
                inp.amount,
                inp.reason,
                refund.status or "pending",
                refund.id,
            )
        log.info("refunded a payment that reached a closed request")
        return True

    async def _signal(self, request_id: str, signal: Any, arg: object) -> None:
        handle = self._temporal.get_workflow_handle(workflow_id(request_id))
        try:
            await handle.signal(signal, arg, rpc_timeout=SIGNAL_RPC_TIMEOUT)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowClosed(request_id) from exc
            raise TemporalUnavailable(exc.status.name) from exc
        except RuntimeError as exc:  # the SDK's "Failed client connect" on a lazy client
            raise TemporalUnavailable("connect") from exc

    async def _owner(
        self, conn: Conn, metadata: dict[str, Any] | None, payment_id: str, *, fetch: bool = True
    ) -> str | None:
        """The request this payment belongs to, if it is one of ours (in our read model)."""
        metadata = metadata or {}
        request_id = metadata.get("payment_request_id")
        if request_id:
            practice = await conn.fetchval(
                "SELECT practice_id FROM payment_requests WHERE id = $1", request_id
            )
            expected = metadata.get("practice_id")
            if practice is None or (expected and expected != practice):
                return None
            return str(request_id)
        known = await conn.fetchval(
            "SELECT payment_request_id FROM payments WHERE id = $1", payment_id
        )
        if known:
            return str(known)
        if fetch and self._stripe is not None and payment_id.startswith("pi_"):
            intent = await self._stripe.v1.payment_intents.retrieve_async(payment_id)
            return await self._owner(
                conn, intent.to_dict().get("metadata"), payment_id, fetch=False
            )
        return None

    async def _charge_intent(self, dispute: dict[str, Any]) -> str | None:
        charge = dispute.get("charge")
        if not isinstance(charge, str) or self._stripe is None:
            return None
        found = await self._stripe.v1.charges.retrieve_async(charge)
        intent = found.to_dict().get("payment_intent")
        return str(intent) if intent else None

    async def _method(self, intent: dict[str, Any]) -> str:
        """ "visa •••• 4242": from the event when Stripe included it, else from the label the
        pay endpoint put in the PaymentIntent's metadata, else (an intent made elsewhere) from
        the PaymentMethod. Never fatal: the payment counts whether or not we can name the card."""
        card = _card_from_intent(intent)
        label = (intent.get("metadata") or {}).get(CARD_LABEL_KEY)
        if card is None and isinstance(label, str) and label:
            return label
        pm = intent.get("payment_method")
        if card is None and isinstance(pm, str) and self._stripe is not None:
            try:
                found = await asyncio.wait_for(
                    self._stripe.v1.payment_methods.retrieve_async(pm),
                    METHOD_LOOKUP_TIMEOUT_SECONDS,
                )
                card = found.to_dict().get("card")
            except (stripe.StripeError, TimeoutError):
                card = None
        return card_label(card) or "card"


CARD_LABEL_KEY = "card"  # PaymentIntent metadata: the card's label, set when it is created


def card_label(card: dict[str, Any] | None) -> str | None:
    if not card or not card.get("last4"):
        return None
    return f"{card.get('brand') or 'card'} •••• {card['last4']}"


def _card_from_intent(intent: dict[str, Any]) -> dict[str, Any] | None:
    pm = intent.get("payment_method")
    if isinstance(pm, dict) and pm.get("card"):
        return dict(pm["card"])
    charge = intent.get("latest_charge")
    charges = [charge] if isinstance(charge, dict) else []
    charges += (intent.get("charges") or {}).get("data") or []
    for c in charges:
        card = (c.get("payment_method_details") or {}).get("card")
        if card:
            return dict(card)
    return None


async def record_service_event(conn: Conn, request_id: str, kind: str, detail: str) -> None:
    """An event on the request written by the service rather than the workflow (which has
    closed): seqs count down from SERVICE_EVENT_SEQ_CEILING, under a per-request lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", request_id)
        await conn.execute(
            _INSERT_SERVICE_EVENT, request_id, kind, detail, SERVICE_EVENT_SEQ_CEILING
        )


_INSERT_SERVICE_EVENT = """
INSERT INTO request_events (payment_request_id, seq, at, type, detail)
SELECT $1, LEAST($4::int, COALESCE(MIN(seq), 0)) - 1, now(), $2, $3
FROM request_events WHERE payment_request_id = $1
HAVING NOT bool_or(type = $2 AND detail = $3) IS TRUE
"""

_RECORD_REFUND = """
INSERT INTO refunds (idempotency_key, payment_request_id, payment_id, amount, reason, status,
                     stripe_refund_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO UPDATE SET status = EXCLUDED.status,
    stripe_refund_id = EXCLUDED.stripe_refund_id, updated_at = now()
"""

_PAYMENT_AFTER_CLOSE = """
INSERT INTO payments (id, payment_request_id, practice_id, patient_id, amount, applied_amount,
                      currency, status, method, refunded_amount, paid_at, updated_at)
SELECT $1, r.id, r.practice_id, r.patient_id, $3, 0, $4, 'refunded', $5, $3, $6, now()
FROM payment_requests r WHERE r.id = $2
ON CONFLICT (id) DO UPDATE SET
    amount = EXCLUDED.amount, applied_amount = 0, status = 'refunded',
    method = COALESCE(EXCLUDED.method, payments.method),
    refunded_amount = GREATEST(payments.refunded_amount, EXCLUDED.refunded_amount),
    paid_at = EXCLUDED.paid_at, updated_at = now()
"""

_REFUND_AFTER_CLOSE = """
UPDATE payments SET
    refunded_amount = GREATEST(refunded_amount, $2),
    status = CASE WHEN status IN ('pending', 'failed', 'disputed') THEN status
                  WHEN GREATEST(refunded_amount, $2) >= amount THEN 'refunded'
                  ELSE 'partially_refunded' END,
    updated_at = now()
WHERE id = $1
"""

_DISPUTE_AFTER_CLOSE = """
UPDATE payments SET
    status = CASE WHEN NOT $3 OR $2 = 'lost' THEN 'disputed'
                  WHEN refunded_amount >= amount AND amount > 0 THEN 'refunded'
                  WHEN refunded_amount > 0 THEN 'partially_refunded'
                  ELSE 'succeeded' END,
    updated_at = now()
WHERE id = $1
"""
