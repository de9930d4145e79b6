"""The desk records a payment in the embedded panel (issue 16.2), in Chromium, by keyboard
only: "Record payment" on the open row, the amount defaulting to what remains, a cash payment
of part of it, the row updating, the Payments tab showing it as a desk payment, then the rest
at 360 px, after which the request leaves the open list. axe-core checks the open form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.dev.billing_host import create_app as create_host_app
from tests.browser.test_staff_panel_browser import DESKTOP, PHONE, axe_violations, shots
from tests.integration.pay_helpers import serve
from tests.support import Harness, eventually

pytestmark = pytest.mark.browser
__all__ = ["shots"]  # the fixture, shared with the panel's main walk


async def test_record_a_cash_payment_at_the_desk_and_see_the_row_update(
    harness: Harness, api: httpx.AsyncClient, browser: Any, shots: Path
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with (
        harness.worker(),
        serve(app) as base,
        serve(create_host_app(base, harness.api_key)) as host,
    ):
        assert (await api.patch("/v1/practice", json={"embed_origins": [host]})).is_success
        await _walk(harness, browser, host, shots)


async def _walk(harness: Harness, browser: Any, host: str, shots: Path) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(host)
    panel = page.frame_locator("#payreq-panel")
    frame = await _send_one(page, panel)
    assert await frame.evaluate("document.activeElement.id") == "create-open"
    rid = await harness.pool.fetchval("SELECT id FROM payment_requests")

    # keyboard only: focus the row's action, open the form, amount pre-filled with what remains
    record = panel.get_by_role("button", name="Record payment for Ana Lopez, $120.00", exact=False)
    await record.focus()
    await page.keyboard.press("Enter")
    amount = panel.get_by_label("Amount received")
    await eventually(lambda: _is_focused(frame, "desk-amount"), timeout=5)
    assert await amount.input_value() == "120.00"
    assert await axe_violations(frame, "panel-desk-form") == []
    await page.screenshot(path=str(shots / "desk-1-form.png"), full_page=True)
    await page.keyboard.press("Control+A")
    await page.keyboard.type("40.00")
    await page.keyboard.press("Tab")  # the method select: Cash is first
    assert await frame.evaluate("document.activeElement.id") == "desk-method"
    await page.keyboard.press("Tab")
    await page.keyboard.type("drawer 2")
    await page.keyboard.press("Enter")
    row = panel.locator("#requests-body tr", has_text="$80.00")
    await row.wait_for(timeout=15000)
    assert "Partially paid" in await row.inner_text()
    assert await panel.locator("#desk-form").is_hidden()
    stored = await harness.pool.fetch(
        "SELECT amount, method, source, reference FROM payments WHERE payment_request_id = $1",
        rid,
    )
    assert [tuple(r) for r in stored] == [(4000, "cash", "offline", "drawer 2")]
    await page.screenshot(path=str(shots / "desk-2-partly-paid.png"), full_page=True)

    # the Payments tab, by keyboard: the desk payment with its method
    await panel.get_by_role("tab", name="Payment Requests").focus()
    await page.keyboard.press("ArrowRight")
    payment = panel.locator("#payments-body tr").first
    await payment.wait_for()
    text = await payment.inner_text()
    assert "Cash (desk)" in text and "$40.00" in text, text
    assert await axe_violations(frame, "panel-desk-payments") == []

    # at 360 px, the rest by check: paid, so the request leaves the open list
    await page.set_viewport_size(PHONE)
    await page.keyboard.press("ArrowLeft")
    await panel.get_by_role(
        "button", name="Record payment for Ana Lopez, $80.00", exact=False
    ).click()
    assert await amount.input_value() == "80.00"
    await panel.get_by_label("Method").select_option("check")
    await panel.get_by_label("Reference", exact=False).fill("chk 1042")
    width = await frame.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], width
    await page.screenshot(path=str(shots / "desk-3-phone-form.png"), full_page=True)
    await panel.get_by_role("button", name="Record payment", exact=True).click()
    await panel.get_by_text("No open payment requests.").wait_for(timeout=15000)
    status = await harness.pool.fetchval("SELECT status FROM payment_requests WHERE id = $1", rid)
    assert status == "paid"
    await page.close()
    assert problems == [], problems


async def _send_one(page: Any, panel: Any) -> Any:
    """Keyboard only: the button opens the window with the amount focused; Enter sends."""
    await panel.get_by_role("button", name="Create Payment Request").focus()
    await page.keyboard.press("Enter")
    dialog = panel.get_by_role("dialog", name="Create Payment Request")
    await dialog.wait_for()
    await page.keyboard.press("Control+A")
    await page.keyboard.type("120.00")
    for _ in range(4):  # first name, last name, facility, email(s)
        await page.keyboard.press("Tab")
    await page.keyboard.type("maria@example.com")
    await page.keyboard.press("Enter")
    await dialog.wait_for(state="hidden")
    await panel.locator("#requests-body tr", has_text="$120.00").wait_for(timeout=15000)
    return next(f for f in page.frames if "/embed/panel" in f.url)


async def _is_focused(frame: Any, element_id: str) -> bool:
    return bool(await frame.evaluate("document.activeElement.id") == element_id)
