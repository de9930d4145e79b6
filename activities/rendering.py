"""Email rendering: Jinja2 in a sandbox, autoescaped in HTML. Pure: no I/O beyond reading the
packaged default templates, so the API (preview, validation) and the worker share it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel.numbers import format_currency, get_currency_precision
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

DEFAULTS_DIR = Path(__file__).resolve().parent / "templates" / "default"
KINDS = ("request", "reminder", "receipt", "payment_received")


@dataclass(frozen=True, kw_only=True)
class Template:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Rendered:
    subject: str
    html: str
    text: str


def money(cents: int, currency: str) -> str:
    """Integer minor units to a display string, without ever going through a float."""
    code = currency.upper()
    value = Decimal(cents).scaleb(-get_currency_precision(code))
    return str(format_currency(value, code, locale="en_US"))


@lru_cache(maxsize=1)
def _environments() -> tuple[SandboxedEnvironment, SandboxedEnvironment]:
    plain = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    html = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
    return plain, html


@lru_cache(maxsize=len(KINDS))
def default_template(kind: str) -> Template:
    def read(part: str) -> str:
        return (DEFAULTS_DIR / f"{kind}.{part}.j2").read_text()

    return Template(subject=read("subject").strip(), html=read("html"), text=read("text"))


def render(template: Template, context: dict[str, object]) -> Rendered:
    plain, html = _environments()
    subject = plain.from_string(template.subject).render(context)
    return Rendered(
        subject=" ".join(subject.split()),  # a header is one line, whatever the template did
        html=html.from_string(template.html).render(context),
        text=plain.from_string(template.text).render(context),
    )
