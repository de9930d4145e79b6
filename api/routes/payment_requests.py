"""Payment requests: create, read, cancel, resend, change. Thin handlers: validation is in
api.schemas, the workflow mapping in api.service, reads in api.queries."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from asyncpg import Record
from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import idempotency, queries, service
from api.deps import CurrentPractice, Deps, Practice
from api.idempotency import IdempotencyKeyHeader
from api.metrics import Metrics, get_metrics
from api.resources import PaymentRequestOut, error_responses
from api.schemas import CancelBody, ChangeBody, CreatePaymentRequest, ResendBody
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import CLOSED_STATUSES, CancelInput, ChangeInput, ResendInput

router = APIRouter(prefix="/v1/payment-requests", tags=["payment requests"])
CurrentMetrics = Annotated[Metrics, Depends(get_metrics)]
CREATE_PATH = "/v1/payment-requests"


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
    if idempotency_key is None:
        request_id = service.random_request_id()
    else:
        request_id = idempotency.derived_id("pr", practice.id, idempotency_key)

    async def create(first: bool) -> tuple[int, BaseModel]:
        defaults = await service.practice_defaults(deps, practice)
        inp = service.workflow_input(
            body,
            practice,
            defaults.policy,
            request_id,
            deps.settings.twilio_account_sid is not None,
            defaults.language,
        )
        state = await service.start_request(deps, inp)
        if first:
            metrics.workflows_started.inc()
        row = await queries.request_row(deps.pool, practice.id, request_id)
        pay_url = state.pay_url if state else None  # None: it closed before this retry
        return 201, await queries.request_resource(deps.pool, row, pay_url)

    request_hash = idempotency.fingerprint("POST", CREATE_PATH, body)
    return await idempotency.once(
        deps.pool,
        practice.id,
        idempotency_key,
        request_hash,
        create,
        join_in_flight=True,
        present=partial(service.with_pay_url, deps),
    )


@router.get(
    "/{request_id}",
    response_model=PaymentRequestOut,
    responses=error_responses(401, 404, 422),
    summary="A payment request with its payments and event timeline",
)
async def get_payment_request(
    request_id: str, practice: CurrentPractice, deps: Deps
) -> PaymentRequestOut:
    return await _present(deps, await queries.request_row(deps.pool, practice.id, request_id))


async def _present(deps: Deps, row: Record) -> PaymentRequestOut:
    """The resource from the read model, the pay link derived again (never stored)."""
    open_ = row["status"] not in CLOSED_STATUSES
    pay_url = await service.pay_url(deps, row["id"]) if open_ else None
    return await queries.request_resource(deps.pool, row, pay_url)


async def _act(
    deps: Deps,
    practice: Practice,
    request_id: str,
    update: Any,
    arg: Any,
    key: str | None,
    body: BaseModel | None,
    action: str,
) -> JSONResponse:
    """Run one workflow update for an open request of this practice, then answer with the
    resource as the read model has it (the update returns after its read-model write)."""
    row = await queries.request_row(deps.pool, practice.id, request_id)

    async def act(_: bool) -> tuple[int, BaseModel]:
        if row["status"] in CLOSED_STATUSES:
            raise service.closed_error(row["status"])
        await service.apply_update(deps, request_id, update, arg)
        return 200, await _present(
            deps, await queries.request_row(deps.pool, practice.id, request_id)
        )

    request_hash = idempotency.fingerprint("POST", f"{CREATE_PATH}/{request_id}/{action}", body)
    return await idempotency.once(
        deps.pool,
        practice.id,
        key,
        request_hash,
        act,
        join_in_flight=False,
        present=partial(service.with_pay_url, deps),
    )


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
    arg = CancelInput(reason=body.reason if body else "")
    return await _act(
        deps,
        practice,
        request_id,
        PaymentRequestWorkflow.cancel,
        arg,
        idempotency_key,
        body,
        "cancel",
    )


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
    emails = tuple(body.emails) if body and body.emails else None
    return await _act(
        deps,
        practice,
        request_id,
        PaymentRequestWorkflow.resend,
        ResendInput(emails=emails),
        idempotency_key,
        body,
        "resend",
    )


@router.patch(
    "/{request_id}",
    response_model=PaymentRequestOut,
    responses=error_responses(400, 401, 404, 409, 413, 422, 503),
    summary="Change the amount requested, or pause/resume reminders",
)
async def change_payment_request(
    request_id: str, body: ChangeBody, practice: CurrentPractice, deps: Deps
) -> JSONResponse:
    arg = ChangeInput(amount=body.amount, reminders_paused=body.reminders_paused)
    return await _act(
        deps, practice, request_id, PaymentRequestWorkflow.change, arg, None, body, "change"
    )
