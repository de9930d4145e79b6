"""A patient pays through the real page in Chromium: the link from the real email, part of the
balance, the new balance, a declined card, the rest, and the paid state. Screenshots of each
state go to tests/artifacts/pay/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import FileResponse

from tests.integration.pay_helpers import read_model, register_webhook, serve, start_request
from tests.support import PUBLIC_BASE_URL, Harness, eventually

# The dev stack's Stripe.js stand-in (never served by the API): 4000 0000 0000 0002 declines.
STRIPE_DOUBLE = Path(__file__).resolve().parents[2] / "payreq" / "dev_static" / "stripe.js"
PHONE = {"width": 360, "height": 780}
LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"/pay/[A-Za-z0-9_-]+")

pytestmark = pytest.mark.browser


async def test_a_patient_pays_part_then_the_rest_in_the_browser(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, artifacts: Path
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    app.add_api_route(
        "/test-only/stripe.js",
        lambda: FileResponse(STRIPE_DOUBLE, media_type="text/javascript"),
        include_in_schema=False,
    )
    async with harness.worker(), serve(app) as base:
        deps = app.state.deps
        deps.settings = deps.settings.model_copy(
            update={"stripe_js_url": f"{base}/test-only/stripe.js"}
        )
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, _ = await start_request(harness, amount=12000)
        mail = await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=20)
        link = _link_in(mail[0]).replace(PUBLIC_BASE_URL, base)

        page = await browser.new_page(viewport=PHONE)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        await page.goto(link)
        await page.get_by_text("Amount remaining").wait_for()
        assert await page.text_content("#remaining") == "$120.00"
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(artifacts / "1-open.png"), full_page=True)

        await page.get_by_label("Pay another amount").check()
        await page.get_by_label("Amount (USD)").fill("50.00")
        await page.get_by_label("Card number").fill("4000 0000 0000 0002")
        await page.get_by_role("button", name=re.compile("Pay")).click()
        await page.locator(".outcome-declined").wait_for()
        assert "Your card was declined." in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "2-declined.png"), full_page=True)

        await page.get_by_label("Card number").fill("4242 4242 4242 4242")
        await page.get_by_role("button", name=re.compile("Pay")).click()
        await page.locator(".outcome-success").wait_for(timeout=20000)
        assert await page.text_content("#remaining") == "$70.00"
        assert "Amount remaining: $70.00" in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "3-partly-paid.png"), full_page=True)

        assert await page.get_by_label("Pay the full balance").is_checked()
        await page.get_by_role("button", name=re.compile(r"Pay \$70\.00")).click()
        await page.locator("#paid-state").wait_for(timeout=20000)
        assert "paid in full" in (await page.text_content("#outcome") or "")
        await page.screenshot(path=str(artifacts / "4-thank-you.png"), full_page=True)

        await eventually(lambda: _status_is(harness, request_id, "paid"), timeout=15)
        await page.reload()
        await page.get_by_text("This request is paid in full").wait_for()
        assert await page.locator("#pay-form").count() == 0
        await page.screenshot(path=str(artifacts / "5-paid.png"), full_page=True)
        await page.close()
    csp = [p for p in problems if "Content Security Policy" in p]
    assert not csp, csp
    assert (await read_model(harness, request_id))["amount_paid"] == 12000


def _link_in(message: Any) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.search(text)
    assert found, "no pay link in the email"
    return found.group(0)


async def _status_is(h: Harness, request_id: str, status: str) -> bool:
    return (await read_model(h, request_id))["status"] == status
