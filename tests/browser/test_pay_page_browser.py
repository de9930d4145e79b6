"""A patient pays through the real page in Chromium, with the link from the real email and the
Payment Element of the dev Stripe.js stand-in (payreq/dev/static/stripe.js, served by the fake
Stripe): part of the balance, a declined card, the rest, and the paid state; a 3-D Secure card
whose challenge the patient completes; and one whose challenge fails, then a retry that works.
Screenshots of each state go to tests/artifacts/pay/."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.dev.fakestripe_element import STAND_IN_PATH
from tests.browser.test_staff_panel_browser import axe_violations
from tests.integration.pay_helpers import (
    payment_rows,
    read_model,
    register_webhook,
    serve,
    start_request,
)
from tests.support import PUBLIC_BASE_URL, Harness, eventually

PHONE = {"width": 360, "height": 780}
LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"/pay/[A-Za-z0-9_-]+")
THREE_D_SECURE = "4000 0027 6000 3184"  # Stripe's "authentication required" card
DECLINED = "4000 0000 0000 0002"
PAYS = "4242 4242 4242 4242"
CHALLENGE = "Confirm this payment with your bank"

pytestmark = pytest.mark.browser


@dataclass
class Payer:
    page: Any
    request_id: str
    problems: list[str] = field(default_factory=list)

    async def pay(self, card: str, amount: str | None = None) -> None:
        if amount:
            await self.page.get_by_label("Pay another amount").check()
            await self.page.get_by_label("Amount (USD)").fill(amount)
        await self.page.get_by_label("Card number").fill(card)
        await self.page.get_by_role("button", name=re.compile("^Pay")).click()

    async def challenge(self) -> Any:
        dialog = self.page.get_by_role("dialog", name=CHALLENGE)
        await dialog.wait_for()
        return dialog


@asynccontextmanager
async def paying(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, amount: int
) -> AsyncIterator[Payer]:
    """A request of `amount` and its pay page open on a phone, as the patient gets it."""
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        deps = app.state.deps
        deps.settings = deps.settings.model_copy(
            update={"stripe_js_url": f"{fake_stripe}{STAND_IN_PATH}"}
        )
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, _ = await start_request(harness, amount=amount)
        mail = await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=20)
        link = _link_in(mail[-1]).replace(PUBLIC_BASE_URL, base)
        page = await browser.new_page(viewport=PHONE)
        payer = Payer(page, request_id)
        page.on("console", lambda m: payer.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: payer.problems.append(str(e)))
        await page.goto(link)
        await page.get_by_text("Amount remaining").wait_for()
        await page.get_by_label("Card number").wait_for()
        yield payer
        await page.close()
    csp = [p for p in payer.problems if "Content Security Policy" in p]
    assert not csp, csp


async def test_a_patient_pays_part_then_the_rest_in_the_browser(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, artifacts: Path
) -> None:
    async with paying(harness, api, fake_stripe, browser, 12000) as payer:
        page = payer.page
        assert await page.text_content("#remaining") == "$120.00"
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(artifacts / "1-open.png"), full_page=True)
        assert await axe_violations(page, "pay-payment-element") == []

        await payer.pay(DECLINED, amount="50.00")
        await page.locator(".outcome-declined").wait_for()
        assert "Your card was declined." in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "2-declined.png"), full_page=True)

        await payer.pay(PAYS)
        await page.locator(".outcome-success").wait_for(timeout=20000)
        assert await page.text_content("#remaining") == "$70.00"
        assert "Amount remaining: $70.00" in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "3-partly-paid.png"), full_page=True)

        assert await page.get_by_label("Pay the full balance").is_checked()
        await page.get_by_role("button", name=re.compile(r"Pay \$70\.00")).click()
        await page.locator("#paid-state").wait_for(timeout=20000)
        assert "paid in full" in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "4-thank-you.png"), full_page=True)

        await eventually(lambda: _status_is(harness, payer.request_id, "paid"), timeout=15)
        await page.reload()
        await page.get_by_text("This request is paid in full").wait_for()
        assert await page.locator("#pay-form").count() == 0
        await page.screenshot(path=str(artifacts / "5-paid.png"), full_page=True)
    assert (await read_model(harness, payer.request_id))["amount_paid"] == 12000


async def test_a_3d_secure_card_the_patient_authenticates_pays_in_full(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, artifacts: Path
) -> None:
    async with paying(harness, api, fake_stripe, browser, 12000) as payer:
        page = payer.page
        started = time.monotonic()
        await payer.pay(THREE_D_SECURE)
        dialog = await payer.challenge()
        challenged = time.monotonic()
        complete = dialog.get_by_role("button", name="Complete authentication")
        assert await complete.evaluate("b => b === document.activeElement")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(artifacts / "6-3ds-challenge.png"), full_page=True)
        assert await axe_violations(page, "pay-3ds-challenge") == []

        await complete.click()
        await page.locator("#paid-state").wait_for(timeout=20000)
        finished = time.monotonic()
        assert await dialog.count() == 0
        assert "paid in full" in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "7-3ds-paid.png"), full_page=True)
        await page.reload()
        await page.get_by_text("This request is paid in full").wait_for()
    row = await read_model(harness, payer.request_id)
    assert (row["amount_paid"], row["amount_remaining"], row["status"]) == (12000, 0, "paid")
    payments = await payment_rows(harness, payer.request_id)
    assert [(p["amount"], p["status"], p["method"]) for p in payments] == [
        (12000, "succeeded", "visa •••• 3184")
    ]
    print(
        f"3DS completed: click to challenge {challenged - started:.2f}s, "
        f"complete to paid page {finished - challenged:.2f}s"
    )


async def test_a_failed_3d_secure_challenge_takes_nothing_and_a_retry_pays(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, artifacts: Path
) -> None:
    async with paying(harness, api, fake_stripe, browser, 12000) as payer:
        page = payer.page
        started = time.monotonic()
        await payer.pay(THREE_D_SECURE, amount="50.00")
        dialog = await payer.challenge()
        await dialog.get_by_role("button", name="Fail authentication").click()
        await page.locator(".outcome-declined").wait_for()
        failed = time.monotonic()
        outcome = await page.text_content("#outcome") or ""
        assert "The payment was not completed." in outcome
        assert "unable to authenticate" in outcome and "No money was taken" in outcome
        assert await page.evaluate("document.activeElement.id") == "outcome"
        await page.screenshot(path=str(artifacts / "8-3ds-failed.png"), full_page=True)
        await eventually(lambda: _failed_payment_recorded(harness, payer.request_id), timeout=15)
        row = await read_model(harness, payer.request_id)
        assert (row["amount_paid"], row["amount_remaining"]) == (0, 12000)
        assert await page.text_content("#remaining") == "$120.00"

        retried = time.monotonic()
        await page.get_by_role("button", name=re.compile(r"Pay \$50\.00")).click()
        dialog = await payer.challenge()
        await dialog.get_by_role("button", name="Complete authentication").click()
        await page.locator(".outcome-success").wait_for(timeout=20000)
        finished = time.monotonic()
        assert await page.text_content("#remaining") == "$70.00"
        await page.screenshot(path=str(artifacts / "9-3ds-retried.png"), full_page=True)
    row = await read_model(harness, payer.request_id)
    assert (row["amount_paid"], row["amount_remaining"]) == (5000, 7000)
    payments = await payment_rows(harness, payer.request_id)
    assert sorted(p["status"] for p in payments) == ["failed", "succeeded"]
    print(
        f"3DS failed: click to failure message {failed - started:.2f}s, "
        f"retry to new balance {finished - retried:.2f}s"
    )


async def test_a_retry_after_a_lost_request_reposts_the_same_attempt(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, artifacts: Path
) -> None:
    async with paying(harness, api, fake_stripe, browser, 12000) as payer:
        page = payer.page
        posted: list[dict[str, Any]] = []

        async def lose_the_first(route: Any) -> None:
            posted.append(json.loads(route.request.post_data))
            if len(posted) == 1:
                await route.abort("connectionreset")
            else:
                await route.continue_()

        await page.route("**/pay/*/payments", lose_the_first)
        await payer.pay(PAYS, amount="20.00")
        await page.locator(".outcome-error").wait_for()
        assert "you will not be charged twice" in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "10-retry.png"), full_page=True)
        await page.get_by_role("button", name=re.compile(r"Pay \$20\.00")).click()
        await page.locator(".outcome-success").wait_for(timeout=20000)
        assert await page.text_content("#remaining") == "$100.00"

        await page.get_by_role("button", name=re.compile(r"Pay \$100\.00")).click()
        await page.locator("#paid-state").wait_for(timeout=20000)
    first, retry, second = posted
    assert retry == first  # same amount, ConfirmationToken and attempt_id
    assert first["confirmation_token"].startswith("ctoken_") and first["amount"] == 2000
    assert second["attempt_id"] != first["attempt_id"]  # a new attempt, after an answer
    assert second["confirmation_token"] != first["confirmation_token"]
    assert (await read_model(harness, payer.request_id))["amount_paid"] == 12000


def _link_in(message: Any) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.search(text)
    assert found, "no pay link in the email"
    return found.group(0)


async def _status_is(h: Harness, request_id: str, status: str) -> bool:
    return bool((await read_model(h, request_id))["status"] == status)


async def _failed_payment_recorded(h: Harness, request_id: str) -> bool:
    return [p["status"] for p in await payment_rows(h, request_id)] == ["failed"]
