"""The one writer of `payments`: the workflow's ledger (a part of the read model's one-statement
save, `ledger_upsert`) and, once the workflow has closed, the Stripe inbox
(payreq/stripe/closed.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from payreq.tables import Conn


class LedgerEntry(Protocol):
    """A payment as the workflow's state has it (workflows.types.PaymentRecord)."""

    @property
    def payment_id(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def applied(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def net_refunded(self) -> int: ...
    @property
    def paid_at(self) -> datetime | None: ...
    @property
    def source(self) -> str: ...
    @property
    def reference(self) -> str: ...


def ledger_upsert(
    *, request: str, practice: str, patient: str, currency: str, at: str, first: int, guard: str
) -> str:
    """A data-modifying CTE body for the read model's save, which numbers its parameters: the
    request's columns are the parameters named, the payments the nine arrays from `$first`
    (`ledger_arrays`), written only where `guard` holds (the save's version is newer)."""
    a = [f"${first + i}" for i in range(9)]
    return f"""
    INSERT INTO payments (id, payment_request_id, practice_id, patient_id, amount,
                          applied_amount, currency, status, method, refunded_amount, paid_at,
                          updated_at, source, reference)
    SELECT p.id, {request}, {practice}, {patient}, p.amount, p.applied, {currency}, p.status,
           p.method, p.refunded, p.paid_at, {at}, p.source, p.reference
    FROM unnest({a[0]}::text[], {a[1]}::bigint[], {a[2]}::bigint[], {a[3]}::text[],
                {a[4]}::text[], {a[5]}::bigint[], {a[6]}::timestamptz[], {a[7]}::text[],
                {a[8]}::text[])
        AS p (id, amount, applied, status, method, refunded, paid_at, source, reference)
    WHERE {guard}
    {_ON_CONFLICT}"""


def ledger_arrays(entries: Sequence[LedgerEntry]) -> list[list[Any]]:
    """The nine arrays of `ledger_upsert`, in its order."""
    return [
        [p.payment_id for p in entries],
        [p.amount for p in entries],
        [p.applied for p in entries],
        [str(p.status) for p in entries],
        [p.method or None for p in entries],
        [p.net_refunded for p in entries],
        [p.paid_at for p in entries],
        [str(p.source) for p in entries],
        [p.reference for p in entries],
    ]


# What a newer save of the workflow's ledger changes in an existing row.
_ON_CONFLICT = """
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
