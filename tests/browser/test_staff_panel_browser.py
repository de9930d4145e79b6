"""Staff use the embedded panel on the demo "Patient Billing" page (payreq/dev/billing_host.py, its
own origin) in Chromium: the seed's steps from opening the panel to a request paid in two parts,
with the pay page and the dev Stripe.js stand-in in between. axe-core checks the panel and the
pay page. Screenshots of each state go to tests/artifacts/panel/."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from payreq.dev.billing_host import create_app as create_host_app
from payreq.dev.fakestripe_element import STAND_IN_PATH
from tests.browser.conftest import ARTIFACTS
from tests.integration.pay_helpers import register_webhook, serve
from tests.support import PUBLIC_BASE_URL, Harness, eventually

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1100, "height": 900}
PHONE = {"width": 360, "height": 780}
LINK = re.compile(re.escape(PUBLIC_BASE_URL) + r"/pay/[A-Za-z0-9_-]+")
BLOCKING = ("serious", "critical")
FOCUS_ORDER = [
    "amount",
    "first_name",
    "last_name",
    "facility_id",
    "emails",
    "phones",
    "note",
    "send",
    "create-cancel",
]


@pytest.fixture
def shots() -> Path:
    path = ARTIFACTS / "panel"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def axe_violations(target: Any, name: str) -> list[str]:
    """Serious and critical axe-core violations of a page or frame (axe runs inside it); every
    violation, whatever its impact, is written to tests/artifacts/panel/axe-<name>.txt."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(target)
    found = results.response["violations"]
    report = [f"{v['id']} ({v['impact']}): {v['help']} {len(v['nodes'])} node(s)" for v in found]
    (ARTIFACTS / "panel").mkdir(parents=True, exist_ok=True)  # whichever test runs first
    (ARTIFACTS / "panel" / f"axe-{name}.txt").write_text(
        f"axe-core {results.response['testEngine']['version']} on {results.response['url']}\n"
        + ("\n".join(report) or "no violations")
        + "\n"
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in BLOCKING
    ]


def today() -> str:
    d = date.today()
    return f"{d:%b} {d.day}, {d.year}"


