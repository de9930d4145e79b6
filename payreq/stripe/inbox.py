"""A Stripe money event, handed to the request's workflow: the one path shared by the Stripe
webhook (api/routes/stripe_webhook.py) and the reconciliation (activities/reconcile.py).

The workflow owns the balance and de-duplicates by PaymentIntent id, so handing it the same
event twice is harmless. An event from a connected account (`event.account`) counts only for
the practice that owns that account, and an event with no account only for a practice with
none: any other is refused (outcome `account_mismatch`: recorded, nothing changed, answered
2xx so Stripe stops sending it; the log names both accounts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import stripe
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from payreq.stripe import closed
from payreq.stripe.accounts import payment_account
from payreq.stripe.cards import CARD_LABEL_KEY, card_from_intent, card_label
from payreq.stripe.events import DISPUTE_EVENTS, PAYMENT_EVENT_STATUSES, REFUND_EVENTS, Outcome
from payreq.stripe.lookups import StripeLookups
from payreq.stripe.refunds import record_refund_status
from payreq.tables import Conn
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    DisputeChanged,
    PaymentReceived,
    PaymentStatus,
    RefundReceived,
    workflow_id,
)

SIGNAL_RPC_TIMEOUT = timedelta(seconds=10)
log = logging.getLogger("payreq.stripe")


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    request_id: str | None = None


class WorkflowClosed(Exception):
    """The request's workflow has completed: it takes no more signals."""


class TemporalUnavailable(Exception):
    """Temporal did not take the signal (down, unreachable, timed out): retry later."""


