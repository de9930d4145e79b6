"""The patient's pay link (no API key: the token in the path is the credential).

GET /pay/{token} renders the page; the browser collects the payment with Stripe's Payment
Element, turns it into a ConfirmationToken with Stripe.js and POSTs only its id (or, from older
integrations, a PaymentMethod id) to /pay/{token}/payments, which checks the amount against what
the read model says remains now (it never asks Temporal) and creates and confirms the
PaymentIntent ("finalize payments on the server"). The balance itself changes only when
Stripe's webhook confirms the payment; the page polls /pay/{token}/status to show it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.deps import AppDeps, Deps
from api.errors import ApiError, ErrorResponse
from api.pay_page import (
    STATIC_DIR,
    render_not_found,
    render_pay,
    render_rate_limited,
    security_headers,
)
from api.pay_tokens import PayLink, record_view
from api.ratelimit import PayRateLimiter, pay_rate_limiter
from api.schemas.pay import LinkStatus, PaymentBody, PaymentResult
from payreq.rendering.locale import money
from payreq.stripe.payments import (
    AttemptMismatch,
    Charge,
    PaymentDeclined,
    PaymentMethodUnusable,
    pay,
)
from workflows.currencies import amount_problem, leaves_unpayable_remainder, minimum_charge

STATIC_FILES = {"pay.js": "text/javascript", "pay.css": "text/css", "amounts.js": "text/javascript"}
STATIC_MAX_AGE_SECONDS = 300

router = APIRouter(tags=["pay link"])
Limiter = Annotated[PayRateLimiter, Depends(pay_rate_limiter)]


@router.get(
    "/pay/{token}",
    response_class=HTMLResponse,
    summary="The patient's pay page",
    responses={
        404: {"description": "Unknown, tampered or revoked link.", "content": {"text/html": {}}},
        429: {"description": "Rate limited (Retry-After).", "content": {"text/html": {}}},
    },
)
async def pay_page(
    token: str, request: Request, deps: Deps, limiter: Limiter, lang: str | None = None
) -> Response:
    """`?lang=en` or `?lang=es` (the page's language switcher) overrides the request's language;
    anything else is ignored."""
    try:
        link = await limiter.check(request, token)
    except ApiError as exc:
        if exc.status == 404:
            return render_not_found(deps.settings)
        return render_rate_limited(deps.settings, (exc.headers or {}).get("Retry-After", "60"))
    if link.closed_as is None:
        await record_view(deps.pool, link.request_id, datetime.now(UTC))
    return render_pay(link, token, deps.settings, lang)


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
        min_amount=link.min_amount,
        closed=link.closed_as is not None,
    )
    return Response(body.model_dump_json(), media_type="application/json", headers=_no_store(deps))


@router.post(
    "/pay/{token}/payments",
    response_model=PaymentResult,
    summary="Pay with a ConfirmationToken (or PaymentMethod) made by Stripe.js",
    responses={
        400: {"model": ErrorResponse, "description": "Malformed JSON."},
        402: {"model": ErrorResponse, "description": "The card was declined."},
        404: {"model": ErrorResponse},
        409: {
            "model": ErrorResponse,
            "description": "More than remains, closed, or the attempt was made with another "
            "amount or card (`attempt_mismatch`).",
        },
        422: {
            "model": ErrorResponse,
            "description": "Below the minimum, or would leave less than the smallest card "
            "payment (`remainder_below_minimum`).",
        },
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse, "description": "Stripe unavailable."},
    },
)
async def create_payment(
    token: str, body: PaymentBody, request: Request, deps: Deps, limiter: Limiter
) -> PaymentResult:
    link = await limiter.check(request, token, payment=True)
    _check_amount(link, body.amount)
    intent = await _create_intent(deps, link, body)
    return PaymentResult(
        payment_intent_id=intent["id"],
        status=intent["status"],
        client_secret=intent["client_secret"],
    )


def _check_amount(link: PayLink, amount: int) -> None:
    """Against what the read model says remains: the workflow writes it before it answers any
    change, and a payment that crosses another one in flight is refunded as excess."""
    if link.closed_as is not None:
        raise ApiError(409, "request_closed", f"This payment request is {link.closed_as}.")
    remaining = link.amount_remaining
    if amount < link.min_amount:
        raise ApiError(
            422,
            "amount_below_minimum",
            f"The amount must be at least {money(link.min_amount, link.currency)}.",
            "amount",
        )
    if amount > remaining:
        raise ApiError(
            409,
            "amount_exceeds_remaining",
            f"Only {money(remaining, link.currency)} remains to pay.",
            "amount",
        )
    # A payment must not leave a balance that no card payment could ever settle.
    if leaves_unpayable_remainder(link.currency, remaining, amount):
        smallest = money(minimum_charge(link.currency), link.currency)
        raise ApiError(
            422,
            "remainder_below_minimum",
            f"That would leave {money(remaining - amount, link.currency)}, less than the "
            f"smallest card payment ({smallest}). Please pay the full "
            f"{money(remaining, link.currency)}.",
            "amount",
        )
    problem = amount_problem(link.currency, amount)
    if problem:
        raise ApiError(422, "invalid_value", f"amount: {problem}.", "amount")


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


async def _create_intent(deps: AppDeps, link: PayLink, body: PaymentBody) -> dict[str, Any]:
    if deps.stripe is None:
        raise ApiError(503, "not_configured", "Card payments are not configured.")
    charge = Charge(
        request_id=link.request_id,
        practice_id=link.practice_id,
        amount=body.amount,
        currency=link.currency,
        payment_method=body.payment_method,
        confirmation_token=body.confirmation_token,
        attempt_id=body.attempt_id,
        account=link.stripe_account_id,
        platform_fee_bps=link.platform_fee_bps,
        statement_descriptor_suffix=link.statement_descriptor_suffix,
    )
    try:
        return await pay(deps.pool, deps.stripe, charge)
    except PaymentDeclined as exc:
        raise ApiError(402, "card_declined", str(exc)) from exc
    except PaymentMethodUnusable as exc:
        field = "confirmation_token" if body.confirmation_token else "payment_method"
        raise ApiError(422, "invalid_payment_method", "The card could not be used.", field) from exc
    except AttemptMismatch as exc:
        raise ApiError(
            409,
            "attempt_mismatch",
            "This attempt was made with another amount or card.",
            "attempt_id",
        ) from exc
    except stripe.StripeError as exc:  # logged with Stripe's code and request id
        raise ApiError(
            503, "temporarily_unavailable", "Payments are unavailable right now; try again."
        ) from exc


def _no_store(deps: AppDeps) -> dict[str, str]:
    headers = security_headers(deps.settings)
    return {k: headers[k] for k in ("Cache-Control", "Referrer-Policy", "X-Content-Type-Options")}
