"""Reads of the Postgres read model, always scoped by practice. Never scans Temporal."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from api.errors import ApiError
from api.resources import (
    EventOut,
    PatientPaymentOut,
    PaymentOut,
    PaymentRequestOut,
    PaymentRequestSummary,
)
from api.schemas.fields import MAX_ID, Facility
from payreq.rendering.locale import language
from payreq.tables import request_events
from workflows.types import CLOSED_STATUSES

OPEN_FILTER = "open"  # the default list: what still has something to collect


@dataclass(frozen=True)
class Cursor:
    at: datetime | None
    id: str

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat() if self.at else None, self.id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @staticmethod
    def decode(value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            at, id_ = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(id_, str) or "\x00" in id_:
                raise ValueError
            when = datetime.fromisoformat(at) if at is not None else None
            if when is not None:
                # In UTC now, while it is caught: 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00
                # would overflow later, in the driver, as a 500.
                when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
            return Cursor(when, id_)
        except (ValueError, TypeError, UnicodeError, binascii.Error, OverflowError):
            raise ApiError(422, "invalid_cursor", "The cursor is not valid.", "cursor") from None


async def request_row(pool: asyncpg.Pool, practice_id: str, request_id: str) -> asyncpg.Record:
    """The request's row, or 404 when it does not exist *or belongs to another practice*."""
    return await _request(
        pool,
        "SELECT * FROM payment_requests WHERE id = $1 AND practice_id = $2",
        request_id,
        practice_id,
    )


async def _request(
    pool: asyncpg.Pool, sql: str, request_id: str, practice_id: str
) -> asyncpg.Record:
    """`sql`'s row for this practice's request ($1 its id, $2 the practice), else 404."""
    if "\x00" in request_id or len(request_id) > MAX_ID:
        raise ApiError(404, "not_found", "No such payment request.")
    row = await pool.fetchrow(sql, request_id, practice_id)
    if row is None:
        raise ApiError(404, "not_found", "No such payment request.")
    return row


# The whole resource in one statement: the row, its payments and timeline as arrays of their
# tables' rows (asyncpg decodes each into a Record), and the live pay link's key id.
_RESOURCE = f"""
SELECT r.*,
       ARRAY(SELECT p FROM payments p WHERE p.payment_request_id = r.id
             ORDER BY p.paid_at, p.id) AS payment_rows,
       ARRAY(SELECT e FROM request_events e WHERE e.payment_request_id = r.id
             ORDER BY {request_events.TIMELINE_ORDER}) AS event_rows,
       (SELECT key_id FROM pay_tokens t
        WHERE t.payment_request_id = r.id AND t.revoked_at IS NULL) AS pay_key_id
FROM payment_requests r WHERE r.id = $1 AND r.practice_id = $2
"""

PayUrl = Callable[[str, str], str | None]  # (key id, request id) -> the pay link


