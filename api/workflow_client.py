"""How the API talks to a request's workflow: start it (update-with-start, answered once the
read model has it) and apply one update, with the workflow's error *types* mapped to status
codes and Temporal's unavailability to a 503. Only api.service calls these."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
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

from api.deps import AppDeps
from api.errors import ApiError
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    SA_AMOUNT_REMAINING,
    SA_NEXT_ACTION_AT,
    SA_PRACTICE,
    SA_STATUS,
    Empty,
    ErrorType,
    PaymentRequestInput,
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
        raise busy() from None
    except WorkflowAlreadyStartedError:
        return None
    except RPCError as exc:
        log.warning("create: temporal error %s", exc.status)
        raise busy() from None
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
        raise busy() from None
    except TimeoutError:
        raise busy() from None


def busy() -> ApiError:
    return ApiError(
        503, "temporarily_unavailable", "The service is busy; retry with the same Idempotency-Key."
    )


def closed_error(status: str) -> ApiError:
    return ApiError(409, "request_closed", f"The payment request is {status}.")
