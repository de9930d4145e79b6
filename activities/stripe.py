"""Stripe side effects of the workflow: refunds of overpayments and of payments that reached a
closed request. Each carries an idempotency key made of business ids, and is recorded in
`refunds` too, because not every Stripe (localstripe, for one) honours the key."""

from __future__ import annotations

import asyncpg
import stripe
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.types import ErrorType, RefundInput, RefundResult


def refund_key(inp: RefundInput) -> str:
    return f"{inp.request_id}:{inp.reason}:{inp.payment_id}"


class StripeActivities:
    def __init__(self, pool: asyncpg.Pool, client: stripe.StripeClient) -> None:
        self._pool = pool
        self._stripe = client

    @activity.defn(name="refund_payment")
    async def refund_payment(self, inp: RefundInput) -> RefundResult:
        key = refund_key(inp)
        # Concurrent attempts (a timed-out attempt still running beside its retry) queue on
        # one lock per key, so at most one of them ever asks Stripe.
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            done = await conn.fetchrow(
                "SELECT stripe_refund_id, status FROM refunds WHERE idempotency_key = $1"
                " AND stripe_refund_id IS NOT NULL",
                key,
            )
            if done:
                return RefundResult(refund_id=done["stripe_refund_id"], status=done["status"])
            refund = await self._create(inp, key)
            await conn.execute(
                """INSERT INTO refunds (idempotency_key, payment_request_id, payment_id, amount,
                       reason, status, stripe_refund_id) VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (idempotency_key) DO UPDATE SET status = EXCLUDED.status,
                       stripe_refund_id = EXCLUDED.stripe_refund_id, updated_at = now()""",
                key,
                inp.request_id,
                inp.payment_id,
                inp.amount,
                inp.reason,
                refund.status or "pending",
                refund.id,
            )
        return RefundResult(refund_id=refund.id, status=refund.status or "pending")

    async def _create(self, inp: RefundInput, key: str) -> stripe.Refund:
        try:
            return await self._stripe.v1.refunds.create_async(
                {
                    "payment_intent": inp.payment_id,
                    "amount": inp.amount,
                    "metadata": {"payment_request_id": inp.request_id, "reason": inp.reason},
                },
                {"idempotency_key": key},
            )
        except stripe.InvalidRequestError as exc:
            await self._pool.execute(
                """INSERT INTO refunds (idempotency_key, payment_request_id, payment_id, amount,
                       reason, status) VALUES ($1, $2, $3, $4, $5, 'failed')
                   ON CONFLICT (idempotency_key) DO UPDATE SET status = 'failed',
                       updated_at = now()""",
                key,
                inp.request_id,
                inp.payment_id,
                inp.amount,
                inp.reason,
            )
            raise ApplicationError(
                f"Stripe refused the refund: {exc.user_message or exc}",
                type=ErrorType.STRIPE_ERROR,
                non_retryable=True,
            ) from exc
