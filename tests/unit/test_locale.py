"""Amounts and dates as Babel (CLDR) writes them for each language, and the one money()."""

from __future__ import annotations

from datetime import date

from payreq.rendering.emails import KINDS
from payreq.rendering.locale import LANGUAGES, language, long_date, money
from payreq.rendering.texts import default_text, render_text, sample_text_context
from payreq.sms_text import fits_one_gsm7_message


def test_money_and_dates_per_language() -> None:
    assert LANGUAGES == ("en", "es")
    assert money(12000, "usd") == money(12000, "usd", "en") == "$120.00"
    assert money(12000, "usd", "es") == "120,00\u00a0US$"
    assert money(123450, "usd", "es") == "1.234,50\u00a0US$"
    assert money(1500, "jpy", "es") == "1.500\u00a0JPY"
    assert long_date(date(2027, 1, 25)) == "January 25, 2027"
    assert long_date(date(2027, 1, 25), "es") == "25 de enero de 2027"


def test_an_unknown_language_is_the_default() -> None:
    assert language("fr") == language(None) == "en" and language("es") == "es"


def test_spanish_default_texts_fit_one_gsm7_segment() -> None:
    for kind in KINDS:
        body = render_text(default_text(kind, "es"), sample_text_context(kind, "Clínica Sol", "es"))
        assert "120,00 US$" in body or "50,00 US$" in body, body
        assert fits_one_gsm7_message(body.replace("Clínica", "Clinica")), body
