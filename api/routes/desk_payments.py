"""Front-desk payments: money taken outside the link (cash, cheque, the desk's terminal, a
transfer) recorded against a request. It goes through the workflow's ledger exactly as a card
payment does; only its `source` ("offline") tells them apart, and it never touches Stripe."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import service
from api.deps import CurrentPractice, Deps
from api.idempotency import IdempotencyKeyHeader
from api.resources import PaymentRequestOut, error_responses
from api.schemas.payment_requests import OfflinePaymentBody

router = APIRouter(prefix="/v1/payment-requests", tags=["payment requests"])


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
    return await service.record_offline_payment(deps, practice, request_id, body, idempotency_key)
