"""The practice's books: every payment and refund in a date range, as JSON pages or one CSV
streamed page by page (for posting to the practice's ledger). See api/books.py for the rows."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api import books
from api.deps import CurrentPractice, Deps
from api.queries import Cursor
from api.resources import error_responses
from api.schemas.fields import MAX_ID

router = APIRouter(prefix="/v1", tags=["exports"])

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
CSV_PAGE = 500
CSV_COLUMNS = (
    "paid_at",
    "payment_request_id",
    "patient_id",
    "facility_id",
    "amount",
    "currency",
    "method",
    "source",
    "status",
    "refunded_amount",
    "stripe_payment_intent_id",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_DATES = (
    "Dates are inclusive and are dates in the practice's time zone (`timezone` in "
    "GET /v1/practice): `to=2026-12-31` includes everything up to midnight at the end of that "
    "day there."
)
From = Annotated[date, Query(alias="from", description="First day, `YYYY-MM-DD`. " + _DATES)]
To = Annotated[date, Query(description="Last day, `YYYY-MM-DD`, inclusive.")]
FacilityId = Annotated[
    str | None,
    Query(max_length=MAX_ID, pattern=r"^[^\x00-\x1f\x7f]+$", description="Only this facility."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 100.")]
CursorParam = Annotated[
    str | None, Query(max_length=500, description="`next_cursor` of the previous page.")
]

_ROWS = (
    "A payment row per payment (`kind: payment`, dated when paid) and a refund row per refund "
    "(`kind: refund`, `status: refund`, dated when refunded), newest first. A payment's refund "
    "rows add up to its `refunded_amount`: one per refund the service made, and one for any "
    "remainder refunded in Stripe's dashboard, dated when the service learned of it."
)


@router.get(
    "/payments",
    response_model=books.BookList,
    responses=error_responses(401, 422),
    summary="Every payment and refund of the practice",
    description=_ROWS + " " + _DATES,
)
async def list_payments(
    practice: CurrentPractice,
    deps: Deps,
    from_: From,
    to: To,
    facility_id: FacilityId = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> books.BookList:
    after = Cursor.decode(cursor) if cursor else None
    span = books.local_range(from_, to, await books.practice_zone(deps.pool, practice.id))
    data, next_cursor = await books.list_books(
        deps.pool, practice.id, span, facility_id, after, limit
    )
    return books.BookList(data=data, next_cursor=next_cursor)


@router.get(
    "/payments.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "A header row, then one per row."},
        **error_responses(401, 422),
    },
    summary="The same rows as CSV",
    description=_ROWS + " Columns: " + ", ".join(CSV_COLUMNS) + ". Amounts in minor units; "
    "text that a spreadsheet would run as a formula is prefixed with `'`. " + _DATES,
)
async def payments_csv(
    practice: CurrentPractice, deps: Deps, from_: From, to: To, facility_id: FacilityId = None
) -> StreamingResponse:
    span = books.local_range(from_, to, await books.practice_zone(deps.pool, practice.id))
    return StreamingResponse(
        _csv_pages(deps.pool, practice.id, span, facility_id),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="payments-{from_}-{to}.csv"',
        },
    )


async def _csv_pages(
    pool: asyncpg.Pool, practice_id: str, span: books.Range, facility_id: str | None
) -> AsyncIterator[str]:
    """The header, then a page of rows at a time: the export is never built whole in memory."""
    yield _csv_text([CSV_COLUMNS])
    after: Cursor | None = None
    while True:
        rows, next_cursor = await books.list_books(
            pool, practice_id, span, facility_id, after, CSV_PAGE
        )
        yield _csv_text([_csv_row(r) for r in rows])
        if next_cursor is None:
            return
        after = Cursor.decode(next_cursor)


def _csv_text(rows: Sequence[Sequence[str | int]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _csv_row(row: books.BookRow) -> tuple[str | int, ...]:
    return (
        row.paid_at.isoformat().replace("+00:00", "Z"),
        cell(row.payment_request_id),
        cell(row.patient_id),
        cell(row.facility_id),
        row.amount,
        cell(row.currency),
        cell(row.method or ""),
        cell(row.source),
        cell(row.status),
        row.refunded_amount,
        cell(row.stripe_payment_intent_id),
    )


def cell(text: str) -> str:
    """Text as a spreadsheet shows it, never as a formula it runs."""
    return "'" + text if text.startswith(_FORMULA_START) else text
