"""Reconciliation of everything that moves money, with no webhook delivered at all: a refund
made in Stripe's Dashboard, a dispute (Stripe's test card 4000 0000 0000 0259) and its outcome,
and a refund that fails later (test card 4000 0000 0000 5126) all reach the request from
Stripe's event list alone. The fake's shim emits these events the way Stripe does."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests import stripe_contract
from tests.integration.pay_helpers import read_model, silence_webhook, start_request
from tests.integration.test_reconcile import reconcile
from tests.support import Harness, eventually


async def _card(h: Harness, number: str) -> str:
    made = await h.stripe.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    return made.id


async def _pay(api: httpx.AsyncClient, token: str, amount: int, pm: str, attempt: str) -> str:
    resp = await api.post(
        f"/pay/{token}/payments",
        json={"amount": amount, "payment_method": pm, "attempt_id": attempt},
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["payment_intent_id"])


async def _payment(h: Harness, payment_id: str) -> dict[str, Any]:
    row = await h.pool.fetchrow("SELECT * FROM payments WHERE id = $1", payment_id)
    return dict(row) if row else {}


async def _reconciled(h: Harness, request_id: str, remaining: int) -> None:
    await reconcile(h)

    async def check() -> bool:
        return bool((await read_model(h, request_id))["amount_remaining"] == remaining)

    await eventually(check, timeout=15)


async def test_a_missed_refund_is_recovered(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        payment = await _pay(api, token, 8000, "pm_card_visa", "recon-refund-1")
        await _reconciled(harness, request_id, 4000)
        # Staff refund part of it in Stripe's Dashboard; the webhook never arrives.
        await harness.stripe.v1.refunds.create_async({"payment_intent": payment, "amount": 3000})
        await asyncio.sleep(1.2)  # localstripe would have delivered by now
        assert (await read_model(harness, request_id))["amount_remaining"] == 4000
        await _reconciled(harness, request_id, 7000)
    row = await _payment(harness, payment)
    assert (row["status"], row["refunded_amount"]) == ("partially_refunded", 3000)


async def test_a_missed_dispute_and_its_outcome_are_recovered(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        payment = await _pay(
            api, token, 5000, await _card(harness, "4000000000000259"), "recon-dispute-1"
        )
        await _reconciled(harness, request_id, 7000)
        await eventually(lambda: _status_is(harness, payment, "disputed"), timeout=15)
        page = await harness.stripe.v1.events.list_async({"types": ["charge.dispute.created"]})
        dispute = next(
            e.data.object for e in page.data if e.data.object["payment_intent"] == payment
        )
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{fake_stripe}/_config/shim/disputes/{dispute['id']}/close",
                data={"status": "lost"},
            )
            resp.raise_for_status()
        await _reconciled(harness, request_id, 12000)  # a lost dispute takes the money back
    assert (await _payment(harness, payment))["status"] == "disputed"


async def test_a_refund_that_fails_later_puts_the_balance_back(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        payment = await _pay(api, token, 6000, "pm_card_visa", "recon-failed-1")
        await _reconciled(harness, request_id, 6000)
        refund = await harness.stripe.v1.refunds.create_async(
            {"payment_intent": payment, "amount": 2000}
        )
        await _reconciled(harness, request_id, 8000)
        assert (await _payment(harness, payment))["status"] == "partially_refunded"
        async with httpx.AsyncClient() as http:  # the bank returns the refund, days later
            fail = await http.post(f"{fake_stripe}/_config/shim/refunds/{refund.id}/fail")
            fail.raise_for_status()
        await _reconciled(harness, request_id, 6000)
    row = await _payment(harness, payment)
    assert (row["status"], row["refunded_amount"]) == ("succeeded", 0)
    kinds = await harness.pool.fetch(
        "SELECT type FROM stripe_events WHERE payment_request_id = $1", request_id
    )
    assert {"refund.failed", "charge.refund.updated"} <= {k["type"] for k in kinds}


async def test_stripes_failing_refund_card_fails_every_refund(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    card = await _card(harness, "4000000000005126")
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        payment = await _pay(api, token, 6000, card, "recon-failed-2")
        refund = await harness.stripe.v1.refunds.create_async(
            {"payment_intent": payment, "amount": 2000}
        )
        assert refund.status == "succeeded"  # as Stripe answers; it fails afterwards
        await _reconciled(harness, request_id, 6000)
    assert (await harness.stripe.v1.refunds.retrieve_async(refund.id)).status == "failed"
    row = await _payment(harness, payment)
    assert (row["status"], row["refunded_amount"]) == ("succeeded", 0)


async def _status_is(h: Harness, payment_id: str, status: str) -> bool:
    return (await _payment(h, payment_id)).get("status") == status


async def test_a_connected_accounts_events_are_reconciled_on_that_account(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    assert (await api.post("/v1/practice/stripe-onboarding")).status_code == 200
    account = (await api.get("/v1/practice")).json()["stripe_account_id"]
    card = await harness.stripe.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        },
        {"stripe_account": account},
    )
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        payment = await _pay(api, token, 4000, card.id, "recon-connect-1")
        await _reconciled(harness, request_id, 8000)
        await harness.stripe.v1.refunds.create_async(
            {"payment_intent": payment, "amount": 1000}, {"stripe_account": account}
        )
        await _reconciled(harness, request_id, 9000)
    listings = [
        r["stripe_account"]
        for r in stripe_contract.recorded(fake_stripe)
        if (r["method"], r["path"]) == ("GET", "/v1/events")
    ]
    assert None in listings and account in listings  # the platform's, and the practice's
    watermarks = await harness.pool.fetch("SELECT name FROM reconcile_watermarks ORDER BY 1")
    assert [w["name"] for w in watermarks] == ["stripe-payments", f"stripe-payments:{account}"]


async def test_a_failed_refund_of_an_overpayment_is_recorded_as_failed(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    card = await _card(harness, "4000000000005126")
    async with harness.worker():
        request_id, token = await start_request(harness, amount=5000)
        payment = await _pay(api, token, 5000, card, "recon-over-01")
        # A second payment of the same balance, made before the first was applied: the excess.
        second = await _pay(api, token, 5000, card, "recon-over-02")
        await _reconciled(harness, request_id, 0)

        async def refunded() -> Any:
            return await harness.pool.fetchrow(
                "SELECT status, stripe_refund_id FROM refunds WHERE payment_request_id = $1",
                request_id,
            )

        made = await eventually(refunded, timeout=15)
        await reconcile(harness)

        async def failed() -> bool:
            row = await refunded()
            return bool(row["status"] == "failed")

        await eventually(failed, timeout=15)
    assert made["stripe_refund_id"].startswith("re_")
    rows = await harness.pool.fetch(
        "SELECT id FROM payments WHERE payment_request_id = $1", request_id
    )
    assert {r["id"] for r in rows} == {payment, second}
