"""The patient's pay link (no API key: the token in the path is the credential).

GET /pay/{token} renders the page; the browser turns the card into a PaymentMethod with
Stripe.js and POSTs only its id to /pay/{token}/payments, which checks the amount against what
the workflow says remains now and creates and confirms the PaymentIntent ("finalize payments on
the server"). The balance itself changes only when Stripe's webhook confirms the payment; the
page polls /pay/{token}/status to show it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from temporalio.service import RPCError

from api.deps import AppDeps, Deps
from api.errors import ApiError, ErrorResponse
from api.pay_page import (
    STATIC_DIR,
    money,
    render_not_found,
    render_pay,
    render_rate_limited,
    security_headers,
)
from api.pay_tokens import PayLink, record_view
from api.ratelimit import PayRateLimiter, pay_rate_limiter
from payreq.stripe_inbox import CARD_LABEL_KEY, card_label
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import CLOSED_STATUSES, RequestState, workflow_id

STATIC_FILES = {"pay.js": "text/javascript", "pay.css": "text/css", "amounts.js": "text/javascript"}
STATIC_MAX_AGE_SECONDS = 300

router = APIRouter(tags=["pay link"])
Limiter = Annotated[PayRateLimiter, Depends(pay_rate_limiter)]


class PaymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: StrictInt = Field(gt=0, description="Minor units (cents).")
    payment_method: str = Field(pattern=r"^pm_[A-Za-z0-9_]{1,200}$")
    attempt_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Chosen by the browser per attempt; a retried POST reuses it.",
    )


class PaymentResult(BaseModel):
    payment_intent_id: str
    status: str  # succeeded, processing, requires_action
    client_secret: str


class LinkStatus(BaseModel):
    status: str
    currency: str
    amount_requested: int
    amount_paid: int
    amount_remaining: int
    amount_remaining_display: str
    closed: bool


@router.get(
    "/pay/{token}",
    response_class=HTMLResponse,
    summary="The patient's pay page",
    responses={
        404: {"description": "Unknown, tampered or revoked link.", "content": {"text/html": {}}},
        429: {"description": "Rate limited (Retry-After).", "content": {"text/html": {}}},
    },
)
async def pay_page(token: str, request: Request, deps: Deps, limiter: Limiter) -> Response:
    try:
        link = await limiter.check(request, token)
    except ApiError as exc:
        if exc.status == 404:
            return render_not_found(deps.settings)
        return render_rate_limited(deps.settings, (exc.headers or {}).get("Retry-After", "60"))
    if link.closed_as is None:
        await record_view(deps.pool, link.request_id, datetime.now(UTC))
    return render_pay(link, token, deps.settings)


@router.get(
    "/pay/{token}/status",
    response_model=LinkStatus,
    summary="What remains to pay on this link",
    responses={404: {"model": ErrorResponse}, 429: {"model": ErrorResponse}},
)
async def pay_status(token: str, request: Request, deps: Deps, limiter: Limiter) -> Response:
    link = await limiter.check(request, token)
    body = LinkStatus(
        status=str(link.closed_as or link.status),
        currency=link.currency,
        amount_requested=link.amount_requested,
        amount_paid=link.amount_paid,
        amount_remaining=link.amount_remaining,
        amount_remaining_display=money(link.amount_remaining, link.currency),
        closed=link.closed_as is not None,
    )
    return Response(body.model_dump_json(), media_type="application/json", headers=_no_store(deps))


@router.post(
    "/pay/{token}/payments",
    response_model=PaymentResult,
    summary="Pay with a PaymentMethod made by Stripe.js",
    responses={
        400: {"model": ErrorResponse, "description": "Malformed JSON."},
        402: {"model": ErrorResponse, "description": "The card was declined."},
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse, "description": "More than remains, or closed."},
        422: {"model": ErrorResponse, "description": "Below the minimum."},
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse, "description": "Stripe or Temporal unavailable."},
    },
)
async def create_payment(
    token: str, body: PaymentBody, request: Request, deps: Deps, limiter: Limiter
) -> PaymentResult:
    link = await limiter.check(request, token, payment=True)
    if link.closed_as is not None:
        raise ApiError(409, "request_closed", f"This payment request is {link.closed_as}.")
    state = await _current_state(deps, link.request_id)
    if state.status in CLOSED_STATUSES:
        raise ApiError(409, "request_closed", f"This payment request is {state.status}.")
    minimum = min(link.min_payment_amount, state.amount_remaining)
    if body.amount < minimum:
        raise ApiError(
            422,
            "amount_below_minimum",
            f"The amount must be at least {money(minimum, link.currency)}.",
            "amount",
        )
    if body.amount > state.amount_remaining:
        raise ApiError(
            409,
            "amount_exceeds_remaining",
            f"Only {money(state.amount_remaining, link.currency)} remains to pay.",
            "amount",
        )
    intent = await _create_intent(deps, link, body)
    return PaymentResult(
        payment_intent_id=intent["id"],
        status=intent["status"],
        client_secret=intent["client_secret"],
    )


@router.get("/static/pay/{name}", include_in_schema=False)
async def pay_static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", "No such file.")
    return FileResponse(
        STATIC_DIR / name,
        media_type=media_type,
        headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE_SECONDS}"},
    )


async def _current_state(deps: AppDeps, request_id: str) -> RequestState:
    handle = deps.temporal.get_workflow_handle(workflow_id(request_id))
    try:
        return await handle.query(PaymentRequestWorkflow.state)
    except RPCError as exc:
        raise ApiError(
            503, "temporarily_unavailable", "Payments are unavailable right now; try again."
        ) from exc


def idempotency_key(link: PayLink, body: PaymentBody) -> str:
    """Business ids only: a retried POST of the same attempt never charges twice."""
    attempt = body.attempt_id or "-"
    digest = hashlib.sha256(f"{attempt}|{body.payment_method}|{body.amount}".encode())
    return f"{link.request_id}:pay:{digest.hexdigest()[:32]}"


async def _create_intent(deps: AppDeps, link: PayLink, body: PaymentBody) -> dict[str, Any]:
    if deps.stripe is None:
        raise ApiError(503, "not_configured", "Card payments are not configured.")
    metadata = {"payment_request_id": link.request_id, "practice_id": link.practice_id}
    try:
        # The card's label ("visa •••• 4242") goes into the intent's metadata, so the webhook
        # names the payment without calling Stripe while it holds the event's row. Looked up
        # before the create, so a retried attempt sends the same parameters (idempotency).
        method = await deps.stripe.v1.payment_methods.retrieve_async(body.payment_method)
        label = card_label(method.to_dict().get("card"))
        if label:
            metadata[CARD_LABEL_KEY] = label
        intent = await deps.stripe.v1.payment_intents.create_async(
            {
                "amount": body.amount,
                "currency": link.currency,
                "payment_method": body.payment_method,
                # Cards only, so confirming needs no return_url. stripe 16 types this
                # parameter as allowed_payment_method_types (API 2026-10-28), which
                # localstripe rejects; both accept this long-standing name.
                "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
                "confirm": True,
                "metadata": metadata,
            },
            {"idempotency_key": idempotency_key(link, body)},
        )
    except stripe.CardError as exc:
        message = exc.user_message or "Your card was declined."
        raise ApiError(402, "card_declined", message) from exc
    except stripe.InvalidRequestError as exc:
        raise ApiError(
            422, "invalid_payment_method", "The card could not be used.", "payment_method"
        ) from exc
    except stripe.StripeError as exc:
        raise ApiError(
            503, "temporarily_unavailable", "Payments are unavailable right now; try again."
        ) from exc
    return intent.to_dict()


def _no_store(deps: AppDeps) -> dict[str, str]:
    headers = security_headers(deps.settings)
    return {k: headers[k] for k in ("Cache-Control", "Referrer-Policy", "X-Content-Type-Options")}
