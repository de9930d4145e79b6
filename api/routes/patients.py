"""A patient's "Payment Requests" and "Payments" lists, from the read model, newest first,
keyset-paginated with an opaque cursor."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api import queries
from api.deps import CurrentPractice, Deps
from api.resources import PaymentList, PaymentRequestList, error_responses
from api.schemas.fields import MAX_ID

router = APIRouter(prefix="/v1/patients", tags=["patients"])

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

PatientId = Annotated[str, Path(min_length=1, max_length=MAX_ID, pattern=r"^[^\x00-\x1f\x7f]+$")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, at most 100.")]
CursorParam = Annotated[
    str | None,
    Query(max_length=500, description="`next_cursor` of the previous page."),
]
StatusFilter = Literal[
    "open",
    "all",
    "pending",
    "sent",
    "partially_paid",
    "paid",
    "cancelled",
    "expired",
    "delivery_failed",
]


@router.get(
    "/{patient_id}/payment-requests",
    response_model=PaymentRequestList,
    responses=error_responses(401, 422),
    summary="The patient's Payment Requests list",
)
async def list_payment_requests(
    patient_id: PatientId,
    practice: CurrentPractice,
    deps: Deps,
    status: Annotated[
        StatusFilter,
        Query(
            description="`open` (default): what still has something to collect (not paid, "
            "cancelled or expired); `all`; or one status."
        ),
    ] = "open",
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> PaymentRequestList:
    after = queries.Cursor.decode(cursor) if cursor else None
    data, next_cursor = await queries.list_requests(
        deps.pool, practice.id, patient_id, status, after, limit
    )
    return PaymentRequestList(data=data, next_cursor=next_cursor)


@router.get(
    "/{patient_id}/payments",
    response_model=PaymentList,
    responses=error_responses(401, 422),
    summary="Every payment toward the patient's requests",
)
async def list_payments(
    patient_id: PatientId,
    practice: CurrentPractice,
    deps: Deps,
    limit: Limit = DEFAULT_LIMIT,
    cursor: CursorParam = None,
) -> PaymentList:
    after = queries.Cursor.decode(cursor) if cursor else None
    data, next_cursor = await queries.list_payments(
        deps.pool, practice.id, patient_id, after, limit
    )
    return PaymentList(data=data, next_cursor=next_cursor)
