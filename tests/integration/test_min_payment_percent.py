"""min_payment_percent: the pay page's smallest partial payment is the larger of the fixed
minimum and that share of what remains, never more than what remains; shown on the page and
enforced when the patient pays."""

from __future__ import annotations

import httpx

from tests.integration.apihelp import create, error_of
from tests.support import Harness


async def _pay(api: httpx.AsyncClient, token: str, amount: int, attempt: str) -> httpx.Response:
    body = {"amount": amount, "payment_method": "pm_card_visa", "attempt_id": f"pct-{attempt}"}
    return await api.post(f"/pay/{token}/payments", json=body)


async def test_the_percentage_is_a_practice_setting(api: httpx.AsyncClient) -> None:
    got = (await api.get("/v1/practice")).json()
    assert (got["min_payment_amount"], got["min_payment_percent"]) == (100, 0)
    for bad in (101, -1, None, 2.5, "all"):
        resp = await api.patch("/v1/practice", json={"min_payment_percent": bad})
        assert error_of(resp)[0::2] == (422, "min_payment_percent"), (bad, resp.text)
    for bad in (0, None):
        resp = await api.patch("/v1/practice", json={"min_payment_amount": bad})
        assert error_of(resp)[0::2] == (422, "min_payment_amount"), (bad, resp.text)
    resp = await api.patch("/v1/practice", json={"min_payment_percent": 25})
    assert resp.status_code == 200 and resp.json()["min_payment_percent"] == 25
    assert (await api.get("/v1/practice")).json()["min_payment_percent"] == 25


async def test_the_pay_page_asks_for_the_larger_minimum_and_refuses_less(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    await api.patch("/v1/practice", json={"min_payment_percent": 30})
    async with harness.worker():
        made = await create(api, amount=10_001, balance_due=10_001)
        token = made["pay_url"].rsplit("/", 1)[1]
        html = (await api.get(f"/pay/{token}")).text
        # ceil(30% of 100.01) = 30.01, above the fixed $1.00
        assert 'data-minimum="3001"' in html and 'id="min-label">$30.01<' in html
        resp = await _pay(api, token, 3_000, "000001")
        assert error_of(resp) == (422, "amount_below_minimum", "amount")
        assert "$30.01" in resp.json()["error"]["message"]
        assert (await _pay(api, token, 3_001, "000002")).status_code == 200
        assert (await api.get(f"/pay/{token}/status")).json()["min_amount"] == 3_001

        await api.patch(
            "/v1/practice", json={"min_payment_percent": 10, "min_payment_amount": 5_000}
        )
        html = (await api.get(f"/pay/{token}")).text
        assert (
            'data-minimum="5000"' in html and 'id="min-label">$50.00<' in html
        )  # the fixed one wins
        assert error_of(await _pay(api, token, 4_999, "000003"))[1] == "amount_below_minimum"

        await api.patch(
            "/v1/practice", json={"min_payment_percent": 100, "min_payment_amount": 100}
        )
        html = (await api.get(f"/pay/{token}")).text
        assert 'data-minimum="10001"' in html  # all of it, never more than remains
        assert error_of(await _pay(api, token, 10_000, "000004"))[1] == "amount_below_minimum"
        assert (await _pay(api, token, 10_001, "000005")).status_code == 200
