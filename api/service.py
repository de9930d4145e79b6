"""The operations on payment requests: create, cancel, resend, change, record a desk payment.
Each maps its body to the workflow's input, runs once per Idempotency-Key, calls the workflow
(api.workflow_client) and answers from the read model. Handlers, the practice API's and the
staff panel's alike, call these; they never talk to Temporal themselves."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import idempotency, queries
from api.deps import DEFAULTS_COLUMNS, AppDeps, Practice, PracticeDefaults, defaults_of
from api.errors import ApiError
from api.metrics import Metrics
from api.resources import EventOut, PaymentRequestOut
from api.schemas.fields import Facility
from api.schemas.payment_requests import (
    CancelBody,
    ChangeBody,
    CreatePaymentRequest,
    OfflinePaymentBody,
    ResendBody,
)
from api.workflow_client import apply_update, closed_error, start_request
from payreq.pay_links import PayLinks
from payreq.rendering.locale import language, money
from payreq.temporal import keyring
from workflows import currencies
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    CLOSED_STATUSES,
    CancelInput,
    ChangeInput,
    EventType,
    OfflinePaymentInput,
    PaymentRequestInput,
    RequestState,
    ResendInput,
)

REQUESTS_PATH = "/v1/payment-requests"  # keys are fingerprinted with the practice API's paths


async def create_request(
    deps: AppDeps,
    practice: Practice,
    body: CreatePaymentRequest,
    key: str | None,
    metrics: Metrics,
) -> JSONResponse:
    """Start the request's workflow and answer (201) once the request is recorded and its pay
    link issued. A retried key answers the first response; a key whose request has closed
    since answers the closed request, which is never started again."""
    request_id = (
        random_request_id() if key is None else idempotency.derived_id("pr", practice.id, key)
    )

    async def create(first: bool) -> tuple[int, BaseModel]:
        defaults = await practice_defaults(deps, practice)
        texting = deps.settings.twilio_account_sid is not None
        inp = workflow_input(body, practice, defaults, request_id, texting)
        # Returns once the read model has the request and its link (None: it closed before
        # this retry); either way the answer is the read model's, in one statement.
        state = await start_request(deps, inp)
        if first:
            metrics.workflows_started.inc()
        if first and state is not None and state.created_event_at and not state.payments:
            # as the read model has it: no read
            return 201, created_resource(inp, state, state.created_event_at)
        return 201, await resource(deps, practice.id, request_id)

    return await idempotency.once(
        deps.pool,
        practice.id,
        key,
        idempotency.fingerprint("POST", REQUESTS_PATH, body),
        create,
        join_in_flight=True,
        present=partial(with_pay_url, deps),
    )


async def cancel_request(
    deps: AppDeps, practice: Practice, request_id: str, body: CancelBody | None, key: str | None
) -> JSONResponse:
    arg = CancelInput(reason=body.reason if body else "")
    return await _act(
        deps, practice, request_id, "cancel", _Update(PaymentRequestWorkflow.cancel, arg), key, body
    )


async def resend_request(
    deps: AppDeps, practice: Practice, request_id: str, body: ResendBody | None, key: str | None
) -> JSONResponse:
    arg = ResendInput(emails=tuple(body.emails) if body and body.emails else None)
    return await _act(
        deps, practice, request_id, "resend", _Update(PaymentRequestWorkflow.resend, arg), key, body
    )


async def change_request(
    deps: AppDeps, practice: Practice, request_id: str, body: ChangeBody
) -> JSONResponse:
    """PATCH takes no Idempotency-Key: setting an amount or a flag twice is the same change."""
    arg = ChangeInput(amount=body.amount, reminders_paused=body.reminders_paused)
    return await _act(
        deps,
        practice,
        request_id,
        "change",
        _Update(PaymentRequestWorkflow.change, arg),
        None,
        body,
    )


async def record_offline_payment(
    deps: AppDeps,
    practice: Practice,
    request_id: str,
    body: OfflinePaymentBody,
    key: str | None,
) -> JSONResponse:
    """A desk payment through the workflow's ledger, answered with 201 and the resource."""
    arg = OfflinePaymentInput(
        payment_id=_offline_payment_id(practice, key),
        amount=body.amount,
        method=body.method,
        reference=body.reference,
        received_at=body.received_at,
    )
    update = _Update(PaymentRequestWorkflow.record_offline_payment, arg, status_code=201)
    return await _act(deps, practice, request_id, "payments", update, key, body)


@dataclass(frozen=True)
class _Update:
    """One workflow update and the status code its success answers with."""

    method: Any
    arg: Any
    status_code: int = 200


async def _act(
    deps: AppDeps,
    practice: Practice,
    request_id: str,
    action: str,
    update: _Update,
    key: str | None,
    body: BaseModel | None,
) -> JSONResponse:
    """Run one workflow update for an open request of this practice, then answer with the
    resource as the read model has it (the update returns after its read-model write)."""
    row = await queries.request_row(deps.pool, practice.id, request_id)

    async def act(_: bool) -> tuple[int, BaseModel]:
        if row["status"] in CLOSED_STATUSES:
            raise closed_error(row["status"])
        await apply_update(deps, request_id, update.method, update.arg)
        return update.status_code, await resource(deps, practice.id, request_id)

    path = f"{REQUESTS_PATH}/{request_id}/{action}"
    return await idempotency.once(
        deps.pool,
        practice.id,
        key,
        idempotency.fingerprint("POST", path, body),
        act,
        join_in_flight=False,
        present=partial(with_pay_url, deps),
    )


