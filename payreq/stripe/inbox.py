"""A Stripe money event, handed to the request's workflow: the one path shared by the Stripe
webhook (api/routes/stripe_webhook.py) and the reconciliation (activities/reconcile.py).

The workflow owns the balance and de-duplicates by PaymentIntent id, so handing it the same
event twice is harmless. An event from a connected account (`event.account`) counts only for
the practice that owns that account, and an event with no account only for a practice with
none: any other is refused (outcome `account_mismatch`: recorded, nothing changed, answered
2xx so Stripe stops sending it; the log names both accounts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import stripe
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from payreq.stripe import closed
from payreq.stripe.accounts import account_rule, payment_account
from payreq.stripe.cards import CARD_LABEL_KEY, card_from_intent, card_label
from payreq.stripe.events import DISPUTE_EVENTS, PAYMENT_EVENT_STATUSES, REFUND_EVENTS, Outcome
from payreq.stripe.lookups import StripeLookups
from payreq.stripe.refunds import record_refund_status
from payreq.tables import stripe_events
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    DisputeChanged,
    PaymentReceived,
    PaymentStatus,
    RefundReceived,
    workflow_id,
)

SIGNAL_RPC_TIMEOUT = timedelta(seconds=10)
# How long a delivery holds its claim on an event. A handler slower than this (Stripe's own
# calls on a refund after close) may be joined by a second delivery: harmless, the workflow
# de-duplicates by PaymentIntent and a refund is made once by its key, only work is repeated.
CLAIM_LEASE = timedelta(seconds=60)
# How long a second delivery waits for the first to finish before it answers "retry later".
WAIT_FOR_CLAIM_S = 15.0
_CLAIM_POLL_S = 0.05
log = logging.getLogger("payreq.stripe")


@dataclass(frozen=True)
class Handled:
    outcome: Outcome
    request_id: str | None = None


@dataclass(frozen=True)
class Owner:
    """What the claim read about the request a payment event's metadata names: its practice
    (None: no such request) and the account the payment belongs to (payment_account's rule)."""

    request_id: str
    practice_id: str | None
    account: str | None


class EventInFlight(Exception):
    """Another delivery of the event holds its claim and has not finished: retry later."""


class WorkflowClosed(Exception):
    """The request's workflow has completed: it takes no more signals."""


class TemporalUnavailable(Exception):
    """Temporal did not take the signal (down, unreachable, timed out): retry later."""


class StripeInbox:
    def __init__(self, temporal: Client, stripe_client: stripe.StripeClient | None) -> None:
        self._temporal = temporal
        self._stripe = stripe_client
        self._lookups = StripeLookups(stripe_client)

    async def hand_on(
        self, db: asyncpg.Pool, event: dict[str, Any], owner: Owner | None = None
    ) -> Handled:
        """`db` is the pool: no connection is held while the workflow is signalled."""
        kind = event["type"]
        obj = event["data"]["object"]
        at = datetime.fromtimestamp(int(event["created"]), UTC)
        account = event.get("account") or None
        if kind in PAYMENT_EVENT_STATUSES:
            status = PAYMENT_EVENT_STATUSES[kind]
            return await self.payment(db, obj, status, at, account, owner, str(event["id"]))
        if kind in REFUND_EVENTS:
            return await self._refund(db, obj, at, account)
        if kind in DISPUTE_EVENTS:
            closed_ = kind == "charge.dispute.closed"
            return await self._dispute(db, obj, closed_, at, account)
        return Handled("ignored")

    async def payment(
        self,
        db: asyncpg.Pool,
        intent: dict[str, Any],
        status: PaymentStatus,
        at: datetime,
        account: str | None = None,
        owner: Owner | None = None,
        event_id: str = "",
    ) -> Handled:
        found = await self._ours(db, intent.get("metadata"), intent["id"], account, owner)
        if isinstance(found, Handled):
            return found
        event = PaymentReceived(
            payment_id=intent["id"],
            amount=int(intent.get("amount_received") or intent["amount"]),
            currency=str(intent.get("currency") or "usd"),
            status=status,
            method=await self._method(intent, account),
            at=at,
            stripe_event_id=event_id,
        )
        try:
            await self._signal(found, PaymentRequestWorkflow.payment_received, event)
        except WorkflowClosed:
            async with db.acquire() as conn:
                outcome = await closed.payment_after_close(conn, self._stripe, found, event)
            return Handled(outcome, found)
        return Handled("signalled", found)

    async def _refund(
        self, db: asyncpg.Pool, obj: dict[str, Any], at: datetime, account: str | None
    ) -> Handled:
        """`charge.refunded` carries the charge; `refund.*` and `charge.refund.updated` carry
        the refund. Either way the totals come from the charge's refunds as Stripe has them
        now, so a refund that failed since counts as failed."""
        if obj.get("object") == "refund" and obj.get("status"):
            async with db.acquire() as conn:
                await record_refund_status(conn, str(obj["id"]), str(obj["status"]))
        charge = await self._lookups.charge_of(obj, account)
        payment_id = charge.get("payment_intent")
        if not payment_id:
            return Handled("not_ours")
        found = await self._ours(db, charge.get("metadata"), payment_id, account)
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
            async with db.acquire() as conn:
                await closed.refund_after_close(conn, found, payment_id, max(0, made - failed))
            return Handled("recorded_after_close", found)
        return Handled("signalled", found)

    async def _dispute(
        self,
        db: asyncpg.Pool,
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
        found = await self._ours(db, dispute.get("metadata"), payment_id, account)
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
            async with db.acquire() as conn:
                await closed.dispute_after_close(conn, found, event)
            return Handled("recorded_after_close", found)
        return Handled("signalled", found)

    async def _ours(
        self,
        db: asyncpg.Pool,
        metadata: dict[str, Any] | None,
        payment_id: str,
        account: str | None,
        owner: Owner | None = None,
    ) -> str | Handled:
        """The request this payment belongs to, or why the event is not handed on. `owner`,
        when the claim read it for the request the metadata names, saves both lookups."""
        named = (metadata or {}).get("payment_request_id")
        if owner is not None and named and owner.request_id == named:
            if not _practice_matches(metadata, owner.practice_id):
                return Handled("not_ours")
            request_id: str | None = owner.request_id
            expected = owner.account
        else:
            request_id = await self._owner(db, metadata, payment_id, account)
            if request_id is None:
                return Handled("not_ours")
            expected = await payment_account(db, payment_id, request_id)
        if expected != account:
            log.warning(
                "stripe event refused: sent for account %s, the payment's is %s",
                account or "platform",
                expected or "platform",
            )
            return Handled("account_mismatch", request_id)
        assert request_id is not None
        return request_id

    async def _owner(
        self,
        conn: asyncpg.Pool,
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
            return str(request_id) if _practice_matches(metadata, practice) else None
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

    Each event id is claimed in `stripe_events` for CLAIM_LEASE, and marked handled only once
    the workflow has the event: a payment event by the workflow's own save, in the statement
    that records the payment; any other here. A failure removes the claim's row (nothing
    recorded), so the next delivery handles it again. A delivery that finds another's live
    claim waits for it (WAIT_FOR_CLAIM_S) and answers "duplicate" once it is handled, else
    EventInFlight (retry later): no delivery is answered before the event is handed on. No
    connection is held across the signal. A payment event costs one statement here: the claim.
    """
    event_id = str(event["id"])
    named, payment_id = _payment_named(event)
    deadline = time.monotonic() + WAIT_FOR_CLAIM_S
    while True:
        row = await pool.fetchrow(
            stripe_events.CLAIM, event_id, event["type"], CLAIM_LEASE, named, payment_id
        )
        assert row is not None  # the final SELECT returns one row
        if row["claimed"] is not None:
            break
        if row["handled"]:
            return Handled("duplicate")
        if time.monotonic() > deadline:
            raise EventInFlight(event_id)
        await asyncio.sleep(_CLAIM_POLL_S)
    owner = None
    if named is not None:
        account = account_rule(row["known"], row["made_on"], row["practice_account"])
        owner = Owner(named, row["practice_id"], account)
    try:
        handled = await inbox.hand_on(pool, event, owner)
    except Exception:
        try:
            await pool.execute(stripe_events.RELEASE, event_id, row["claimed"])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.warning("stripe event %s: claim not released, it lapses", event_id)
        raise
    if not (handled.outcome == "signalled" and event["type"] in PAYMENT_EVENT_STATUSES):
        await pool.execute(stripe_events.HANDLED, [event_id], handled.request_id)
    # else the workflow's save that records the payment marks it (stripe_events.mark_handled)
    return handled


def _practice_matches(metadata: dict[str, Any] | None, practice: str | None) -> bool:
    """The request named in the metadata exists (`practice` is its practice's id) and belongs
    to the practice the metadata names, if it names one."""
    expected = (metadata or {}).get("practice_id")
    return practice is not None and not (expected and expected != practice)


def _payment_named(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """The request and PaymentIntent a payment event names, for the claim to look up."""
    if event["type"] not in PAYMENT_EVENT_STATUSES:
        return None, None
    intent = event["data"]["object"]
    named = (intent.get("metadata") or {}).get("payment_request_id")
    return (str(named), str(intent["id"])) if named else (None, None)
