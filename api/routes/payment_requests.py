"""Payment requests: create, read, cancel, resend, change. Thin handlers: validation is in
api.schemas, the operations (idempotency, workflow updates) in api.service, reads in api.queries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from api import service
from api.deps import CurrentPractice, Deps
from api.idempotency import IdempotencyKeyHeader
from api.metrics import Metrics, get_metrics
from api.resources import PaymentRequestOut, error_responses
from api.schemas.payment_requests import CancelBody, ChangeBody, CreatePaymentRequest, ResendBody

router = APIRouter(prefix="/v1/payment-requests", tags=["payment requests"])
CurrentMetrics = Annotated[Metrics, Depends(get_metrics)]


@router.post(
    "",
    status_code=201,
    response_model=PaymentRequestOut,
    responses=error_responses(400, 401, 409, 413, 422, 503),
    summary="Create a payment request and email it",
)
async def create_payment_request(
    body: CreatePaymentRequest,
    practice: CurrentPractice,
    deps: Deps,
    metrics: CurrentMetrics,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Starts the request's workflow and answers once the request is recorded and its pay
    link issued (status `pending` until the first email is accepted, then `sent`)."""
    return await service.create_request(deps, practice, body, idempotency_key, metrics)


@router.get(
    "/{request_id}",
    response_model=PaymentRequestOut,
    responses=error_responses(401, 404, 422),
    summary="A payment request with its payments and event timeline",
)
async def get_payment_request(
    request_id: str, practice: CurrentPractice, deps: Deps
) -> PaymentRequestOut:
    return await service.resource(deps, practice.id, request_id)


@router.post(
    "/{request_id}/cancel",
    response_model=PaymentRequestOut,
    responses=error_responses(400, 401, 404, 409, 413, 422, 503),
    summary="Cancel a request; its pay link stops working at once",
)
async def cancel_payment_request(
    request_id: str,
    practice: CurrentPractice,
    deps: Deps,
    body: Annotated[CancelBody | None, Body()] = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    return await service.cancel_request(deps, practice, request_id, body, idempotency_key)


@router.post(
    "/{request_id}/resend",
    response_model=PaymentRequestOut,
    responses=error_responses(400, 401, 404, 409, 413, 422, 503),
    summary="Send the request email again now, optionally to new addresses",
)
async def resend_payment_request(
    request_id: str,
    practice: CurrentPractice,
    deps: Deps,
    body: Annotated[ResendBody | None, Body()] = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    return await service.resend_request(deps, practice, request_id, body, idempotency_key)


@router.patch(
    "/{request_id}",
    response_model=PaymentRequestOut,
    responses=error_responses(400, 401, 404, 409, 413, 422, 503),
    summary="Change the amount requested, or pause/resume reminders",
)
async def change_payment_request(
    request_id: str, body: ChangeBody, practice: CurrentPractice, deps: Deps
) -> JSONResponse:
    return await service.change_request(deps, practice, request_id, body)