async def test_staff_send_a_request_from_the_embedded_panel_and_see_it_paid_in_two_parts(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, browser: Any, shots: Path
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        host_app = create_host_app(base, harness.api_key)
        async with serve(host_app) as host:
            deps = app.state.deps
            js = f"{fake_stripe}{STAND_IN_PATH}"  # the Payment Element stand-in
            deps.settings = deps.settings.model_copy(update={"stripe_js_url": js})
            assert (await api.patch("/v1/practice", json={"embed_origins": [host]})).is_success
            await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
            await _walk(harness, browser, base, host, shots)


async def _walk(harness: Harness, browser: Any, base: str, host: str, shots: Path) -> None:
    page = await browser.new_page(viewport=DESKTOP)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))

    # 1. open: the list comes first; the button opens the request window, pre-filled
    await page.goto(host)
    panel = page.frame_locator("#payreq-panel")
    await panel.get_by_text("No open payment requests.").wait_for()
    frame = next(f for f in page.frames if "/embed/panel" in f.url)
    dialog = panel.get_by_role("dialog", name="Create Payment Request")
    assert await dialog.is_hidden()
    assert await axe_violations(frame, "panel-list") == []
    create = panel.get_by_role("button", name="Create Payment Request")
    await create.click()
    amount = dialog.get_by_label("Amount Requested (USD)")
    await amount.wait_for()
    assert await amount.input_value() == "185.00"
    assert await dialog.get_by_label("First Name").input_value() == "Ana"
    assert await dialog.get_by_label("Last Name").input_value() == "Lopez"
    assert await frame.evaluate("document.activeElement.id") == "amount"
    assert await axe_violations(frame, "panel-open") == []
    await _assert_focus_order(frame)
    await page.screenshot(path=str(shots / "1-open.png"), full_page=True)

    # 2. fill the form; a bad address is pointed out before anything is sent
    await amount.fill("120.00")
    await dialog.get_by_label("Facility").select_option(label="Uptown Clinic")
    emails = dialog.get_by_label("Email(s)")
    await emails.fill("maria@example.com; maria@")
    await dialog.get_by_label("Note").fill("For visits on Nov 3 and Nov 10.")
    await dialog.get_by_role("button", name="Send Payment Request").click()
    error = panel.locator("#emails-error")
    await error.get_by_text("maria@", exact=False).wait_for()
    assert "maria@example.com" not in (await error.text_content() or "")
    assert await emails.get_attribute("aria-invalid") == "true"
    assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 0
    # the API's own error, next to the field it names; the window stays open
    await dialog.get_by_label("Phone(s)").fill("555-0100")
    await emails.fill("maria@example.com")
    await dialog.get_by_role("button", name="Send Payment Request").click()
    phone_error = panel.locator("#phones-error")
    await phone_error.get_by_text("E.164", exact=False).wait_for()
    assert await dialog.get_by_label("Phone(s)").get_attribute("aria-invalid") == "true"
    assert await dialog.is_visible()
    assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 0
    await dialog.get_by_label("Phone(s)").fill("")
    assert await axe_violations(frame, "panel-errors") == []
    await page.screenshot(path=str(shots / "2-bad-address.png"), full_page=True)

    # 3. send (double click): one request, shown at once; the host page is told
    await emails.fill("maria@example.com; ana@example.com")
    await dialog.get_by_role("button", name="Send Payment Request").dblclick()
    row = panel.locator("#requests-body tr").first
    await row.wait_for()
    await dialog.wait_for(state="hidden")
    assert await frame.evaluate("document.activeElement.id") == "create-open"
    text = await row.inner_text()
    assert today() in text and "Ana Lopez" in text and "$120.00" in text
    assert re.search(r"Pending|Sent", text), text
    await page.get_by_text("The panel sent payment request").wait_for()
    await page.screenshot(path=str(shots / "3-sent.png"), full_page=True)
    assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 1
    created = await harness.pool.fetchrow("SELECT * FROM payment_requests")
    assert created is not None
    assert created["facility_name"] == "Uptown Clinic" and created["amount_requested"] == 12000
    assert created["patient_id"] == "pt_demo_ana"

    # 3b. opened again, the window is pre-filled afresh; Escape closes it, focus goes back
    await create.click()
    assert await amount.input_value() == "185.00"
    assert (
        await emails.input_value() == "" and await dialog.get_by_label("Note").input_value() == ""
    )
    facility = dialog.get_by_label("Facility")
    assert await facility.evaluate("s => s.selectedOptions[0].text") == "Downtown Clinic"
    assert await panel.locator("#emails-error").is_hidden()
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert await frame.evaluate("document.activeElement.id") == "create-open"

    # 4. the email arrives (both addresses); pay part of it through its link
    mail = await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=20)
    await eventually(lambda: harness.smtp.to("ana@example.com"), timeout=20)
    link = _link_in(mail[0]).replace(PUBLIC_BASE_URL, base)
    await panel.locator("#requests-body tr", has_text="Sent").wait_for(timeout=15000)
    payer = await browser.new_page(viewport=PHONE)
    await payer.goto(link)
    await payer.get_by_text("Amount remaining").wait_for()
    pay_violations = await axe_violations(payer, "pay-page")
    await payer.get_by_label("Pay another amount").check()
    await payer.get_by_label("Amount (USD)").fill("50.00")
    await payer.get_by_label("Card number").fill("4242 4242 4242 4242")
    await payer.get_by_role("button", name=re.compile("Pay")).click()
    await payer.locator(".outcome-success").wait_for(timeout=20000)
    await panel.locator("#requests-body tr", has_text="$70.00").wait_for(timeout=20000)
    assert "Partially paid" in await panel.locator("#requests-body tr").first.inner_text()
    await page.screenshot(path=str(shots / "4-partly-paid.png"), full_page=True)

    # 5. the dev stand-in's declining card, then the rest: the request leaves the list
    await payer.get_by_label("Card number").fill("4000 0000 0000 0002")
    await payer.get_by_role("button", name=re.compile(r"Pay \$70\.00")).click()
    await payer.locator(".outcome-declined").wait_for()
    await payer.get_by_label("Card number").fill("4242 4242 4242 4242")
    await payer.get_by_role("button", name=re.compile(r"Pay \$70\.00")).click()
    await payer.locator("#paid-state").wait_for(timeout=20000)
    await payer.close()
    await panel.get_by_text("No open payment requests.").wait_for(timeout=20000)
    await page.screenshot(path=str(shots / "5-paid-removed.png"), full_page=True)

    # 6. the Payments tab (reached by keyboard) shows both payments
    await panel.get_by_role("tab", name="Payment Requests").focus()
    await page.keyboard.press("ArrowRight")
    payments = panel.locator("#payments-body tr")
    await payments.nth(1).wait_for()
    rows = [await r.inner_text() for r in await payments.all()]
    paid = [r for r in rows if "Succeeded" in r]
    assert len(paid) == 2 and all(today() in r and "visa" in r for r in paid), rows
    assert any("$50.00" in r for r in paid) and any("$70.00" in r for r in paid), rows
    assert [r for r in rows if "Succeeded" not in r and "Failed" not in r] == [], rows
    assert await axe_violations(frame, "panel-payments") == []
    await page.screenshot(path=str(shots / "6-payments.png"), full_page=True)

    # 7. usable at 360 px: no sideways scrolling inside the frame
    await page.set_viewport_size(PHONE)
    await panel.get_by_role("tab", name="Payment Requests").click()
    width = await frame.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], width
    await page.screenshot(path=str(shots / "7-phone.png"), full_page=True)
    await create.click()
    await amount.wait_for()
    assert await _dialog_fits(frame), await _dialog_fits(frame, report=True)
    assert await axe_violations(frame, "panel-open-phone") == []
    await page.screenshot(path=str(shots / "8-phone-dialog.png"), full_page=True)
    await page.close()

    assert pay_violations == [], pay_violations
    assert not [p for p in problems if "Content Security Policy" in p], problems
    allowed = (base, host)
    assert all(u.startswith(allowed) for u in requests), [
        u for u in requests if not u.startswith(allowed)
    ]


