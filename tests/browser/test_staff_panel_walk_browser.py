"""The panel's whole walk in Chromium (issue 16): the list first; "Create Payment Request"
opens the dialog pre-filled from the session; staff add a phone and send; the patient's text
leaves through the Twilio stand-in; the desk records the whole amount in cash with "Record
payment"; the paid row leaves the open list, and the API says paid, by cash, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from payreq.dev.billing_host import create_app as create_host_app
from tests.browser.test_staff_panel_browser import DESKTOP, axe_violations, shots
from tests.integration.pay_helpers import serve
from tests.integration.smshelp import Sms, sms_stack, zone_inside_window
from tests.support import Harness, eventually

pytestmark = pytest.mark.browser
__all__ = ["shots", "sms_stack"]  # fixtures
PATIENT = "+14155552671"  # a valid number, as on the patient's phone


async def test_create_with_a_phone_take_cash_at_the_desk_and_see_the_row_go(
    sms: Sms, harness: Harness, browser: Any, shots: Path
) -> None:
    await harness.pool.execute(
        "UPDATE practices SET timezone = $2 WHERE id = $1",
        harness.practice_id,
        zone_inside_window(),
    )
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        async with serve(create_host_app(sms.api_url, harness.api_key)) as host:
            assert (await api.patch("/v1/practice", json={"embed_origins": [host]})).is_success
            page = await browser.new_page(viewport=DESKTOP)
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(host)
            panel = page.frame_locator("#payreq-panel")
            create = panel.get_by_role("button", name="Create Payment Request")
            await create.wait_for()
            dialog = panel.get_by_role("dialog", name="Create Payment Request")
            assert await dialog.is_hidden()  # the list comes first

            await create.click()
            await dialog.wait_for()
            assert await panel.get_by_label("Amount Requested").input_value() == "185.00"
            await panel.get_by_label("Amount Requested").fill("120.00")
            await panel.get_by_label("Phone(s)").fill(PATIENT)
            await panel.get_by_label("Email(s)").fill("")
            frame = next(f for f in page.frames if "/embed/panel" in f.url)
            assert await axe_violations(frame, "walk-dialog") == []
            await page.screenshot(path=str(shots / "walk-1-dialog.png"), full_page=True)
            await dialog.get_by_role("button", name="Send Payment Request").click()
            try:
                await dialog.wait_for(state="hidden", timeout=10000)
            except PlaywrightTimeout:  # still open: say what the dialog shows (its errors)
                raise AssertionError(await dialog.inner_text()) from None
            row = panel.locator("#requests-body tr", has_text="$120.00")
            await row.wait_for(timeout=15000)
            rid = await harness.pool.fetchval("SELECT id FROM payment_requests")

            texts = await eventually(lambda: sms.texts_to(PATIENT), timeout=20)
            assert len(texts) == 1 and "$120.00" in texts[0]["body"]
            created = (await api.get(f"/v1/payment-requests/{rid}")).json()
            assert created["pay_url"].split("/pay/")[1] in texts[0]["body"]
            assert created["phones"] == [PATIENT] and created["emails"] == []

            await panel.get_by_role(
                "button", name="Record payment for Ana Lopez, $120.00", exact=False
            ).click()
            assert await panel.get_by_label("Amount received").input_value() == "120.00"
            await panel.get_by_label("Method").select_option("cash")
            await panel.get_by_role("button", name="Record payment", exact=True).click()
            await panel.get_by_text("No open payment requests.").wait_for(timeout=15000)
            await page.screenshot(path=str(shots / "walk-2-paid.png"), full_page=True)
            await page.close()
            assert problems == [], problems

        got = (await api.get(f"/v1/payment-requests/{rid}")).json()
        assert got["status"] == "paid" and got["amount_remaining"] == 0
        [payment] = got["payments"]
        assert (payment["amount"], payment["method"], payment["source"]) == (
            12000,
            "cash",
            "offline",
        )
        assert len(sms.texts_to(PATIENT)) >= 1  # the request's text (and the receipt's)
