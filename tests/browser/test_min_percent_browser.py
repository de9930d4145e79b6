"""The percentage minimum on the real pay page in Chromium: the page asks for it, refuses less
before anything reaches Stripe, and lowers it as the balance falls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.test_pay_page_browser import PAYS, paying
from tests.integration.pay_helpers import payment_rows
from tests.support import Harness

pytestmark = pytest.mark.browser


async def test_the_page_follows_the_percentage_minimum(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, artifacts: Path
) -> None:
    await api.patch("/v1/practice", json={"min_payment_percent": 40})
    async with paying(harness, api, fake_stripe, browser, 12000) as payer:
        page = payer.page
        assert await page.text_content("#min-label") == "$48.00"  # 40% of $120.00
        await payer.pay(PAYS, amount="47.99")
        assert await page.text_content("#amount-error") == "The amount must be at least $48.00."
        assert await payment_rows(harness, payer.request_id) == []  # nothing was charged
        await page.screenshot(path=str(artifacts / "min-percent-refused.png"), full_page=True)

        await payer.pay(PAYS, amount="60.00")
        await page.locator(".outcome-success").wait_for(timeout=20000)
        assert await page.text_content("#remaining") == "$60.00"
        assert await page.text_content("#min-label") == "$24.00"  # 40% of what remains now
        await page.get_by_label("Pay another amount").check()
        await page.get_by_label("Amount (USD)").fill("23.99")
        await page.get_by_role("button", name="Pay $23.99").click()
        assert await page.text_content("#amount-error") == "The amount must be at least $24.00."
