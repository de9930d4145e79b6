"""Every Stripe failure is logged with what support needs to find it in Stripe (the error code,
the HTTP status, Stripe's request id, the account), and nothing about the patient."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.integration.pay_helpers import start_request
from tests.support import Harness


async def test_a_declined_card_is_logged_with_stripes_code_and_no_phi(
    harness: Harness, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="payreq.stripe")
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        resp = await api.post(
            f"/pay/{token}/payments",
            json={
                "amount": 5000,
                "payment_method": "pm_card_chargeCustomerFail",
                "attempt_id": "declined-01",
            },
        )
    assert resp.status_code == 402
    lines = [r.getMessage() for r in caplog.records if r.name == "payreq.stripe"]
    assert any("stripe payment failed" in m and "code=card_declined" in m for m in lines), lines
    assert all("request_id=" in m and "account=platform" in m for m in lines)
    assert not any(word in m for m in lines for word in ("Maria", "Lopez", "maria@"))


async def test_an_unknown_payment_method_is_a_422_and_logged(
    harness: Harness, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="payreq.stripe")
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        resp = await api.post(
            f"/pay/{token}/payments",
            json={"amount": 5000, "payment_method": "pm_nosuchmethod", "attempt_id": "unknown-01"},
        )
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_payment_method"
    assert any("status=404" in r.getMessage() for r in caplog.records if r.name == "payreq.stripe")