async def resource(deps: AppDeps, practice_id: str, request_id: str) -> PaymentRequestOut:
    """The resource from the read model (one statement), the pay link derived again."""
    links = pay_links(deps)
    return await queries.request_resource(deps.pool, practice_id, request_id, links.url_for)


def created_resource(
    inp: PaymentRequestInput, state: RequestState, created: datetime
) -> PaymentRequestOut:
    """A request this call started, as the workflow's record of it put it in the read model
    (the update returns once it has): the same resource a GET reads then."""
    return PaymentRequestOut(
        id=inp.request_id,
        patient_id=inp.patient_id,
        created_at=inp.created_at,
        first_name=inp.first_name,
        last_name=inp.last_name,
        full_name=queries.names(inp.first_name, inp.last_name),
        facility=Facility(id=inp.facility_id, name=inp.facility_name),
        emails=list(state.emails),
        phones=list(state.phones),
        note=inp.note,
        currency=inp.currency,
        language=language(inp.language),
        amount_requested=state.amount_requested,
        amount_paid=state.amount_paid,
        amount_remaining=state.amount_remaining,
        status=state.status,
        pay_url=state.pay_url or None,
        reminders_sent=state.reminders_sent,
        reminders_paused=state.reminders_paused,
        next_reminder_at=state.next_reminder_at,
        expires_at=state.expires_at,
        payments=[],
        events=[EventOut(at=created, type=str(EventType.CREATED), detail="")],
    )


def random_request_id() -> str:
    return f"pr_{secrets.token_hex(12)}"


def _offline_payment_id(practice: Practice, key: str | None) -> str:
    """Keyed: every retry names one payment, so the workflow applies it once."""
    if key is None:
        return f"off_{secrets.token_hex(12)}"
    return idempotency.derived_id("off", practice.id, key)


async def practice_defaults(deps: AppDeps, practice: Practice) -> PracticeDefaults:
    """As read with the caller's practice, else read now."""
    if practice.defaults is not None:
        return practice.defaults
    row = await deps.pool.fetchrow(
        f"SELECT {DEFAULTS_COLUMNS} FROM practices p WHERE p.id = $1", practice.id
    )
    assert row is not None  # the key that authenticated this call belongs to it
    return defaults_of(row)


def workflow_input(
    body: CreatePaymentRequest,
    practice: Practice,
    defaults: PracticeDefaults,
    request_id: str,
    texting: bool = False,
) -> PaymentRequestInput:
    policy = defaults.policy
    if body.reminder_days is not None:
        policy = replace(policy, reminder_days=tuple(sorted(set(body.reminder_days))))
    if body.expires_in_days is not None:
        policy = replace(policy, expires_in_days=body.expires_in_days)
    assert body.amount is not None  # the schema defaults it to balance_due
    check_chargeable(body.currency, body.amount)
    if not body.emails and not body.phones:
        raise ApiError(
            422, "recipient_required", "Give at least one email address or phone.", "emails"
        )
    return PaymentRequestInput(
        request_id=request_id,
        practice_id=practice.id,
        patient_id=body.patient.id,
        first_name=body.first_name or body.patient.first_name,
        last_name=body.last_name or body.patient.last_name,
        facility_id=body.facility.id,
        facility_name=body.facility.name,
        emails=tuple(body.emails),
        phones=tuple(body.phones),
        texting=texting,
        note=body.note,
        currency=body.currency,
        amount=body.amount,
        created_at=datetime.now(UTC),
        policy=policy,
        language=body.language or defaults.language,
    )


def check_chargeable(code: str, amount: int) -> None:
    """A request must be payable by card: at least Stripe's minimum charge, in its steps."""
    found = currencies.currency(code)
    if found is not None and amount < found.minimum:
        raise ApiError(
            422,
            "amount_below_minimum",
            f"The amount must be at least {money(found.minimum, code)}, the smallest card "
            "payment in this currency.",
            "amount",
        )
    problem = currencies.amount_problem(code, amount)
    if problem:
        raise ApiError(422, "invalid_value", f"amount: {problem}.", "amount")


async def pay_url(deps: AppDeps, request_id: str) -> str | None:
    """The open request's pay link, derived again from its id and the key id Postgres keeps
    (payreq/pay_links.py): reads never ask Temporal, and no table holds the token."""
    kid = await deps.pool.fetchval(
        "SELECT key_id FROM pay_tokens WHERE payment_request_id = $1 AND revoked_at IS NULL",
        request_id,
    )
    return pay_links(deps).url_for(kid, request_id) if kid else None


def pay_links(deps: AppDeps) -> PayLinks:
    return PayLinks(keyring(deps.settings), deps.settings.public_base_url)


async def with_pay_url(deps: AppDeps, response: dict[str, object]) -> dict[str, object]:
    """A stored payment-request response (stored without its link) with the link as of now."""
    return {**response, "pay_url": await pay_url(deps, str(response["id"]))}