class StripeInbox:
    def __init__(self, temporal: Client, stripe_client: stripe.StripeClient | None) -> None:
        self._temporal = temporal
        self._stripe = stripe_client
        self._lookups = StripeLookups(stripe_client)

    async def hand_on(self, conn: Conn, event: dict[str, Any]) -> Handled:
        kind = event["type"]
        obj = event["data"]["object"]
        at = datetime.fromtimestamp(int(event["created"]), UTC)
        account = event.get("account") or None
        if kind in PAYMENT_EVENT_STATUSES:
            return await self.payment(conn, obj, PAYMENT_EVENT_STATUSES[kind], at, account)
        if kind in REFUND_EVENTS:
            return await self._refund(conn, obj, at, account)
        if kind in DISPUTE_EVENTS:
            closed_ = kind == "charge.dispute.closed"
            return await self._dispute(conn, obj, closed_, at, account)
        return Handled("ignored")

    async def payment(
        self,
        conn: Conn,
        intent: dict[str, Any],
        status: PaymentStatus,
        at: datetime,
        account: str | None = None,
    ) -> Handled:
        found = await self._ours(conn, intent.get("metadata"), intent["id"], account)
        if isinstance(found, Handled):
            return found
        event = PaymentReceived(
            payment_id=intent["id"],
            amount=int(intent.get("amount_received") or intent["amount"]),
            currency=str(intent.get("currency") or "usd"),
            status=status,
            method=await self._method(intent, account),
            at=at,
        )
        try:
            await self._signal(found, PaymentRequestWorkflow.payment_received, event)
        except WorkflowClosed:
            return Handled(
                await closed.payment_after_close(conn, self._stripe, found, event), found
            )
        return Handled("signalled", found)

    async def _refund(
        self, conn: Conn, obj: dict[str, Any], at: datetime, account: str | None
    ) -> Handled:
        """`charge.refunded` carries the charge; `refund.*` and `charge.refund.updated` carry
        the refund. Either way the totals come from the charge's refunds as Stripe has them
        now, so a refund that failed since counts as failed."""
        if obj.get("object") == "refund" and obj.get("status"):
            await record_refund_status(conn, str(obj["id"]), str(obj["status"]))
        charge = await self._lookups.charge_of(obj, account)
        payment_id = charge.get("payment_intent")
        if not payment_id:
            return Handled("not_ours")
        found = await self._ours(conn, charge.get("metadata"), payment_id, account)
        if isinstance(found, Handled):
            return found
        made, failed = await self._lookups.refund_totals(charge, account)
        event = RefundReceived(
            payment_id=payment_id,
            amount_refunded=made,
            amount_failed=failed,
            payment_amount=int(charge["amount"]),
            at=at,
        )
        try:
            await self._signal(found, PaymentRequestWorkflow.refund_received, event)
        except WorkflowClosed:
            await closed.refund_after_close(conn, found, payment_id, max(0, made - failed))
            return Handled("recorded_after_close", found)
        return Handled("signalled", found)

    async def _dispute(
        self,
        conn: Conn,
        dispute: dict[str, Any],
        is_closed: bool,
        at: datetime,
        account: str | None,
    ) -> Handled:
        payment_id = dispute.get("payment_intent") or await self._lookups.charge_intent(
            dispute, account
        )
        if not payment_id:
            return Handled("not_ours")
        found = await self._ours(conn, dispute.get("metadata"), payment_id, account)
        if isinstance(found, Handled):
            return found
        event = DisputeChanged(
            payment_id=payment_id,
            dispute_id=dispute["id"],
            status=str(dispute["status"]),
            closed=is_closed,
            at=at,
        )
        try:
            await self._signal(found, PaymentRequestWorkflow.dispute_changed, event)
        except WorkflowClosed:
            await closed.dispute_after_close(conn, found, event)
            return Handled("recorded_after_close", found)
        return Handled("signalled", found)

    async def _ours(
        self, conn: Conn, metadata: dict[str, Any] | None, payment_id: str, account: str | None
    ) -> str | Handled:
        """The request this payment belongs to, or why the event is not handed on."""
        request_id = await self._owner(conn, metadata, payment_id, account)
        if request_id is None:
            return Handled("not_ours")
        expected = await payment_account(conn, payment_id, request_id)
        if expected != account:
            log.warning(
                "stripe event refused: sent for account %s, the payment's is %s",
                account or "platform",
                expected or "platform",
            )
            return Handled("account_mismatch", request_id)
        return request_id

    async def _owner(
        self,
        conn: Conn,
        metadata: dict[str, Any] | None,
        payment_id: str,
        account: str | None,
        *,
        fetch: bool = True,
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
        if fetch and payment_id.startswith("pi_"):
            found = await self._lookups.intent_metadata(payment_id, account)
            return await self._owner(conn, found, payment_id, account, fetch=False)
        return None

    async def _method(self, intent: dict[str, Any], account: str | None) -> str:
        """ "visa •••• 4242": from the event when Stripe included it, else from the label the
        pay endpoint put in the PaymentIntent's metadata, else (an intent made elsewhere) from
        the PaymentMethod. Never fatal: the payment counts whether or not we can name the card."""
        card = card_from_intent(intent)
        label = (intent.get("metadata") or {}).get(CARD_LABEL_KEY)
        if card is None and isinstance(label, str) and label:
            return label
        pm = intent.get("payment_method")
        if card is None and isinstance(pm, str):
            card = await self._lookups.card(pm, account)
        return card_label(card) or "card"

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


async def receive(pool: asyncpg.Pool, inbox: StripeInbox, event: dict[str, Any]) -> Handled:
    """Hand `event` on once, whoever brings it (webhook or reconciliation).

    Each event id is recorded in `stripe_events` and handled under that row's lock: concurrent
    deliveries queue behind each other and all but the first find it handled. The row is
    committed as handled only once the workflow has the event, so any failure rolls it back and
    the event is handled again on its next delivery."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO stripe_events (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            event["id"],
            event["type"],
        )
        handled_at = await conn.fetchval(
            "SELECT handled_at FROM stripe_events WHERE id = $1 FOR UPDATE", event["id"]
        )
        if handled_at is not None:
            return Handled("duplicate")
        handled = await inbox.hand_on(conn, event)
        await conn.execute(
            "UPDATE stripe_events SET handled_at = now(), payment_request_id = $2 WHERE id = $1",
            event["id"],
            handled.request_id,
        )
        return handled
