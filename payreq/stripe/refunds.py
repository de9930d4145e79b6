"""Refund-once: the only code that asks Stripe for a refund (each one recorded through
payreq/tables/refunds.py, the one writer of `refunds`).

Used by the workflow's refund activity (overpayments, payments that reached a closing request)
and by the inbox (a payment that reached a request whose workflow has completed). Both use the
same business key, so whichever gets there first, the money goes back once: concurrent callers
queue on one advisory lock per key, and a refund Stripe made is recorded before the lock is
released, because not every Stripe (localstripe, for one) honours the idempotency key.
"""

from __future__ import annotations

import stripe

from payreq.stripe.accounts import payment_account
from payreq.stripe.client import log_failure, options
from payreq.tables import Conn, refunds
from workflows.types import RefundInput, RefundResult


def refund_key(inp: RefundInput) -> str:
    return f"{inp.request_id}:{inp.reason}:{inp.payment_id}"


class RefundRefused(Exception):
    """Stripe refused the refund (recorded as failed: retrying would not change its mind)."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


async def refund_once(conn: Conn, client: stripe.StripeClient, inp: RefundInput) -> RefundResult:
    """The refund for `inp`, made at most once; RefundRefused when Stripe will not make it."""
    key = refund_key(inp)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        done = await refunds.made(conn, key)
        if done:
            return RefundResult(refund_id=done[0], status=done[1])
        account = await payment_account(conn, inp.payment_id, inp.request_id)
        try:
            refund = await client.v1.refunds.create_async(
                {
                    "payment_intent": inp.payment_id,
                    "amount": inp.amount,
                    "metadata": {"payment_request_id": inp.request_id, "reason": inp.reason},
                },
                options(account, key),
            )
        except stripe.InvalidRequestError as exc:
            log_failure("refund", exc, account)
            await _record(conn, key, inp, "failed", None)
            refused = RefundRefused(exc.code, exc.user_message or str(exc))
        except stripe.StripeError as exc:
            log_failure("refund", exc, account)
            raise
        else:
            status = refund.status or "pending"
            await _record(conn, key, inp, status, refund.id)
            return RefundResult(refund_id=refund.id, status=status)
    raise refused  # after the commit, so the failure stays recorded


async def _record(
    conn: Conn, key: str, inp: RefundInput, status: str, refund_id: str | None
) -> None:
    await refunds.record(
        conn,
        key,
        request_id=inp.request_id,
        payment_id=inp.payment_id,
        amount=inp.amount,
        reason=inp.reason,
        status=status,
        refund_id=refund_id,
    )


async def record_refund_status(conn: Conn, refund_id: str, status: str) -> None:
    """A refund's later fate from Stripe (a refund that failed after it was made)."""
    await refunds.set_status(conn, refund_id, status)
