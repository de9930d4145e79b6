"""The patient's language (issue 16.3) end to end: the API over HTTP, the workflow on the
time-skipping server, the real SMTP server (aiosmtpd), the local Twilio stand-in and Postgres.
A request in Spanish is Spanish in its email, its text, its pay page and its receipt, with
amounts and dates as Babel writes them for `es`."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx

from payreq.sms_text import fits_one_gsm7_message
from tests.integration.apihelp import create_body, error_of
from tests.integration.smshelp import Sms, sms_stack, zone_inside_window  # noqa: F401
from tests.integration.test_texts import PHONE, practice_in_zone, until_event
from tests.support import Harness, eventually

PR = "/v1/payment-requests"
ES_120 = "120,00\u00a0US$"  # babel.numbers.format_currency(Decimal("120.00"), "USD", locale="es")
ES_120_LINE = "120,00 US$"  # in a subject (folded onto one line) and a text (GSM-7 has no NBSP)
SPANISH_MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]


def plain(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content())


async def mail_to(harness: Harness, address: str, count: int) -> list[EmailMessage]:
    async def check() -> list[EmailMessage] | None:
        found = harness.smtp.to(address)
        return found if len(found) >= count else None

    found: list[EmailMessage] = await eventually(check, timeout=20)
    return found


async def created(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    resp = await api.post(PR, json=create_body(**overrides))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_a_spanish_request_is_spanish_in_email_text_pay_page_and_receipt(
    sms: Sms, harness: Harness
) -> None:
    await practice_in_zone(harness, zone_inside_window())
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        req = await created(api, language="es", emails="maria@example.com", phones=[PHONE])
        assert req["language"] == "es"
        await until_event(api, req["id"], "text_queued")

        (mail,) = await mail_to(harness, "maria@example.com", 1)
        assert mail["Subject"] == f"Sunrise Therapy: solicitud de pago por {ES_120_LINE}"
        text = plain(mail, "plain")
        assert "Hola, Maria Lopez:" in text and f"Monto a pagar: {ES_120}" in text
        due_line = next(li for li in text.splitlines() if li.startswith("Fecha límite de pago:"))
        assert any(f" de {m} de " in due_line for m in SPANISH_MONTHS), due_line
        assert '<html lang="es">' in plain(mail, "html")

        (sent,) = sms.texts_to(PHONE)
        body = sent["body"]
        assert body.startswith("Sunrise Therapy: solicitud de pago por 120,00 US$.")
        assert "Responda STOP para darse de baja" in body and fits_one_gsm7_message(body), body

        link = urlsplit(req["pay_url"]).path
        page = await api.get(link)
        assert page.status_code == 200
        assert '<html lang="es">' in page.text and ES_120 in page.text
        assert "¿Cuánto desea pagar?" in page.text and 'href="?lang=en"' in page.text
        english = await api.get(link, params={"lang": "en"})
        assert '<html lang="en">' in english.text and "$120.00" in english.text
        assert 'href="?lang=es"' in english.text

        paid = await api.post(
            f"{PR}/{req['id']}/payments",
            json={"amount": 12000, "method": "cash"},
            headers={"Idempotency-Key": "lang-desk-1"},
        )
        assert paid.status_code == 201, paid.text
        receipt = (await mail_to(harness, "maria@example.com", 2))[1]
        assert receipt["Subject"] == (
            f"Sunrise Therapy: recibo de {ES_120_LINE}, pagado en su totalidad"
        )
        assert f"Total pagado: {ES_120}" in plain(receipt, "plain")
        await until_event(api, req["id"], "text_queued", count=2)
        texts = {t["body"] for t in sms.texts_to(PHONE)}
        assert (
            "Sunrise Therapy: gracias, recibimos 120,00 US$. Su saldo ya fue pagado por completo."
        ) in texts
        closed = await api.get(link)
        assert '<html lang="es">' in closed.text and "pagada en su totalidad" in closed.text


async def test_the_practice_default_language_applies_and_unknown_languages_are_422(
    sms: Sms, harness: Harness
) -> None:
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        assert (await api.get("/v1/practice")).json()["default_language"] == "en"
        bad = await api.patch("/v1/practice", json={"default_language": "fr"})
        assert error_of(bad) == (422, "invalid_value", "default_language"), bad.text
        changed = await api.patch("/v1/practice", json={"default_language": "es"})
        assert changed.json()["default_language"] == "es"

        req = await created(api, emails="ana@example.com")
        assert req["language"] == "es"
        assert (await api.get(f"{PR}/{req['id']}")).json()["language"] == "es"
        (mail,) = await mail_to(harness, "ana@example.com", 1)
        assert "solicitud de pago" in mail["Subject"]
        english = await created(api, emails="pat@example.com", language="en")
        assert english["language"] == "en"
        (mail,) = await mail_to(harness, "pat@example.com", 1)
        assert mail["Subject"] == "Sunrise Therapy: payment request for $120.00"

        for value in ("fr", "ES", ""):
            resp = await api.post(PR, json=create_body(language=value))
            assert error_of(resp)[::2] == (422, "language"), resp.text


async def test_templates_are_per_kind_and_language(sms: Sms, harness: Harness) -> None:
    await practice_in_zone(harness, zone_inside_window())
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        mine = {
            "subject": "{{ practice_name }}: su saldo es {{ amount_due }}",
            "html": "<p>Hola {{ first_name }}, pague aquí: {{ pay_url }}</p>",
            "text": "Hola {{ first_name }}, pague aquí: {{ pay_url }}",
        }
        put = await api.put("/v1/email-templates/request", params={"language": "es"}, json=mine)
        assert put.status_code == 200, put.text
        assert put.json()["language"] == "es" and put.json()["is_default"] is False
        es = (await api.get("/v1/email-templates/request?language=es")).json()
        assert es["subject"] == mine["subject"]
        en = (await api.get("/v1/email-templates/request")).json()
        assert en["language"] == "en" and en["is_default"] is True
        preview = await api.post("/v1/email-templates/request/preview?language=es")
        assert preview.json()["subject"] == f"Sunrise Therapy: su saldo es {ES_120_LINE}"
        es_receipt = (await api.get("/v1/email-templates/receipt?language=es")).json()
        assert es_receipt["is_default"] and "pagado en su totalidad" in es_receipt["subject"]
        wrong = {**mine, "text": "{{ balance }} {{ pay_url }}"}
        bad = await api.put("/v1/email-templates/request?language=es", json=wrong)
        assert error_of(bad) == (422, "invalid_template", "text"), bad.text
        unknown = await api.get("/v1/email-templates/request?language=fr")
        assert error_of(unknown)[::2] == (422, "language"), unknown.text

        default_text = (await api.get("/v1/text-templates/request?language=es")).json()
        assert default_text["is_default"] and "solicitud de pago" in default_text["body"]
        text = {"body": "{{ practice_name }}: saldo de {{ amount_due }}. Pagar: {{ pay_url }}"}
        assert (await api.put("/v1/text-templates/request?language=es", json=text)).is_success
        shown = await api.post("/v1/text-templates/request/preview?language=es")
        assert shown.json()["body"].startswith("Sunrise Therapy: saldo de 120,00 US$. Pagar: ")
        for broken, reason in (
            ("{{ first_name }} {{ pay_url }}", "unknown placeholder 'first_name'"),
            ("{{ practice_name }}: {{ amount_due }}", "must show the pay link"),
            ("{% if %}", "syntax error"),
        ):
            resp = await api.put("/v1/text-templates/request?language=es", json={"body": broken})
            assert error_of(resp) == (422, "invalid_template", "body"), resp.text
            assert reason in resp.json()["error"]["message"], resp.text
        assert (await api.get("/v1/text-templates/request")).json()["is_default"] is True

        req = await created(api, language="es", emails="maria@example.com", phones=[PHONE])
        await until_event(api, req["id"], "text_queued")
        (mail,) = await mail_to(harness, "maria@example.com", 1)
        assert mail["Subject"] == f"Sunrise Therapy: su saldo es {ES_120_LINE}"
        (sent,) = sms.texts_to(PHONE)
        assert sent["body"] == f"Sunrise Therapy: saldo de 120,00 US$. Pagar: {req['pay_url']}"
