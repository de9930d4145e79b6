"""A request in Spanish as the patient sees it in Chromium (Debian's, through Playwright): the
real email the worker sent through the SMTP server, and the real pay page behind its link, with
the dev Stripe.js stand-in. The screenshots kept in docs/screenshots/ are regenerated with
`PAYREQ_WRITE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_spanish_screenshots.py`;
an ordinary run writes them to its own temporary folder, leaving the checkout clean."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.dev.fakestripe_element import STAND_IN_PATH
from tests.browser.test_pay_page_browser import PHONE, _link_in
from tests.integration.pay_helpers import register_webhook, serve, start_request
from tests.support import PUBLIC_BASE_URL, Harness, eventually

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ES_120 = "120,00\u00a0US$"  # what Babel writes for 12000 cents of usd in `es`

pytestmark = pytest.mark.browser


async def test_spanish_email_and_pay_page_screenshots(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, tmp_path: Path
) -> None:
    write_docs = os.environ.get("PAYREQ_WRITE_SCREENSHOTS") == "1"
    shots = DOCS_SCREENSHOTS if write_docs else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        deps = app.state.deps
        deps.settings = deps.settings.model_copy(
            update={"stripe_js_url": f"{fake_stripe}{STAND_IN_PATH}"}
        )
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        await start_request(
            harness,
            amount=12000,
            language="es",
            note="Por las consultas del 3 y el 10 de noviembre.",
        )
        mail = (await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=20))[-1]
        html = mail.get_body(preferencelist=("html",)).get_content()

        page = await browser.new_page(viewport=PHONE)
        await page.set_content(html, wait_until="load")
        assert await page.get_attribute("html", "lang") == "es"
        await page.get_by_text("Monto a pagar").wait_for()
        assert ES_120 in (await page.text_content("body") or "")
        await page.screenshot(path=str(shots / "es-email-request.png"), full_page=True)

        await page.goto(_link_in(mail).replace(PUBLIC_BASE_URL, base))
        await page.get_by_text("Saldo pendiente").wait_for()
        await page.get_by_label("Número de tarjeta").wait_for()  # Stripe's own locale
        assert await page.get_attribute("html", "lang") == "es"
        assert await page.text_content("#remaining") == ES_120
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.screenshot(path=str(shots / "es-pay-page.png"), full_page=True)

        await page.get_by_role("link", name="English").click()
        await page.get_by_text("Amount remaining").wait_for()
        assert await page.get_attribute("html", "lang") == "en"
        assert await page.text_content("#remaining") == "$120.00"
        await page.close()
    assert {p.name for p in shots.glob("es-*.png")} >= {
        "es-email-request.png",
        "es-pay-page.png",
    }