async def _assert_focus_order(frame: Any) -> None:
    """Tab walks the window's fields in order and stays inside the modal dialog."""
    await frame.locator("#amount").focus()
    seen = []
    for _ in FOCUS_ORDER:
        seen.append(await frame.evaluate("document.activeElement.id"))
        await frame.locator(":focus").press("Tab")
    assert seen == FOCUS_ORDER, seen
    # the page behind the modal dialog is inert: Tab never reaches the list's controls
    behind = "document.querySelector('.lists').contains(document.activeElement)"
    assert not await frame.evaluate(behind)


DIALOG_FITS = """() => {
  const d = document.getElementById('create-dialog').getBoundingClientRect();
  const fits = d.left >= 0 && d.right <= innerWidth
    && document.documentElement.scrollWidth <= innerWidth
    && document.getElementById('create-dialog').scrollWidth
       <= document.getElementById('create-dialog').clientWidth;
  return [fits, d.left, d.right, innerWidth, document.documentElement.scrollWidth];
}"""


async def _dialog_fits(frame: Any, report: bool = False) -> Any:
    """At 360 px the open dialog lies inside the frame, with no sideways scrolling in it."""
    found = await frame.evaluate(DIALOG_FITS)
    return found if report else found[0]


async def test_the_panel_is_refused_to_an_origin_the_practice_did_not_configure(
    harness: Harness, api: httpx.AsyncClient, browser: Any
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with serve(app) as base:
        host_app = create_host_app(base, harness.api_key)
        async with serve(host_app) as allowed, serve(host_app) as stranger:
            await api.patch("/v1/practice", json={"embed_origins": [allowed]})
            page = await browser.new_page(viewport=DESKTOP)
            await page.goto(allowed)
            await (
                page.frame_locator("#payreq-panel")
                .get_by_role("button", name="Create Payment Request")
                .wait_for()
            )

            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text))
            await page.goto(stranger)
            await eventually(lambda: any("frame-ancestors" in m for m in refused), timeout=10)
            frame = next(f for f in page.frames if f != page.main_frame)
            assert await frame.locator("#panel").count() == 0
            assert await page.text_content("#host-log") == ""
            await page.close()


def _link_in(message: Any) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    found = LINK.search(text)
    assert found, "no pay link in the email"
    return found.group(0)
