"""The one writer of `payments`: the workflow's ledger (through the read model) and, once the
workflow has closed, the Stripe inbox (payreq/stripe/closed.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from payreq.tables import Conn


class PaymentRow(NamedTuple):
    id: str
    payment_request_id: str
    practice_id: str
    patient_id: str
    amount: int
    applied_amount: int
    currency: str
    status: str
    method: str | None
    refunded_amount: int
    paid_at: datetime | None
    updated_at: datetime
    source: str
    reference: str | None


_UPSERT = """
INSERT INTO payments (id, payment_request_id, practice_id, patient_id, amount, applied_amount,
                      currency, status, method, refunded_amount, paid_at, updated_at, source,
                      reference)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (id) DO UPDATE SET
    amount = EXCLUDED.amount, applied_amount = EXCLUDED.applied_amount,
    status = EXCLUDED.status, method = EXCLUDED.method,
    refunded_amount = EXCLUDED.refunded_amount, paid_at = EXCLUDED.paid_at,
    updated_at = EXCLUDED.updated_at
"""

_REFUNDED_AFTER_CLOSE = """
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

# $2 is the net refunded amount Stripe reports now (a failed refund lowers it).
_REFUND_CHANGED = """
UPDATE payments SET
    refunded_amount = $2,
    status = CASE WHEN status IN ('pending', 'failed', 'disputed') THEN status
                  WHEN $2 >= amount THEN 'refunded'
                  WHEN $2 > 0 THEN 'partially_refunded'
                  ELSE 'succeeded' END,
    updated_at = now()
WHERE id = $1
"""

_DISPUTE_CHANGED = """
UPDATE payments SET
    status = CASE WHEN NOT $3 OR $2 = 'lost' THEN 'disputed'
                  WHEN refunded_amount >= amount AND amount > 0 THEN 'refunded'
                  WHEN refunded_amount > 0 THEN 'partially_refunded'
                  ELSE 'succeeded' END,
    updated_at = now()
WHERE id = $1
"""


async def upsert(conn: Conn, rows: Sequence[PaymentRow]) -> None:
    """The workflow's view of its payments (the caller guards by the request's version)."""
    if rows:  # (each statement is a round trip; skipped when it has no rows)
        await conn.executemany(_UPSERT, rows)


async def status_of(conn: Conn, payment_id: str) -> str | None:
    status = await conn.fetchval("SELECT status FROM payments WHERE id = $1", payment_id)
    return None if status is None else str(status)


async def refunded_after_close(
    conn: Conn,
    payment_id: str,
    request_id: str,
    *,
    amount: int,
    currency: str,
    method: str | None,
    paid_at: datetime,
) -> None:
    """A payment that reached a closed request, refunded in full."""
    await conn.execute(
        _REFUNDED_AFTER_CLOSE, payment_id, request_id, amount, currency, method, paid_at
    )


async def refund_changed(conn: Conn, payment_id: str, net_refunded: int) -> None:
    await conn.execute(_REFUND_CHANGED, payment_id, net_refunded)


async def dispute_changed(conn: Conn, payment_id: str, status: str, closed: bool) -> None:
    await conn.execute(_DISPUTE_CHANGED, payment_id, status, closed)
