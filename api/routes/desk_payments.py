"""Front-desk payments: money taken outside the link (cash, cheque, the desk's terminal, a
transfer) recorded against a request. It goes through the workflow's ledger exactly as a card
payment does; only its `source` ("offline") tells them apart, and it never touches Stripe."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from api import idempotency, queries, service
from api.deps import CurrentPractice, Deps, Practice
from api.idempotency import IdempotencyKeyHeader
from api.resources import PaymentRequestOut, error_responses
from api.schemas import Amount, _no_nul
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import CLOSED_STATUSES, OfflinePaymentInput

router = APIRouter(prefix="/v1/payment-requests", tags=["payment requests"])
MAX_REFERENCE = 200
# A desk clock a little ahead of ours is not a payment from the future.
CLOCK_SKEW = timedelta(minutes=2)
OfflineMethod = Literal["cash", "check", "card_present", "bank_transfer", "other"]


class OfflinePaymentBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount": 4000, "method": "check", "reference": "chk 1042"}]
        },
    )
    amount: Amount
    method: OfflineMethod
    reference: Annotated[str, Field(max_length=MAX_REFERENCE), AfterValidator(_no_nul)] = ""
    received_at: AwareDatetime | None = Field(
        None, description="When the desk took the money; now when omitted. Never in the future."
    )

    @field_validator("received_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("received_at is in the future")
        return value


@router.post(
    "/{request_id}/payments",
    status_code=201,
    response_model=PaymentRequestOut,
    responses=error_responses(400, 401, 404, 409, 413, 422, 503),
    summary="Record a payment taken at the front desk (cash, check, card terminal, transfer)",
)
async def record_offline_payment(
    request_id: str,
    body: OfflinePaymentBody,
    practice: CurrentPractice,
    deps: Deps,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Reduces the balance like a card payment (paid in full: `paid`, a receipt, no more
    reminders). 409 `amount_exceeds_remaining` over what remains, `request_closed` once closed."""
    row = await queries.request_row(deps.pool, practice.id, request_id)
    arg = OfflinePaymentInput(
        payment_id=_payment_id(practice, idempotency_key),
        amount=body.amount,
        method=body.method,
        reference=body.reference,
        received_at=body.received_at,
    )

    async def act(_: bool) -> tuple[int, BaseModel]:
        if row["status"] in CLOSED_STATUSES:
            raise service.closed_error(row["status"])
        await service.apply_update(
            deps, request_id, PaymentRequestWorkflow.record_offline_payment, arg
        )
        fresh = await queries.request_row(deps.pool, practice.id, request_id)
        open_ = fresh["status"] not in CLOSED_STATUSES
        pay_url = await service.pay_url(deps, request_id) if open_ else None
        return 201, await queries.request_resource(deps.pool, fresh, pay_url)

    path = f"/v1/payment-requests/{request_id}/payments"
    return await idempotency.once(
        deps.pool,
        practice.id,
        idempotency_key,
        idempotency.fingerprint("POST", path, body),
        act,
        join_in_flight=False,
        present=partial(service.with_pay_url, deps),
    )


def _payment_id(practice: Practice, key: str | None) -> str:
    """Keyed: every retry names one payment, so the workflow applies it once."""
    if key is None:
        return f"off_{secrets.token_hex(12)}"
    return idempotency.derived_id("off", practice.id, key)