async def request_resource(
    pool: asyncpg.Pool, practice_id: str, request_id: str, pay_url: PayUrl
) -> PaymentRequestOut:
    """The resource, or 404 when the request does not exist *or belongs to another practice*.
    The pay link is derived again from the key id Postgres keeps (never stored)."""
    row = await _request(pool, _RESOURCE, request_id, practice_id)
    closed = row["status"] in CLOSED_STATUSES
    kid = row["pay_key_id"]
    return PaymentRequestOut(
        id=row["id"],
        patient_id=row["patient_id"],
        created_at=row["created_at"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        full_name=full_name(row),
        facility=Facility(id=row["facility_id"], name=row["facility_name"]),
        emails=list(row["emails"]),
        phones=list(row["phones"]),
        note=row["note"],
        currency=row["currency"],
        language=language(row["language"]),
        amount_requested=row["amount_requested"],
        amount_paid=row["amount_paid"],
        amount_remaining=row["amount_remaining"],
        status=row["status"],
        pay_url=None if closed or not kid else pay_url(kid, row["id"]),
        reminders_sent=row["reminders_sent"],
        reminders_paused=row["reminders_paused"],
        next_reminder_at=row["next_reminder_at"],
        expires_at=row["expires_at"],
        payments=[PaymentOut(**_payment(p)) for p in row["payment_rows"]],
        events=[
            EventOut(at=e["at"], type=e["type"], detail=e["detail"]) for e in row["event_rows"]
        ],
    )


def full_name(row: asyncpg.Record) -> str:
    return names(row["first_name"], row["last_name"])


def names(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def _payment(p: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": p["id"],
        "amount": p["amount"],
        "paid_at": p["paid_at"],
        "method": p["method"],
        "status": p["status"],
        "refunded_amount": p["refunded_amount"],
        "source": p["source"],
        "reference": p["reference"],
    }


_LIST_REQUESTS = """
SELECT id, created_at, first_name, last_name, amount_requested, amount_remaining, currency,
       status
FROM payment_requests
WHERE practice_id = $1 AND patient_id = $2 AND {conditions}
ORDER BY created_at DESC, id DESC
LIMIT {limit}
"""


def requests_query(
    practice_id: str, patient_id: str, status: str, cursor: Cursor | None, limit: int
) -> tuple[str, list[object]]:
    """The list's SQL and arguments (public so a test can EXPLAIN exactly what runs)."""
    args: list[object] = [practice_id, patient_id]
    conditions = ["true"]
    if cursor is not None:
        if cursor.at is None:
            raise ApiError(422, "invalid_cursor", "The cursor is not valid.", "cursor")
        args += [cursor.at, cursor.id]
        conditions.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    if status == OPEN_FILTER:
        args.append([str(s) for s in CLOSED_STATUSES])
        conditions.append(f"status <> ALL(${len(args)}::text[])")
    elif status != "all":
        args.append(status)
        conditions.append(f"status = ${len(args)}")
    sql = _LIST_REQUESTS.format(conditions=" AND ".join(conditions), limit=int(limit) + 1)
    return sql, args


async def list_requests(
    pool: asyncpg.Pool,
    practice_id: str,
    patient_id: str,
    status: str,
    cursor: Cursor | None,
    limit: int,
) -> tuple[list[PaymentRequestSummary], str | None]:
    sql, args = requests_query(practice_id, patient_id, status, cursor, limit)
    rows = await pool.fetch(sql, *args)
    items = [
        PaymentRequestSummary(
            id=r["id"],
            created_at=r["created_at"],
            full_name=full_name(r),
            amount_requested=r["amount_requested"],
            amount_remaining=r["amount_remaining"],
            currency=r["currency"],
            status=r["status"],
        )
        for r in rows[:limit]
    ]
    return items, _next(rows, limit, "created_at")


def _next(rows: list[asyncpg.Record], limit: int, at: str) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return Cursor(last[at], last["id"]).encode()


# paid_at DESC puts NULLs (not yet charged) first, as the index does; the keyset respects that.
_LIST_PAYMENTS = """
SELECT * FROM payments
WHERE practice_id = $1 AND patient_id = $2
  AND ($3::boolean IS NULL
       OR ($3 AND (paid_at IS NOT NULL OR id < $5))
       OR (NOT $3 AND (paid_at < $4 OR (paid_at = $4 AND id < $5))))
ORDER BY paid_at DESC, id DESC
LIMIT $6
"""


async def list_payments(
    pool: asyncpg.Pool, practice_id: str, patient_id: str, cursor: Cursor | None, limit: int
) -> tuple[list[PatientPaymentOut], str | None]:
    rows = await pool.fetch(
        _LIST_PAYMENTS,
        practice_id,
        patient_id,
        None if cursor is None else cursor.at is None,
        cursor.at if cursor else None,
        cursor.id if cursor else "",
        limit + 1,
    )
    items = [
        PatientPaymentOut(
            **_payment(p), payment_request_id=p["payment_request_id"], currency=p["currency"]
        )
        for p in rows[:limit]
    ]
    return items, _next(rows, limit, "paid_at")
