"""GET /pay/{token}: the patient's page, its headers, and what unknown or closed links show."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx

from api.pay_page import render_pay
from api.pay_tokens import find_pay_link
from api.ratelimit import PayLimits
from tests.integration.pay_helpers import start_request
from tests.support import Harness
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import CancelInput, workflow_id


async def test_pay_page_shows_the_request_with_strict_headers(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        resp = await api.get(f"/pay/{token}", headers={"Authorization": ""})
    assert resp.status_code == 200
    html = resp.text
    for text in ("Sunrise Therapy", "Downtown Clinic", "Maria Lopez", "$120.00", "Nov 3"):
        assert text in html
    assert 'id="pay-form"' in html and "Pay the full balance" in html
    assert "Pay another amount" in html and 'At least <span id="min-label">$1.00</span>' in html
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com https://*.js.stripe.com;" in csp
    assert "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["cache-control"] == "no-store"
    # no inline script: every <script> loads a file the CSP allows
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert '<label for="amount">' in html and 'lang="en"' in html


async def test_the_note_is_escaped(harness: Harness, api: httpx.AsyncClient) -> None:
    async with harness.worker():
        _, token = await start_request(harness, note='<script>alert("x")</script>')
        resp = await api.get(f"/pay/{token}")
    assert "<script>alert" not in resp.text
    assert "&lt;script&gt;alert" in resp.text


async def test_unknown_tampered_and_revoked_links_get_the_same_404(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        _, token = await start_request(harness)
        _, revoked = await start_request(harness)
    await harness.pool.execute(
        "UPDATE pay_tokens SET revoked_at = now() WHERE payment_request_id ="
        " (SELECT payment_request_id FROM pay_tokens ORDER BY created_at DESC LIMIT 1)"
    )
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    answers = [await api.get(f"/pay/{t}") for t in ("nope", tampered, "x" * 500)]
    ok = [await api.get(f"/pay/{t}") for t in (token, revoked)]
    answers.append(next(r for r in ok if r.status_code == 404))
    assert sum(r.status_code == 200 for r in ok) == 1
    assert {r.status_code for r in answers} == {404}
    assert len({r.text for r in answers}) == 1
    assert "not valid" in answers[0].text
    assert answers[0].headers["cache-control"] == "no-store"


async def test_cancelled_and_expired_requests_show_a_page_without_a_form(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        cancelled_id, cancelled = await start_request(harness)
        expired_id, expired = await start_request(harness)
        handle = harness.client.get_workflow_handle(workflow_id(cancelled_id))
        await handle.execute_update(PaymentRequestWorkflow.cancel, CancelInput(reason="test"))
        await handle.result()
    await harness.pool.execute(
        "UPDATE pay_tokens SET expires_at = $2 WHERE payment_request_id = $1",
        expired_id,
        datetime.now(UTC) - timedelta(minutes=1),
    )
    resp = await api.get(f"/pay/{cancelled}")
    assert resp.status_code == 200
    assert "was cancelled" in resp.text and "pay-form" not in resp.text
    resp = await api.get(f"/pay/{expired}")
    assert resp.status_code == 200
    assert "has expired" in resp.text and "pay-form" not in resp.text
    status = await api.get(f"/pay/{cancelled}/status")
    assert status.json()["closed"] is True and status.json()["status"] == "cancelled"


async def test_opening_the_page_records_one_viewed_event_a_day(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, token = await start_request(harness)
        for _ in range(3):
            assert (await api.get(f"/pay/{token}")).status_code == 200
        # the workflow's own events keep their seqs alongside
        await harness.client.get_workflow_handle(workflow_id(request_id)).execute_update(
            PaymentRequestWorkflow.cancel, CancelInput()
        )
    rows = await harness.pool.fetch(
        "SELECT seq, key, type FROM request_events WHERE payment_request_id = $1"
        " ORDER BY at, seq NULLS FIRST",
        request_id,
    )
    assert [r["type"] for r in rows].count("viewed") == 1
    assert "cancelled" in [r["type"] for r in rows]
    viewed = next(r for r in rows if r["type"] == "viewed")
    assert viewed["seq"] is None and viewed["key"] == f"viewed:{datetime.now(UTC).date()}"
    workflow_seqs = [r["seq"] for r in rows if r["type"] != "viewed"]
    assert workflow_seqs == sorted(workflow_seqs) and None not in workflow_seqs


async def test_pay_links_are_rate_limited_by_token_and_address(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    app.state.pay_limits = PayLimits(per_address="8/minute", per_token="3/minute")
    async with harness.worker():
        _, token = await start_request(harness)
    answers = [await api.get(f"/pay/{token}") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    # other tokens from the same address: limited once the address's budget is spent
    guesses = [await api.get(f"/pay/guess{i}/status") for i in range(5)]
    assert [r.status_code for r in guesses] == [404, 404, 404, 404, 429]
    assert guesses[-1].json()["error"]["code"] == "rate_limited"


async def test_the_payment_element_is_configured_for_the_practices_account(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        _, token = await start_request(harness, amount=12000)
        resp = await api.get(f"/pay/{token}")
        link = await find_pay_link(harness.pool, token, datetime.now(UTC))
    assert link is not None
    html = resp.text
    assert 'id="payment-element"' in html and 'data-payment-method-types="card link"' in html
    assert "data-stripe-account" not in html  # the platform's own account
    settings = api._transport.app.state.deps.settings  # type: ignore[attr-defined]
    connected = replace(link, stripe_account_id="acct_1PracticeOwn")
    page = bytes(render_pay(connected, token, settings).body).decode()
    assert 'data-stripe-account="acct_1PracticeOwn"' in page
