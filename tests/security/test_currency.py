"""Issue 13 item 11: a request in a currency the processor cannot charge in (ISO 4217's test,
no-currency and precious-metal codes, among others) is refused at create, so no pay link is
ever issued for money that can never be collected."""

from __future__ import annotations

import httpx

from tests.integration.apihelp import create_body, error_of
from tests.support import Harness


async def test_currencies_stripe_cannot_charge_in_are_422(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    refused = ["xxx", "xts", "xau", "xag", "xdr", "usn", "zwl", "ZZZ", "us"]
    for code in refused:
        resp = await api.post("/v1/payment-requests", json=create_body(currency=code))
        assert error_of(resp) == (422, "invalid_value", "currency"), (code, resp.text)
    count = await harness.pool.fetchval("SELECT count(*) FROM payment_requests")
    assert count == 0


async def test_a_staff_session_in_an_unsupported_currency_is_422(api: httpx.AsyncClient) -> None:
    body = {
        "patient": {"id": "pt_1", "first_name": "Ana", "last_name": "Lopez"},
        "balance_due": 18500,
        "currency": "xau",
        "facilities": [{"id": "fac_1", "name": "Downtown"}],
        "staff": {"id": "st_1", "name": "Sam"},
    }
    resp = await api.post("/v1/staff-sessions", json=body)
    assert resp.status_code == 422, resp.text
