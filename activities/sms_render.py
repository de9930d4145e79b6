"""The body of a text: the default template for its kind and language, rendered with the
practice name, the amounts and the pay link only (no patient name, nothing clinical)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from activities.rendering import money
from workflows.sms import TextRenderInput

SMS_DIR = Path(__file__).resolve().parent / "templates" / "sms"
LANGUAGES = ("en", "es")


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(SMS_DIR),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


def render_text(inp: TextRenderInput, practice_name: str) -> str:
    language = inp.language if inp.language in LANGUAGES else "en"
    template = _env().get_template(f"{language}/{inp.kind}.j2")
    body = template.render(
        practice_name=practice_name,
        amount_due=money(inp.amount_due, inp.currency),
        amount_paid=money(inp.amount_paid, inp.currency),
        pay_url=inp.pay_url,
    )
    return " ".join(body.split())  # one line: a template's newlines cost characters
