"""The patient's language, and amounts and dates written for it with Babel (CLDR). Money stays
integer minor units until this point and never goes through a float."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final, Literal, get_args

from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision

Language = Literal["en", "es"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "en"
# The CLDR locale each language is written in. Spanish is CLDR's `es`, which names the dollar
# unambiguously ("120,00 US$"), as Spanish-language statements do.
LOCALES: Final[dict[str, str]] = {"en": "en_US", "es": "es"}


def language(value: str | None) -> Language:
    """A stored or requested language, or the default for anything unknown."""
    for known in LANGUAGES:
        if value == known:
            return known
    return DEFAULT_LANGUAGE


def money(cents: int, currency: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """Integer minor units to a display string for the language: `$120.00`, `120,00 US$`."""
    code = currency.upper()
    value = Decimal(cents).scaleb(-get_currency_precision(code))
    return str(format_currency(value, code, locale=LOCALES[language(lang)]))


def long_date(day: date, lang: str = DEFAULT_LANGUAGE) -> str:
    """A due date as the patient reads it: `January 25, 2027`, `25 de enero de 2027`."""
    return str(format_date(day, format="long", locale=LOCALES[language(lang)]))
