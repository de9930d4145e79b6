"""Stripe Connect per practice, end to end through the fake Stripe and its shim: the practice's
settings, onboarding, a direct charge applied by its webhook, and events from the wrong
account refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe
from pydantic import SecretStr

from tests import stripe_contract
from tests.integration.pay_helpers import (
    intent_object,
    post_event,
    read_model,
    register_webhook,
    serve,
    sign,
    start_request,
    stripe_event,
)
from tests.support import WEBHOOK_SECRET, Harness, eventually


async def test_malformed_connect_settings_are_422_naming_the_field(api: httpx.AsyncClient) -> None:
    bad: list[tuple[str, Any]] = [
        ("stripe_account_id", "acct-123"),
        ("stripe_account_id", "cus_123"),
        ("stripe_account_id", "acct_"),
        ("statement_descriptor_suffix", "A" * 23),
        ("statement_descriptor_suffix", "12345"),
        ("statement_descriptor_suffix", "Dr <Smith>"),
        ("statement_descriptor_suffix", 'say "hi"'),
        ("statement_descriptor_suffix", "Caf\u00e9"),
        ("platform_fee_bps", -1),
        ("platform_fee_bps", 10_001),
    ]
    for field, value in bad:
        resp = await api.patch("/v1/practice", json={field: value})
        assert resp.status_code == 422, (field, value, resp.text)
        assert resp.json()["error"]["field"] == field
    good = {
        "stripe_account_id": "acct_1Pgaf0B7WZ01zgkW",
        "statement_descriptor_suffix": "SUNRISE PT",
        "platform_fee_bps": 250,
    }
    assert (await api.patch("/v1/practice", json=good)).status_code == 200
    body = (await api.get("/v1/practice")).json()
    assert {k: body[k] for k in good} == good
    cleared = await api.patch("/v1/practice", json={"stripe_account_id": None})
    assert cleared.json()["stripe_account_id"] is None


async def test_onboarding_creates_the_account_once_and_links_to_it(
    api: httpx.AsyncClient, fake_stripe: str
) -> None:
    first = await api.post("/v1/practice/stripe-onboarding", json={})
    assert first.status_code == 200, first.text
    account = (await api.get("/v1/practice")).json()["stripe_account_id"]
    assert account.startswith("acct_") and first.json()["url"].endswith(account)
    again = await api.post(
        "/v1/practice/stripe-onboarding", json={"return_url": "https://pms.example.com/done"}
    )
    assert again.status_code == 200 and again.json()["url"].endswith(account)
    assert (await api.get("/v1/practice")).json()["stripe_account_id"] == account
    creates = [r for r in stripe_contract.recorded(fake_stripe) if r["path"] == "/v1/accounts"]
    assert creates[-1]["params"] == ["type", "metadata[practice_id]"]


async def test_a_connected_practice_is_paid_by_direct_charge_end_to_end(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    assert (await api.post("/v1/practice/stripe-onboarding")).status_code == 200
    await api.patch("/v1/practice", json={"platform_fee_bps": 250})
    account = (await api.get("/v1/practice")).json()["stripe_account_id"]
    # Stripe.js, initialised with stripeAccount, makes the card on the connected account.
    card = await harness.stripe.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        },
        {"stripe_account": account},
    )
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, token = await start_request(harness, amount=12000)
        before = len(stripe_contract.recorded(fake_stripe))
        resp = await api.post(
            f"/pay/{token}/payments",
            json={"amount": 4000, "payment_method": card.id, "attempt_id": "connect-0001"},
        )
        assert resp.status_code == 200, resp.text
        await eventually(lambda: _remaining_is(harness, request_id, 8000), timeout=15)
    calls = stripe_contract.recorded(fake_stripe)[before:]
    service_calls = [c for c in calls if c["server"]]
    assert {(c["method"], c["path"]) for c in service_calls} >= {
        ("GET", f"/v1/payment_methods/{card.id}"),
        ("POST", "/v1/payment_intents"),
    }
    assert {c["stripe_account"] for c in service_calls} == {account}
    create = next(c for c in service_calls if c["path"] == "/v1/payment_intents")
    assert "application_fee_amount" in create["params"]
    intent_id = resp.json()["payment_intent_id"]
    outcome = await harness.pool.fetchval(
        "SELECT payment_request_id FROM stripe_events WHERE type = 'payment_intent.succeeded'"
        " AND payment_request_id = $1",
        request_id,
    )
    assert outcome == request_id
    # The intent lives on the connected account: the platform cannot see it, as on Stripe.
    fetched = await harness.stripe.v1.payment_intents.retrieve_async(
        intent_id, {}, {"stripe_account": account}
    )
    assert fetched.amount == 4000
    with pytest.raises(stripe.InvalidRequestError):
        await harness.stripe.v1.payment_intents.retrieve_async(intent_id)


async def test_an_event_from_another_account_changes_nothing(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    await api.patch("/v1/practice", json={"stripe_account_id": "acct_1OwnedByThisPractice"})
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        intent = intent_object("pi_3Mismatch0001", 5000, request_id, harness.practice_id)
        answers = [
            await post_event(api, stripe_event("payment_intent.succeeded", intent)),
            await post_event(
                api, stripe_event("payment_intent.succeeded", intent, account="acct_1Stranger")
            ),
        ]
        assert [r.status_code for r in answers] == [200, 200]
        assert [r.json()["outcome"] for r in answers] == ["account_mismatch"] * 2
        right = await post_event(
            api,
            stripe_event("payment_intent.succeeded", intent, account="acct_1OwnedByThisPractice"),
        )
        assert right.json()["outcome"] == "signalled"
        await eventually(lambda: _remaining_is(harness, request_id, 7000))


async def _remaining_is(h: Harness, request_id: str, amount: int) -> bool:
    return bool((await read_model(h, request_id))["amount_remaining"] == amount)


async def test_the_platform_and_connect_endpoint_secrets_both_verify(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    deps = api._transport.app.state.deps  # type: ignore[attr-defined]
    deps.settings = deps.settings.model_copy(
        update={"stripe_webhook_secret": SecretStr(f"whsec_platform_endpoint,{WEBHOOK_SECRET}")}
    )
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object("pi_3TwoSecrets0001", 5000, request_id, harness.practice_id),
        )
        platform = await post_event(api, body, sign(body, secret="whsec_platform_endpoint"))
        connect = await post_event(api, body, sign(body))
        forged = await post_event(api, body, sign(body, secret="whsec_someone_else"))
    assert [r.status_code for r in (platform, connect, forged)] == [200, 200, 400]
    assert [platform.json()["outcome"], connect.json()["outcome"]] == ["signalled", "duplicate"]
