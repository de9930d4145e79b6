"""Item 5: the pay link's rate limits can neither be dodged nor turned against a patient, and
every API instance shares them (counters in Postgres)."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from api.ratelimit import PayLimits
from payreq.settings import Settings
from tests.integration.pay_helpers import start_request
from tests.security.conftest import client_at
from tests.support import Harness, make_app

PROXY = "10.1.0.1"  # the load balancer, listed in TRUSTED_PROXIES
ATTACKER, PATIENT = "203.0.113.7", "198.51.100.9"
PAYMENT = {"amount": 99_999_999, "payment_method": "pm_card_visa"}  # over what remains: 409


def guess() -> str:
    return secrets.token_urlsafe(24)


async def test_rotating_x_forwarded_for_through_a_trusted_proxy_is_still_limited(
    harness: Harness, settings: Settings
) -> None:
    app = make_app(harness, settings.model_copy(update={"trusted_proxies": "10.1.0.0/16"}))
    app.state.pay_limits = PayLimits(failures_per_address="5/10 minutes")
    async with client_at(app, PROXY) as via_proxy, client_at(app, ATTACKER) as direct:
        # The proxy appends the address it saw; the attacker invents everything to its left.
        statuses = [
            (
                await via_proxy.get(
                    f"/pay/{guess()}/status",
                    headers={"X-Forwarded-For": f"192.0.2.{n}, 10.1.0.{n}, {ATTACKER}"},
                )
            ).status_code
            for n in range(8)
        ]
        # Sent straight to the app, without a trusted proxy, the header is ignored.
        spoofed = [
            (
                await direct.get(f"/pay/{guess()}", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            ).status_code
            for n in range(3)
        ]
        other = await via_proxy.get(f"/pay/{guess()}/status", headers={"X-Forwarded-For": PATIENT})
    assert statuses == [404] * 5 + [429] * 3
    assert spoofed == [429] * 3  # the same attacker, same budget
    assert other.status_code == 404  # another client behind the same proxy is not limited


async def test_someone_elses_traffic_and_guesses_never_lock_a_patients_link(
    harness: Harness, settings: Settings
) -> None:
    app = make_app(harness, settings)
    app.state.pay_limits = PayLimits(unknown_tokens_global="5/minute")
    async with harness.worker():
        _, token = await start_request(harness)
        async with client_at(app, ATTACKER) as attacker, client_at(app, PATIENT) as patient:
            views = [(await attacker.get(f"/pay/{token}/status")).status_code for _ in range(70)]
            paid = [
                (await attacker.post(f"/pay/{token}/payments", json=PAYMENT)).status_code
                for _ in range(12)
            ]
            # Guesses near the real token, from many addresses, past the global cap.
            for n in range(10):
                async with client_at(app, f"192.0.2.{n}") as guesser:
                    await guesser.get(f"/pay/{token[:-2]}{n:02d}")
            page = await patient.get(f"/pay/{token}")
            status = await patient.get(f"/pay/{token}/status")
            payment = await patient.post(f"/pay/{token}/payments", json=PAYMENT)
            locked_out = await attacker.get(f"/pay/{guess()}")
    assert views.count(429) > 0 and paid[-1] == 429  # the attacker is limited
    assert (page.status_code, status.status_code, payment.status_code) == (200, 200, 409)
    assert locked_out.status_code == 404  # no failures of its own: one lookup, even now


@pytest.mark.parametrize("replicas", [2])
async def test_two_api_instances_share_the_card_testing_cap(
    harness: Harness, settings: Settings, database_url: str, replicas: int
) -> None:
    pools = [
        await asyncpg.create_pool(database_url, min_size=1, max_size=2) for _ in range(replicas)
    ]
    apps = [make_app(harness, settings, pool) for pool in pools]
    try:
        async with harness.worker():
            _, token = await start_request(harness)
            clients = [client_at(app, ATTACKER) for app in apps]
            statuses = [
                (
                    await clients[n % replicas].post(f"/pay/{token}/payments", json=PAYMENT)
                ).status_code
                for n in range(14)
            ]
            for c in clients:
                await c.aclose()
    finally:
        for pool in pools:
            await pool.close()
    assert statuses == [409] * 10 + [429] * 4  # 10 per link and address, whichever replica


async def test_rotating_addresses_on_one_link_stop_at_the_links_payment_cap(
    harness: Harness, settings: Settings
) -> None:
    """Card testing through one link from many addresses: each address is under its own
    budget, the link's own cap across addresses still stops them."""
    app = make_app(harness, settings)
    app.state.pay_limits = PayLimits(payments_per_link="8/hour")
    async with harness.worker():
        _, token = await start_request(harness)
        statuses = []
        for n in range(12):
            async with client_at(app, f"192.0.2.{n}") as tester:
                resp = await tester.post(f"/pay/{token}/payments", json=PAYMENT)
                statuses.append(resp.status_code)
    assert statuses == [409] * 8 + [429] * 4
