"""The embeddable staff panel's API.

POST /v1/staff-sessions (practice API key) mints the panel's client secret. Everything under
/embed/api is the panel's own JSON API, authorised by that secret alone (header
`Payreq-Staff-Session`) and confined to its practice and patient. These handlers call the same
operations the /v1 routes do (api.service: the same validation, idempotency, workflow updates
and read-model queries); they only add the session's scope.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from api import queries, service
from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.idempotency import IdempotencyKeyHeader
from api.metrics import Metrics, get_metrics
from api.resources import PaymentList, PaymentRequestList, PaymentRequestOut, error_responses
from api.schemas.fields import Email, split_emails
from api.schemas.payment_requests import CancelBody, CreatePaymentRequest, OfflinePaymentBody
from api.schemas.staff import AddressCheck, EmailsCheck, EmailsIn, PanelCreate, StaffSessionOut
from api.staff_sessions import CurrentSession, StaffSession, StaffSessionIn, create_session

router = APIRouter()
CurrentMetrics = Annotated[Metrics, Depends(get_metrics)]
PANEL_LIST_LIMIT = 100  # the panel shows one patient's newest 100 of each list
_EMAIL = TypeAdapter(Email)


@router.post(
    "/v1/staff-sessions",
    status_code=201,
    response_model=StaffSessionOut,
    responses=error_responses(400, 401, 413, 422),
    tags=["staff panel"],
    summary="Open the embeddable staff panel for one patient (a 15-minute client secret)",
    description="The secret authorises the panel for this practice and patient only. It is "
    "never stored, so an Idempotency-Key is not replayed here: a retried call makes another "
    "session and the unused one expires.",
)
async def create_staff_session(
    body: StaffSessionIn, practice: CurrentPractice, deps: Deps
) -> StaffSessionOut:
    secret, expires_at = await create_session(deps.pool, practice, body, datetime.now(UTC))
    return StaffSessionOut(client_secret=secret, expires_at=expires_at)


def _create_body(session: StaffSession, form: PanelCreate) -> CreatePaymentRequest:
    """The practice API's own body, validated by the practice API's own model."""
    facility = session.facility(form.facility_id)
    if facility is None:
        raise ApiError(422, "invalid_value", "Choose one of the facilities.", "facility_id")
    try:
        return CreatePaymentRequest.model_validate(
            {
                "patient": session.patient.model_dump(),
                "balance_due": session.balance_due,
                "amount": form.amount,
                "first_name": form.first_name,
                "last_name": form.last_name,
                "facility": facility.model_dump(),
                "emails": form.emails,
                "phones": form.phones,
                "note": form.note,
                "currency": session.currency,
            }
        )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def _own_request(deps: Deps, session: StaffSession, request_id: str) -> None:
    """404 unless the request is this session's practice's *and* patient's."""
    row = await queries.request_row(deps.pool, session.practice.id, request_id)
    if row["patient_id"] != session.patient.id:
        raise ApiError(404, "not_found", "No such payment request.")


def _panel_key(session: StaffSession, key: str | None) -> str | None:
    """Browser keys live in their own namespace, apart from the practice software's keys."""
    return None if key is None else f"panel:{session.secret_hash.hex()[:16]}:{key}"


@router.get("/embed/api/payment-requests", include_in_schema=False)
async def panel_requests(session: CurrentSession, deps: Deps) -> PaymentRequestList:
    data, _ = await queries.list_requests(
        deps.pool, session.practice.id, session.patient.id, "open", None, PANEL_LIST_LIMIT
    )
    return PaymentRequestList(data=data, next_cursor=None)


@router.get("/embed/api/payments", include_in_schema=False)
async def panel_payments(session: CurrentSession, deps: Deps) -> PaymentList:
    data, _ = await queries.list_payments(
        deps.pool, session.practice.id, session.patient.id, None, PANEL_LIST_LIMIT
    )
    return PaymentList(data=data, next_cursor=None)


@router.post(
    "/embed/api/payment-requests",
    status_code=201,
    response_model=PaymentRequestOut,
    include_in_schema=False,
)
async def panel_create(
    form: PanelCreate,
    session: CurrentSession,
    deps: Deps,
    metrics: CurrentMetrics,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    body = _create_body(session, form)
    key = _panel_key(session, idempotency_key)
    return await service.create_request(deps, session.practice, body, key, metrics)


@router.post("/embed/api/payment-requests/{request_id}/cancel", include_in_schema=False)
async def panel_cancel(
    request_id: str,
    session: CurrentSession,
    deps: Deps,
    body: Annotated[CancelBody | None, Body()] = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    await _own_request(deps, session, request_id)
    key = _panel_key(session, idempotency_key)
    return await service.cancel_request(deps, session.practice, request_id, body, key)


@router.post("/embed/api/payment-requests/{request_id}/resend", include_in_schema=False)
async def panel_resend(
    request_id: str,
    session: CurrentSession,
    deps: Deps,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    await _own_request(deps, session, request_id)
    key = _panel_key(session, idempotency_key)
    return await service.resend_request(deps, session.practice, request_id, None, key)


@router.post(
    "/embed/api/payment-requests/{request_id}/payments", status_code=201, include_in_schema=False
)
async def panel_record_payment(
    request_id: str,
    body: OfflinePaymentBody,
    session: CurrentSession,
    deps: Deps,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    await _own_request(deps, session, request_id)
    key = _panel_key(session, idempotency_key)
    return await service.record_offline_payment(deps, session.practice, request_id, body, key)


@router.post("/embed/api/emails/check", include_in_schema=False)
async def panel_check_emails(body: EmailsIn, session: CurrentSession) -> EmailsCheck:
    """Each address judged by the practice API's own validator, so the form can point out
    every bad one before sending."""
    checks = []
    parts: Any = split_emails(body.emails)
    for address in parts[:50]:
        try:
            _EMAIL.validate_python(address)
            checks.append(AddressCheck(address=address, error=None))
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            checks.append(AddressCheck(address=address, error=message))
    return EmailsCheck(addresses=checks)
