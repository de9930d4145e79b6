"""Each default email's HTML rendered by headless Chromium (Debian's, through Playwright):
screenshots for people to look at, under tests/artifacts/emails/, and proof that the HTML
needs nothing from the network and fits a phone screen without sideways scrolling."""

from __future__ import annotations

from pathlib import Path

import pytest

from payreq.rendering.emails import KINDS, default_template, render, sample_context

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "emails"
VIEWPORTS = {"desktop": (900, 700), "mobile": (375, 640)}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin"),
]


async def test_default_emails_render_in_chromium_without_the_network() -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            for kind in KINDS:
                html = render(default_template(kind), sample_context(kind, "Sunrise Therapy")).html
                for name, (width, height) in VIEWPORTS.items():
                    page = await browser.new_page(viewport={"width": width, "height": height})
                    fetched: list[str] = []
                    page.on("request", lambda r, seen=fetched: seen.append(r.url))
                    await page.set_content(html, wait_until="load")
                    assert fetched == [], f"{kind} loads {fetched}"
                    overflow = await page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth"
                    )
                    assert overflow <= 0, f"{kind} scrolls sideways on {name}"
                    await page.screenshot(
                        path=str(ARTIFACTS / f"{kind}-{name}.png"), full_page=True
                    )
                    await page.close()
        finally:
            await browser.close()
    assert len(list(ARTIFACTS.glob("*.png"))) >= len(KINDS) * len(VIEWPORTS)
