"""Stripe's minimum charge, enforced everywhere a balance is set or paid: at create, on the
pay page (a payment must not leave less than the minimum) and on an amount change."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.integration.apihelp import create, create_body, error_of
from tests.support import Harness, eventually
from workflows.types import PaymentReceived


async def test_a_request_below_stripes_minimum_is_422(api: httpx.AsyncClient) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"amount": 49, "balance_due": 49}, "amount_below_minimum"),
        ({"amount": 49, "balance_due": 49, "currency": "jpy"}, "amount_below_minimum"),
        ({"amount": 29, "balance_due": 29, "currency": "gbp"}, "amount_below_minimum"),
        ({"amount": 5124, "balance_due": 5124, "currency": "kwd"}, "invalid_value"),
    ]
    for overrides, code in cases:
        resp = await api.post("/v1/payment-requests", json=create_body(**overrides))
        assert error_of(resp) == (422, code, "amount"), (overrides, resp.text)
    body = await api.post("/v1/payment-requests", json=create_body(amount=49, balance_due=49))
    assert "$0.50" in body.json()["error"]["message"]


async def test_a_payment_leaving_less_than_the_minimum_is_refused(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        made = await create(api, amount=10_000, balance_due=10_000)
        token = made["pay_url"].rsplit("/", 1)[1]
        resp = await api.post(
            f"/pay/{token}/payments",
            json={"amount": 9_970, "payment_method": "pm_card_visa", "attempt_id": "min-000001"},
        )
        assert error_of(resp) == (422, "remainder_below_minimum", "amount")
        assert "pay the full $100.00" in resp.json()["error"]["message"]
        full = await api.post(
            f"/pay/{token}/payments",
            json={"amount": 10_000, "payment_method": "pm_card_visa", "attempt_id": "min-000002"},
        )
        assert full.status_code == 200, full.text


async def test_an_amount_change_leaving_less_than_the_minimum_is_422(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        made = await create(api, amount=10_000, balance_due=10_000)
        await harness.client.get_workflow_handle(f"payment-request-{made['id']}").signal(
            "payment_received", _payment(made["id"])
        )

        async def paid() -> bool:
            got = (await api.get(f"/v1/payment-requests/{made['id']}")).json()
            return bool(got["amount_paid"] == 6_000)

        await eventually(paid)
        refused = await api.patch(f"/v1/payment-requests/{made['id']}", json={"amount": 6_030})
        assert error_of(refused) == (422, "remainder_below_minimum", None)
        ok = await api.patch(f"/v1/payment-requests/{made['id']}", json={"amount": 6_050})
        assert ok.status_code == 200, ok.text


def _payment(request_id: str) -> PaymentReceived:
    return PaymentReceived(payment_id=f"pi_{request_id[3:17]}", amount=6_000, at=datetime.now(UTC))
