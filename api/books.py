"""The practice's books: every payment and refund of one practice in a date range, newest first,
keyset-paginated, from the read model (GET /v1/payments and its CSV).

A row is a payment (`kind: payment`, dated when it was paid) or a refund (`kind: refund`, dated
when it was refunded). `payments.refunded_amount` is the truth about what went back (Stripe's
cumulative total, learned from charge.refunded), so the refund rows of a payment always add up
to it: first the refunds this service made (the `refunds` table), in order, each capped so the
running total never passes refunded_amount; then, when Stripe reports more than those (a
refund made in Stripe's dashboard), one row for the remainder, dated when the service learned
of it (its latest `refund` event). Refund rows carry `status: "refund"` and, as
`refunded_amount`, the payment's running total up to and including that row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel, Field

from api.errors import ApiError
from api.queries import Cursor

_TS = "2026-12-03T14:03:00Z"
REFUND_STATUS = "refund"
# The service's refunds that moved (or are moving) money; failed ones never did.
_MOVED = "('succeeded', 'pending')"


class BookRow(BaseModel):
    kind: Literal["payment", "refund"]
    paid_at: datetime = Field(
        description="When it was paid (payment rows) or refunded (refund rows).", examples=[_TS]
    )
    payment_request_id: str = Field(examples=["pr_8f14e45fceea167a5a36dedd"])
    patient_id: str = Field(examples=["pt_123"])
    facility_id: str = Field(examples=["fac_1"])
    amount: int = Field(
        description="Minor units, positive on both kinds: what was paid, or what this refund "
        "gave back.",
        examples=[5000],
    )
    currency: str = Field(examples=["usd"])
    method: str | None = Field(examples=["visa •••• 4242"])
    source: str = Field(
        description="`link` (a card through the pay link) or `offline` (recorded at the desk).",
        examples=["link"],
    )
    status: str = Field(
        description="The payment's status on payment rows; `refund` on refund rows.",
        examples=["succeeded"],
    )
    refunded_amount: int = Field(
        description="Payment rows: everything refunded from the payment so far. Refund rows: "
        "the payment's running total up to and including this refund.",
        examples=[0],
    )
    stripe_payment_intent_id: str = Field(examples=["pi_3Q0abc"])


class BookList(BaseModel):
    data: list[BookRow]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


@dataclass(frozen=True)
class Range:
    """[start, end) in UTC: from 00:00 of `first` to 24:00 of `last`, in the practice's zone."""

    start: datetime
    end: datetime


def local_range(first: date, last: date, zone: str) -> Range:
    if first > last:
        raise ApiError(422, "invalid_value", "from must not be after to.", "from")
    return Range(_midnight(first, zone, "from", 0), _midnight(last, zone, "to", 1))


def _midnight(day: date, zone: str, field: str, days_after: int) -> datetime:
    """00:00 there of `day` plus `days_after`, in UTC now: near year 1 or 9999 the conversion
    overflows here, as a 422, not later in the driver as a 500."""
    try:
        local = datetime.combine(day + timedelta(days=days_after), time(), ZoneInfo(zone))
        return local.astimezone(UTC)
    except OverflowError:
        raise ApiError(422, "invalid_value", f"{field} is out of range.", field) from None


_COMMON = """p.payment_request_id, p.patient_id, r.facility_id, p.currency, p.method, p.source,
       p.id AS stripe_payment_intent_id"""

