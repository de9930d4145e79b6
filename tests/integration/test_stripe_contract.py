"""The Stripe contract: what the service sends is what the pinned SDK's param types define.

The session-wide check runs when the fake Stripe stops (tests/conftest.py, reported in the
terminal summary); these tests check what has been recorded so far, after a payment, and that
the checker itself catches the dead parameter the service used to send."""

from __future__ import annotations

import httpx
import stripe

from payreq.stripe.client import API_VERSION
from tests import stripe_contract
from tests.integration.pay_helpers import start_request
from tests.support import STRIPE_KEY, Harness


async def test_every_request_so_far_uses_only_parameters_the_sdk_defines(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        resp = await api.post(
            f"/pay/{token}/payments",
            json={"amount": 5000, "payment_method": "pm_card_visa", "attempt_id": "contract-01"},
        )
    assert resp.status_code == 200, resp.text
    report = stripe_contract.check(stripe_contract.recorded(fake_stripe))
    print(f"Stripe contract so far: {report.checked} calls checked")
    assert report.checked > 0
    assert report.problems == []
    mine = [r for r in stripe_contract.recorded(fake_stripe) if r["path"] == "/v1/payment_intents"]
    assert "allowed_payment_method_types[0]" in mine[-1]["params"]


async def test_the_dead_payment_method_types_parameter_is_caught(fake_stripe: str) -> None:
    """The request the service used to send (refused by real Stripe since 2026-09-30): the fake
    refuses it as Stripe does, and the recorded check names it too."""
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{fake_stripe}/v1/payment_intents",
            headers={"Authorization": f"Bearer {STRIPE_KEY}", "Stripe-Version": API_VERSION},
            data={"amount": "500", "currency": "usd", "payment_method_types[0]": "card"},
        )
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "payment_method_types_no_longer_supported"
        recorded = (await http.get(f"{fake_stripe}/_config/shim/requests")).json()
        report = stripe_contract.check(recorded[-1:])
        assert report.problems == ["POST /v1/payment_intents: payment_method_types[0]"]
        # Taken out of the session's record, so the session-wide check sees only the service.
        (await http.delete(f"{fake_stripe}/_config/shim/requests/last")).raise_for_status()


def test_the_client_is_pinned_to_the_sdks_api_version() -> None:
    assert stripe.api_version == API_VERSION
