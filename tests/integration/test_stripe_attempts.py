"""One PaymentIntent per pay attempt: a repeated POST of the same attempt (a retry after a lost
response, or a double click) gets the same PaymentIntent and charges once, though localstripe
ignores Idempotency-Key."""

from __future__ import annotations

import asyncio

import httpx

from tests import stripe_contract
from tests.integration.pay_helpers import start_request
from tests.support import Harness


async def _pay(
    api: httpx.AsyncClient, token: str, attempt: str, amount: int = 3000
) -> httpx.Response:
    return await api.post(
        f"/pay/{token}/payments",
        json={"amount": amount, "payment_method": "pm_card_visa", "attempt_id": attempt},
    )


def _intents_created(fake_stripe: str, since: int) -> int:
    calls = stripe_contract.recorded(fake_stripe)[since:]
    return sum(1 for c in calls if (c["method"], c["path"]) == ("POST", "/v1/payment_intents"))


async def test_the_same_attempt_twice_and_at_once_gives_one_payment_intent(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        before = len(stripe_contract.recorded(fake_stripe))
        first = await _pay(api, token, "attempt-retry-01")
        retry = await _pay(api, token, "attempt-retry-01")
        assert first.status_code == retry.status_code == 200, (first.text, retry.text)
        assert first.json()["payment_intent_id"] == retry.json()["payment_intent_id"]
        assert _intents_created(fake_stripe, before) == 1

        before = len(stripe_contract.recorded(fake_stripe))
        burst = await asyncio.gather(*(_pay(api, token, "attempt-burst-01") for _ in range(5)))
        assert {r.status_code for r in burst} == {200}, [r.text for r in burst]
        assert len({r.json()["payment_intent_id"] for r in burst}) == 1
        assert _intents_created(fake_stripe, before) == 1
    rows = await harness.pool.fetch(
        "SELECT attempt_key FROM stripe_payment_intents WHERE payment_request_id = $1", request_id
    )
    assert sorted(r["attempt_key"] for r in rows) == [
        f"{request_id}:attempt-burst-01",
        f"{request_id}:attempt-retry-01",
    ]


async def test_an_attempt_reused_for_another_amount_is_a_409(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        assert (await _pay(api, token, "attempt-reuse-01")).status_code == 200
        other = await _pay(api, token, "attempt-reuse-01", amount=4000)
    assert other.status_code == 409
    assert other.json()["error"] == {
        "code": "attempt_mismatch",
        "message": "This attempt was made with another amount or card.",
        "field": "attempt_id",
    }
