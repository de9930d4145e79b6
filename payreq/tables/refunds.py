"""The one writer of `refunds`: a row per refund the service asked Stripe for, keyed by its
business key (payreq.stripe.refunds.refund_key)."""

from __future__ import annotations

from payreq.tables import Conn

_MADE = """
SELECT stripe_refund_id, status FROM refunds
WHERE idempotency_key = $1 AND stripe_refund_id IS NOT NULL
"""

_RECORD = """
INSERT INTO refunds (idempotency_key, payment_request_id, payment_id, amount, reason, status,
                     stripe_refund_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (idempotency_key) DO UPDATE SET status = EXCLUDED.status,
    stripe_refund_id = EXCLUDED.stripe_refund_id, updated_at = now()
"""

_SET_STATUS = "UPDATE refunds SET status = $2, updated_at = now() WHERE stripe_refund_id = $1"


async def made(conn: Conn, key: str) -> tuple[str, str] | None:
    """(Stripe refund id, status) of the refund Stripe made for `key`, if it made one."""
    row = await conn.fetchrow(_MADE, key)
    return (row["stripe_refund_id"], row["status"]) if row else None


async def record(
    conn: Conn,
    key: str,
    *,
    request_id: str,
    payment_id: str,
    amount: int,
    reason: str,
    status: str,
    refund_id: str | None,
) -> None:
    await conn.execute(_RECORD, key, request_id, payment_id, amount, reason, status, refund_id)


async def set_status(conn: Conn, refund_id: str, status: str) -> None:
    """Only the refunds this service made have a row: others are left alone."""
    await conn.execute(_SET_STATUS, refund_id, status)
