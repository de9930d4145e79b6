"""The workflow's Stripe side effect: refunds of overpayments and of payments that reached a
closing request, through the gateway's refund-once (payreq/stripe/refunds.py)."""

from __future__ import annotations

import asyncpg
import stripe
from temporalio import activity
from temporalio.exceptions import ApplicationError

from payreq.stripe.refunds import RefundRefused, refund_once
from workflows.types import ErrorType, RefundInput, RefundResult


class StripeActivities:
    def __init__(self, pool: asyncpg.Pool, client: stripe.StripeClient) -> None:
        self._pool = pool
        self._stripe = client

    @activity.defn(name="refund_payment")
    async def refund_payment(self, inp: RefundInput) -> RefundResult:
        async with self._pool.acquire() as conn:
            try:
                return await refund_once(conn, self._stripe, inp)
            except RefundRefused as exc:
                raise ApplicationError(
                    f"Stripe refused the refund: {exc.code or exc}",
                    type=ErrorType.STRIPE_ERROR,
                    non_retryable=True,
                ) from exc
