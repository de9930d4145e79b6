"""POST /pay/{token}/payments against localstripe, with its webhooks delivered over real HTTP
to the app: the balance changes only when Stripe's webhook confirms the payment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace

import httpx

from payreq.stripe.payments import Charge
from tests.integration.pay_helpers import (
    payment_rows,
    read_model,
    register_webhook,
    serve,
    start_request,
)
from tests.support import Harness, eventually


async def pay(
    api: httpx.AsyncClient,
    token: str,
    amount: int,
    pm: str = "pm_card_visa",
    attempt: str = "attempt-0001",
) -> httpx.Response:
    return await api.post(
        f"/pay/{token}/payments",
        json={"amount": amount, "payment_method": pm, "attempt_id": attempt},
    )


async def test_pay_part_then_the_rest(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, token = await start_request(harness, amount=12000)

        first = await pay(api, token, 5000, attempt="attempt-first")
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["status"] == "succeeded" and body["payment_intent_id"].startswith("pi_")
        assert body["client_secret"]
        assert (await read_model(harness, request_id))["amount_remaining"] == 12000  # not yet

        async def remaining() -> int:
            return int((await read_model(harness, request_id))["amount_remaining"])

        await eventually(lambda: _eq(remaining(), 7000), timeout=15)
        status = (await api.get(f"/pay/{token}/status")).json()
        assert status["amount_remaining"] == 7000 and status["status"] == "partially_paid"

        second = await pay(api, token, 7000, attempt="attempt-second")
        assert second.status_code == 200, second.text
        await eventually(lambda: _eq(remaining(), 0), timeout=15)
        await eventually(lambda: _status_is(harness, request_id, "paid"), timeout=15)

    rows = await payment_rows(harness, request_id)
    assert sorted(r["amount"] for r in rows) == [5000, 7000]
    assert {r["status"] for r in rows} == {"succeeded"}
    assert {r["method"] for r in rows} == {"visa •••• 4242"}
    intent = await harness.stripe.v1.payment_intents.retrieve_async(body["payment_intent_id"])
    assert intent.metadata["payment_request_id"] == request_id
    assert intent.metadata["practice_id"] == harness.practice_id
    assert intent.metadata["card"] == "visa •••• 4242"  # so the webhook need not ask Stripe
    page = await api.get(f"/pay/{token}")
    assert "paid in full" in page.text and "pay-form" not in page.text


async def test_a_declined_card_is_a_402_with_stripes_message(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        resp = await pay(api, token, 5000, pm="pm_card_chargeCustomerFail")
    assert resp.status_code == 402
    assert resp.json()["error"] == {
        "code": "card_declined",
        "message": "Your card was declined.",
        "field": None,
    }
    assert (await read_model(harness, request_id))["amount_remaining"] == 12000


async def test_amount_over_what_remains_is_409_and_below_the_minimum_is_422(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        over = await pay(api, token, 12001)
        under = await pay(api, token, 99)
        bad = await api.post(
            f"/pay/{token}/payments", json={"amount": 10.5, "payment_method": "pm_x"}
        )
        missing = await api.post(
            "/pay/not-a-token/payments", json={"amount": 500, "payment_method": "pm_card_visa"}
        )
    assert over.status_code == 409 and over.json()["error"]["code"] == "amount_exceeds_remaining"
    assert "$120.00" in over.json()["error"]["message"]
    assert under.status_code == 422 and under.json()["error"]["field"] == "amount"
    assert "$1.00" in under.json()["error"]["message"]
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "amount"
    assert missing.status_code == 404


async def test_two_tabs_paying_the_full_balance_at_once_refund_the_overpayment(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, token = await start_request(harness, amount=12000)
        a, b = await asyncio.gather(
            pay(api, token, 12000, attempt="tab-one-0001"),
            pay(api, token, 12000, attempt="tab-two-0002"),
        )
        assert (a.status_code, b.status_code) == (200, 200), (a.text, b.text)
        await eventually(lambda: _status_is(harness, request_id, "paid"), timeout=15)
        refund = await eventually(
            lambda: harness.pool.fetchrow(
                "SELECT * FROM refunds WHERE payment_request_id = $1"
                " AND stripe_refund_id IS NOT NULL",
                request_id,
            ),
            timeout=15,
        )
    # The second payment is excess whether the workflow saw it while still open
    # (an overpayment) or only after it closed (Temporal says NOT_FOUND; the webhook refunds).
    assert refund["reason"] in ("overpayment", "closed") and refund["amount"] == 12000
    assert await harness.pool.fetchval("SELECT count(*) FROM refunds") == 1
    row = await read_model(harness, request_id)
    assert row["amount_paid"] == 12000 and row["amount_remaining"] == 0
    assert refund["payment_id"] in {a.json()["payment_intent_id"], b.json()["payment_intent_id"]}
    stripe_refund = await harness.stripe.v1.refunds.retrieve_async(refund["stripe_refund_id"])
    assert stripe_refund.amount == 12000


def test_the_idempotency_key_is_made_of_business_ids() -> None:
    charge = Charge(
        request_id="pr_1",
        practice_id="prc_1",
        amount=500,
        currency="usd",
        payment_method="pm_card_visa",
        attempt_id="attempt-1234",
        account=None,
    )
    assert charge.idempotency_key == replace(charge).idempotency_key
    assert charge.idempotency_key != replace(charge, attempt_id="attempt-5678").idempotency_key
    assert charge.idempotency_key.startswith("pr_1:pay:")


async def _eq(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _status_is(h: Harness, request_id: str, status: str) -> bool:
    return bool((await read_model(h, request_id))["status"] == status)


async def test_paying_is_checked_against_the_read_model_with_no_worker_running(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    """The pay endpoint never queries the workflow: with every worker stopped (a query would
    wait for one, then fail), the amount is still checked and the PaymentIntent still made."""
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
    over = await asyncio.wait_for(pay(api, token, 12001), timeout=5)
    paid = await asyncio.wait_for(pay(api, token, 5000), timeout=5)
    assert over.status_code == 409 and over.json()["error"]["code"] == "amount_exceeds_remaining"
    assert paid.status_code == 200, paid.text
    assert paid.json()["payment_intent_id"].startswith("pi_")
    assert paid.json()["status"] == "succeeded"
    # The balance moves only when the webhook's signal reaches a worker, never here.
    assert (await read_model(harness, request_id))["amount_remaining"] == 12000