_BOOKS = f"""
(SELECT 'payment' AS kind, p.paid_at AS at, p.id AS key, p.amount, p.status,
        p.refunded_amount, {_COMMON}
 FROM payments p JOIN payment_requests r ON r.id = p.payment_request_id
 WHERE p.practice_id = $1 AND p.paid_at >= $2 AND p.paid_at < $3 AND p.status <> 'failed'
   AND {{facility}} AND {{keyset_payment}}
 ORDER BY p.paid_at DESC, p.id DESC LIMIT {{limit}})
UNION ALL
(SELECT 'refund', f.created_at, f.stripe_refund_id, least(f.amount, p.refunded_amount - f.before),
        '{REFUND_STATUS}', least(f.before + f.amount, p.refunded_amount), {_COMMON}
 FROM (SELECT f.payment_id, f.stripe_refund_id, f.amount, f.created_at,
              coalesce(sum(f.amount) OVER (PARTITION BY f.payment_id
                  ORDER BY f.created_at, f.stripe_refund_id
                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
       FROM refunds f JOIN payments p ON p.id = f.payment_id
            AND p.payment_request_id = f.payment_request_id
       WHERE p.practice_id = $1 AND f.stripe_refund_id IS NOT NULL
         AND f.status IN {_MOVED}) f
 JOIN payments p ON p.id = f.payment_id JOIN payment_requests r ON r.id = p.payment_request_id
 WHERE f.before < p.refunded_amount AND f.created_at >= $2 AND f.created_at < $3
   AND {{facility}} AND {{keyset_refund}})
UNION ALL
(SELECT 'refund', x.at, x.key, p.refunded_amount - x.recorded, '{REFUND_STATUS}',
        p.refunded_amount, {_COMMON}
 FROM payments p JOIN payment_requests r ON r.id = p.payment_request_id
 CROSS JOIN LATERAL (
   SELECT p.id || '/refund' AS key,
          coalesce((SELECT max(e.at) FROM request_events e
                    WHERE e.payment_request_id = p.payment_request_id AND e.type = 'refund'
                      AND split_part(e.detail, ' ', 1) = p.id), p.updated_at) AS at,
          least(p.refunded_amount, coalesce((SELECT sum(f.amount) FROM refunds f
                    WHERE f.payment_id = p.id AND f.stripe_refund_id IS NOT NULL
                      AND f.status IN {_MOVED}), 0)) AS recorded) x
 WHERE p.practice_id = $1 AND p.refunded_amount > 0 AND p.refunded_amount > x.recorded
   AND x.at >= $2 AND x.at < $3 AND {{facility}} AND {{keyset_remainder}})
ORDER BY at DESC, key DESC
LIMIT {{limit}}
"""


def books_query(
    practice_id: str, span: Range, facility_id: str | None, cursor: Cursor | None, limit: int
) -> tuple[str, list[object]]:
    """The export's SQL and arguments (public so a test can EXPLAIN exactly what runs)."""
    args: list[object] = [practice_id, span.start, span.end]
    facility = "true"
    if facility_id is not None:
        args.append(facility_id)
        facility = f"r.facility_id = ${len(args)}"
    keysets = {"keyset_payment": "true", "keyset_refund": "true", "keyset_remainder": "true"}
    if cursor is not None:
        if cursor.at is None:
            raise ApiError(422, "invalid_cursor", "The cursor is not valid.", "cursor")
        args += [cursor.at, cursor.id]
        at, key = f"${len(args) - 1}", f"${len(args)}"
        keysets = {
            "keyset_payment": f"(p.paid_at, p.id) < ({at}, {key})",
            "keyset_refund": f"(f.created_at, f.stripe_refund_id) < ({at}, {key})",
            "keyset_remainder": f"(x.at, x.key) < ({at}, {key})",
        }
    sql = _BOOKS.format(facility=facility, limit=int(limit) + 1, **keysets)
    return sql, args


async def list_books(
    pool: asyncpg.Pool,
    practice_id: str,
    span: Range,
    facility_id: str | None,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[BookRow], str | None]:
    sql, args = books_query(practice_id, span, facility_id, cursor, limit)
    rows = await pool.fetch(sql, *args)
    items = [_row(r) for r in rows[:limit]]
    after = None
    if len(rows) > limit:
        last = rows[limit - 1]
        after = Cursor(last["at"], last["key"]).encode()
    return items, after


async def practice_zone(pool: asyncpg.Pool, practice_id: str) -> str:
    zone = await pool.fetchval("SELECT timezone FROM practices WHERE id = $1", practice_id)
    return str(zone)


def _row(r: asyncpg.Record) -> BookRow:
    return BookRow(
        kind=r["kind"],
        paid_at=r["at"],
        payment_request_id=r["payment_request_id"],
        patient_id=r["patient_id"],
        facility_id=r["facility_id"],
        amount=r["amount"],
        currency=r["currency"],
        method=r["method"],
        source=r["source"],
        status=r["status"],
        refunded_amount=r["refunded_amount"],
        stripe_payment_intent_id=r["stripe_payment_intent_id"],
    )
