"""POST /pay/{token}/payments with a ConfirmationToken (the Payment Element's flow), against
localstripe behind the fake Stripe's ConfirmationToken shim: the server creates and confirms a
PaymentIntent from the token, a 3-D Secure card comes back requires_action for the browser, and
a body must name exactly one of payment_method and confirmation_token."""

from __future__ import annotations

import httpx
import pytest
import stripe

from api.pay_tokens import PayLink
from api.routes.pay import _create_intent as create_intent
from api.schemas.pay import PaymentBody
from payreq.stripe.payments import PAYMENT_ELEMENT_TYPES, Charge, intent_params
from tests.integration.pay_helpers import (
    payment_rows,
    read_model,
    register_webhook,
    serve,
    start_request,
)
from tests.support import Harness, eventually


async def confirmation_token(client: stripe.StripeClient, payment_method: str) -> str:
    """A ConfirmationToken as the Payment Element makes one (Stripe's server-side test helper)."""
    made = await client.v1.test_helpers.confirmation_tokens.create_async(
        {"payment_method": payment_method}
    )
    return made.id


async def pay(api: httpx.AsyncClient, token: str, body: dict[str, object]) -> httpx.Response:
    return await api.post(f"/pay/{token}/payments", json=body)


async def test_a_confirmation_token_becomes_one_confirmed_intent_and_pays(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, token = await start_request(harness, amount=12000)
        ctoken = await confirmation_token(harness.stripe, "pm_card_visa")
        resp = await pay(
            api, token, {"amount": 5000, "confirmation_token": ctoken, "attempt_id": "ct-attempt-1"}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["status"] == "succeeded" and body["client_secret"]

        async def remaining() -> bool:
            return bool((await read_model(harness, request_id))["amount_remaining"] == 7000)

        await eventually(remaining, timeout=15)
    intent = await harness.stripe.v1.payment_intents.retrieve_async(body["payment_intent_id"])
    used = await harness.stripe.v1.confirmation_tokens.retrieve_async(ctoken)
    assert (intent.amount, intent.currency, intent.status) == (5000, "usd", "succeeded")
    assert intent.metadata.to_dict() == {
        "payment_request_id": request_id,
        "practice_id": harness.practice_id,
        "card": "visa •••• 4242",  # from the token's payment_method_preview
    }
    assert used.payment_intent == intent.id  # the token confirmed this intent
    rows = await payment_rows(harness, request_id)
    assert [(r["amount"], r["status"], r["method"]) for r in rows] == [
        (5000, "succeeded", "visa •••• 4242")
    ]


def test_the_intent_params_for_a_token_are_what_stripe_accepts() -> None:
    charge = Charge(
        request_id="pr_1",
        practice_id="prc_1",
        amount=900,
        currency="eur",
        confirmation_token="ctoken_abc",
        attempt_id=None,
        account=None,
    )
    params = intent_params(charge, None)
    assert params == {
        "amount": 900,
        "currency": "eur",
        "confirmation_token": "ctoken_abc",
        # API 2026-10-28.endive refuses payment_method_types; the Element offers the same list
        "allowed_payment_method_types": ["card", "link"],
        "confirm": True,
        "metadata": {"payment_request_id": "pr_1", "practice_id": "prc_1"},
    }
    assert tuple(params["allowed_payment_method_types"]) == PAYMENT_ELEMENT_TYPES


def test_the_intent_params_for_a_payment_method_never_carry_payment_method_types() -> None:
    """API 2026-09-30.endive answers payment_method_types with a 400; cards only, no redirect."""
    charge = Charge(
        request_id="pr_1",
        practice_id="prc_1",
        amount=900,
        currency="usd",
        payment_method="pm_card_visa",
        attempt_id=None,
        account=None,
    )
    params = intent_params(charge, "visa •••• 4242")
    assert "payment_method_types" not in params
    assert params == {
        "amount": 900,
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "allowed_payment_method_types": ["card"],
        "confirm": True,
        "metadata": {
            "payment_request_id": "pr_1",
            "practice_id": "prc_1",
            "card": "visa •••• 4242",
        },
    }


async def test_a_3d_secure_card_comes_back_requires_action_and_is_not_applied(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        # As Stripe.js makes it in the browser: the card goes to Stripe with the publishable
        # key (the SDK's server-side test helper takes no raw card numbers).
        async with httpx.AsyncClient(base_url=fake_stripe) as browser:
            made = await browser.post(
                "/v1/confirmation_tokens",
                data={
                    "key": "pk_test_payreq",
                    "payment_method_data[type]": "card",
                    "payment_method_data[card][number]": "4000002760003184",
                    "payment_method_data[card][exp_month]": "12",
                    "payment_method_data[card][exp_year]": "34",
                    "payment_method_data[card][cvc]": "123",
                },
            )
        assert made.status_code == 200, made.text
        resp = await pay(api, token, {"amount": 5000, "confirmation_token": made.json()["id"]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "requires_action"
    assert body["client_secret"].startswith(body["payment_intent_id"] + "_secret_")
    assert (await read_model(harness, request_id))["amount_remaining"] == 12000


async def test_a_declined_token_is_a_402_and_an_unknown_one_a_422(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        declined = await confirmation_token(harness.stripe, "pm_card_visa_chargeDeclined")
        refused = await pay(api, token, {"amount": 5000, "confirmation_token": declined})
        unknown = await pay(api, token, {"amount": 5000, "confirmation_token": "ctoken_nope"})
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "card_declined"
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "confirmation_token"
    assert (await read_model(harness, request_id))["amount_remaining"] == 12000


async def test_a_body_must_name_exactly_one_way_to_pay(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        neither = await pay(api, token, {"amount": 5000})
        both = await pay(
            api,
            token,
            {"amount": 5000, "payment_method": "pm_card_visa", "confirmation_token": "ctoken_x"},
        )
        malformed = await pay(api, token, {"amount": 5000, "confirmation_token": "pm_card_visa"})
    for resp in (neither, both):
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["message"] == (
            "Send exactly one of payment_method and confirmation_token."
        )
    assert malformed.status_code == 422
    assert malformed.json()["error"]["field"] == "confirmation_token"


async def test_a_token_made_on_the_practice_s_account_is_confirmed_there(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    """Stripe.js with stripeAccount makes the token on the connected account: the platform
    cannot see it, so the service retrieves and confirms it with Stripe-Account (direct charge)."""
    account = "acct_1PracticeOwn"
    made = await harness.stripe.v1.test_helpers.confirmation_tokens.create_async(
        {"payment_method": "pm_card_visa"}, {"stripe_account": account}
    )
    with pytest.raises(stripe.InvalidRequestError, match="No such confirmation_token"):
        await harness.stripe.v1.confirmation_tokens.retrieve_async(made.id)
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=900)
    link = PayLink(
        request_id=request_id,
        practice_id="prc_1",
        practice_name="",
        facility_name="",
        first_name="",
        last_name="",
        note="",
        currency="usd",
        status="sent",  # type: ignore[arg-type]
        amount_requested=900,
        amount_paid=0,
        amount_remaining=900,
        min_payment_amount=100,
        expired=False,
        stripe_account_id=account,
    )
    body = PaymentBody(amount=900, confirmation_token=made.id, attempt_id="attempt-connected")
    deps = api._transport.app.state.deps  # type: ignore[attr-defined]
    intent = await create_intent(deps, link, body)
    assert intent["status"] == "succeeded"
    assert intent["metadata"]["card"] == "visa •••• 4242"  # the preview, read on that account
