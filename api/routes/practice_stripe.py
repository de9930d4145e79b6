"""POST /v1/practice/stripe-onboarding: a Stripe Account Link for the practice to finish
onboarding its connected account, creating the account first if it has none."""

from __future__ import annotations

import stripe
from fastapi import APIRouter

from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.resources import error_responses
from api.schemas.practice import OnboardingBody, OnboardingLink
from payreq.stripe import connect

router = APIRouter(prefix="/v1/practice", tags=["practice"])


@router.post(
    "/stripe-onboarding",
    response_model=OnboardingLink,
    responses=error_responses(400, 401, 413, 422, 503),
    summary="Onboard the practice's Stripe account",
    description="Creates the practice's connected account (of the type the deployment sets, "
    "`STRIPE_CONNECT_ACCOUNT_TYPE`) if it has none, and returns an Account Link to Stripe's "
    "onboarding. Safe to repeat: the account is created once, each call gives a fresh link.",
)
async def stripe_onboarding(
    practice: CurrentPractice, deps: Deps, body: OnboardingBody | None = None
) -> OnboardingLink:
    if deps.stripe is None:
        raise ApiError(503, "not_configured", "Stripe is not configured.")
    body = body or OnboardingBody(return_url=None, refresh_url=None)
    home = deps.settings.public_base_url + "/"
    try:
        url = await connect.onboarding_url(
            deps.pool,
            deps.stripe,
            practice.id,
            deps.settings.stripe_connect_account_type,
            body.return_url or home,
            body.refresh_url or home,
        )
    except stripe.StripeError as exc:  # logged with Stripe's code and request id
        raise ApiError(
            503, "temporarily_unavailable", "Stripe is unavailable right now; try again."
        ) from exc
    return OnboardingLink(url=url)
