"""The body of a text: the practice's template for its kind and language, or the default of
that language, rendered with the practice name, the amounts and the pay link only (no patient
name, nothing clinical). A practice's text template is validated like an email template, once,
when it is saved."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from payreq.rendering.emails import (
    KINDS,
    SAMPLE_PAY_URL,
    TemplateInvalid,
    check_source,
    render_part,
)
from payreq.rendering.locale import DEFAULT_LANGUAGE, LANGUAGES, language, money

SMS_DIR = Path(__file__).resolve().parent / "templates" / "sms"  # /<language>/<kind>.j2
PART = "body"
MAX_TEXT_CHARS = 480  # three concatenated GSM-7 segments; the defaults fit in one
TEXT_PLACEHOLDERS: dict[str, str] = {
    "practice_name": "The practice's name, as in `GET /v1/practice`.",
    "amount_due": "What remains to pay, written for the request's language: `$120.00`, "
    "`120,00 US$`.",
    "amount_paid": "`payment_received`: this payment; `receipt`: the total paid.",
    "pay_url": "The recipient's secure pay link (required in `request` and `reminder`).",
}
_ALL = frozenset(TEXT_PLACEHOLDERS)
KIND_TEXT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "request": _ALL,
    "reminder": _ALL,
    "payment_received": _ALL,
    "receipt": frozenset(("practice_name", "amount_paid")),
}
TEXT_LINK_REQUIRED = frozenset({"request", "reminder"})


@lru_cache(maxsize=len(KINDS) * len(LANGUAGES))
def default_text(kind: str, lang: str = DEFAULT_LANGUAGE) -> str:
    return (SMS_DIR / language(lang) / f"{kind}.j2").read_text().strip()


def text_context(
    practice_name: str, currency: str, amount_due: int, amount_paid: int, pay_url: str, lang: str
) -> dict[str, object]:
    return {
        "practice_name": practice_name,
        "amount_due": money(amount_due, currency, lang),
        "amount_paid": money(amount_paid, currency, lang),
        "pay_url": pay_url,
    }


def sample_text_context(kind: str, practice_name: str, lang: str) -> dict[str, object]:
    paid = {"receipt": 12000, "payment_received": 5000}.get(kind, 0)
    due = 7000 if kind == "payment_received" else 0 if kind == "receipt" else 12000
    return text_context(practice_name, "usd", due, paid, SAMPLE_PAY_URL, lang)


def render_text(source: str, context: dict[str, object]) -> str:
    """One line of plain spaces: a template's newlines cost characters, and CLDR's no-break
    space (`120,00 US$`) is not in GSM-7, so it would make the whole text UCS-2."""
    body = render_part(PART, source, context).replace("\u00a0", " ").replace("\u202f", " ")
    return " ".join(body.split())


def validate_text(kind: str, source: str, practice_name: str, lang: str) -> str:
    """Raise TemplateInvalid (part `body`) naming the line and the reason; else the preview."""
    check_source(PART, source, kind, KIND_TEXT_PLACEHOLDERS[kind])
    body = render_text(source, sample_text_context(kind, practice_name, lang))
    if not body:
        raise TemplateInvalid(PART, "renders to an empty text")
    if len(body) > MAX_TEXT_CHARS:
        raise TemplateInvalid(PART, f"renders to more than {MAX_TEXT_CHARS} characters")
    if kind in TEXT_LINK_REQUIRED and SAMPLE_PAY_URL not in body:
        raise TemplateInvalid(PART, "must show the pay link: include {{ pay_url }}")
    return body
