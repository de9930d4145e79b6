"""The mapping between HTTP and the workflow: bodies become workflow inputs, workflow error
*types* become status codes. Handlers call these; they never talk to Temporal themselves."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import AppDeps, Practice
from api.errors import ApiError
from api.schemas import CreatePaymentRequest
from payreq.pay_links import PayLinks
from payreq.rendering.locale import DEFAULT_LANGUAGE, Language, language, money
from payreq.temporal import keyring
from workflows import currencies
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    SA_AMOUNT_REMAINING,
    SA_NEXT_ACTION_AT,
    SA_PRACTICE,
    SA_STATUS,
    Empty,
    ErrorType,
    PaymentRequestInput,
    ReminderPolicy,
    RequestState,
    Status,
    workflow_id,
)

CREATE_TIMEOUT = timedelta(seconds=30)
UPDATE_TIMEOUT = timedelta(seconds=30)
log = logging.getLogger("payreq.api")

# Business failures raised by the workflow, by type, to (status, code).
UPDATE_ERRORS: dict[str, tuple[int, str]] = {
    ErrorType.REQUEST_CLOSED: (409, "request_closed"),
    ErrorType.AMOUNT_BELOW_PAID: (409, "amount_below_paid"),
    ErrorType.INVALID_CHANGE: (422, "invalid_change"),
    ErrorType.REMAINDER_BELOW_MINIMUM: (422, "remainder_below_minimum"),
    ErrorType.AMOUNT_EXCEEDS_REMAINING: (409, "amount_exceeds_remaining"),
}


def random_request_id() -> str:
    return f"pr_{secrets.token_hex(12)}"


@dataclass(frozen=True, kw_only=True)
class PracticeDefaults:
    """What a new request takes from its practice when the create does not say."""

    policy: ReminderPolicy
    language: Language


async def practice_policy(deps: AppDeps, practice: Practice) -> ReminderPolicy:
    return (await practice_defaults(deps, practice)).policy


async def practice_defaults(deps: AppDeps, practice: Practice) -> PracticeDefaults:
    row = await deps.pool.fetchrow(
        """SELECT timezone, reminder_send_time, reminders_on_weekends, default_reminder_days,
                  default_expires_in_days, default_language FROM practices WHERE id = $1""",
        practice.id,
    )
    assert row is not None  # the key that authenticated this call belongs to it
    policy = ReminderPolicy(
        reminder_days=tuple(row["default_reminder_days"]),
        expires_in_days=row["default_expires_in_days"],
        timezone=row["timezone"],
        send_hour=row["reminder_send_time"].hour,
        send_minute=row["reminder_send_time"].minute,
        weekends_allowed=row["reminders_on_weekends"],
    )
    return PracticeDefaults(policy=policy, language=language(row["default_language"]))


def workflow_input(
    body: CreatePaymentRequest,
    practice: Practice,
    policy: ReminderPolicy,
    request_id: str,
    texting: bool = False,
    default_language: Language = DEFAULT_LANGUAGE,
) -> PaymentRequestInput:
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
        language=body.language or default_language,
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


async def start_request(deps: AppDeps, inp: PaymentRequestInput) -> RequestState | None:
    """Start the request's workflow (or join the one already running under this id) and wait
    until it has written the read model and issued the pay link. None: a workflow with this id
    already ran and closed (a retried create after a cancel or payment): it is never started
    again, and the caller answers from the read model."""
    expires = inp.created_at + timedelta(days=inp.policy.expires_in_days)
    op = WithStartWorkflowOperation(
        PaymentRequestWorkflow.run,
        inp,
        id=workflow_id(inp.request_id),
        task_queue=deps.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(SA_PRACTICE, inp.practice_id),
                SearchAttributePair(SA_STATUS, str(Status.PENDING)),
                SearchAttributePair(SA_AMOUNT_REMAINING, inp.amount),
                SearchAttributePair(SA_NEXT_ACTION_AT, expires),
            ]
        ),
    )
    try:
        async with asyncio.timeout(CREATE_TIMEOUT.total_seconds()):
            state: RequestState = await deps.temporal.execute_update_with_start_workflow(
                PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
            )
    except TimeoutError:
        raise _busy() from None
    except WorkflowAlreadyStartedError:
        return None
    except RPCError as exc:
        log.warning("create: temporal error %s", exc.status)
        raise _busy() from None
    return state


async def apply_update(deps: AppDeps, request_id: str, update: Any, arg: Any) -> None:
    handle = deps.temporal.get_workflow_handle(workflow_id(request_id))
    try:
        async with asyncio.timeout(UPDATE_TIMEOUT.total_seconds()):
            await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type in UPDATE_ERRORS:
            status, code = UPDATE_ERRORS[cause.type]
            raise ApiError(status, code, str(cause.message)) from None
        raise
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:  # the workflow closed a moment ago
            raise closed_error("closed") from None
        log.warning("update: temporal error %s", exc.status)
        raise _busy() from None
    except TimeoutError:
        raise _busy() from None


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


def _busy() -> ApiError:
    return ApiError(
        503, "temporarily_unavailable", "The service is busy; retry with the same Idempotency-Key."
    )


def closed_error(status: str) -> ApiError:
    return ApiError(409, "request_closed", f"The payment request is {status}.")
