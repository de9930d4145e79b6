"""The fake Stripe's Payment Element shim behaves as Stripe does where the pay flow relies on
it: a ConfirmationToken confirms one PaymentIntent only, and Stripe.js's publishable-key calls
see a PaymentIntent only with its client secret."""

from __future__ import annotations

from typing import cast

import httpx
import pytest
import stripe
from stripe.params import PaymentIntentCreateParams

from tests.support import Harness

PUBLISHABLE = {"key": "pk_test_payreq"}


async def test_a_confirmation_token_confirms_one_intent_only(harness: Harness) -> None:
    made = await harness.stripe.v1.test_helpers.confirmation_tokens.create_async(
        {"payment_method": "pm_card_visa"}
    )
    params: stripe.params.PaymentIntentCreateParams = {
        "amount": 700,
        "currency": "usd",
        "confirmation_token": made.id,
        "confirm": True,
    }
    first = await harness.stripe.v1.payment_intents.create_async(params)
    assert first.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError, match="already been used"):
        await harness.stripe.v1.payment_intents.create_async(params)


async def test_stripe_js_sees_an_intent_only_with_its_client_secret(
    harness: Harness, fake_stripe: str
) -> None:
    async with httpx.AsyncClient(base_url=fake_stripe) as browser:
        made = await browser.post(
            "/v1/confirmation_tokens",
            data={
                **PUBLISHABLE,
                "payment_method_data[type]": "card",
                "payment_method_data[card][number]": "4000002760003184",
                "payment_method_data[card][exp_month]": "12",
                "payment_method_data[card][exp_year]": "34",
                "payment_method_data[card][cvc]": "123",
            },
        )
        assert made.status_code == 200, made.text
        intent = await harness.stripe.v1.payment_intents.create_async(
            {
                "amount": 700,
                "currency": "usd",
                "confirmation_token": made.json()["id"],
                "confirm": True,
            }
        )
        assert intent.status == "requires_action"
        path = f"/v1/payment_intents/{intent.id}"
        right = await browser.get(
            path, params={**PUBLISHABLE, "client_secret": intent.client_secret}
        )
        wrong = await browser.get(
            path, params={**PUBLISHABLE, "client_secret": f"{intent.id}_secret_x"}
        )
        bare = await browser.get(path, params=PUBLISHABLE)
    assert right.status_code == 200 and right.json()["status"] == "requires_action"
    assert wrong.status_code == 401 and bare.status_code == 401


async def test_payment_method_types_is_refused_as_on_api_2026_09_30(
    harness: Harness, fake_stripe: str
) -> None:
    """So the fake catches a regression to the removed parameter instead of accepting it."""
    base: PaymentIntentCreateParams = {
        "amount": 700,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "confirm": True,
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await harness.stripe.v1.payment_intents.create_async(
            # what the API refuses, and so what the SDK's types no longer have
            cast(PaymentIntentCreateParams, {**base, "payment_method_types": ["card"]})
        )
    assert refused.value.code == "payment_method_types_no_longer_supported"
    async with httpx.AsyncClient() as http:  # out of the session's record: the test sent it
        (await http.delete(f"{fake_stripe}/_config/shim/requests/last")).raise_for_status()
    with pytest.raises(stripe.InvalidRequestError, match="excludes automatic_payment_methods"):
        await harness.stripe.v1.payment_intents.create_async(
            {
                **base,
                "allowed_payment_method_types": ["card"],
                "automatic_payment_methods": {"enabled": True},
            }
        )
    allowed = await harness.stripe.v1.payment_intents.create_async(
        {**base, "allowed_payment_method_types": ["card"]}
    )
    assert allowed.status == "succeeded"
