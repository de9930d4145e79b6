"""Email rendering: Jinja2 in a sandbox, autoescaped in HTML. Pure: no I/O beyond reading the
packaged default templates (one set per language), so the API (validation, preview) and the
worker share it.

A practice's template is validated once, when it is saved (`validate`): it must parse, use only
the documented placeholders of its kind, render against every sample (with and without a
note) inside the sandbox, and, for the request and the reminder, show the pay link in both
parts. Sending therefore never meets a template that fails.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import jinja2
from jinja2 import TemplateAssertionError, TemplateSyntaxError, meta, nodes

from payreq.rendering.locale import DEFAULT_LANGUAGE, LANGUAGES, language, long_date, money
from payreq.rendering.sandbox import (
    FILTERS,
    MAX_RENDERED_CHARS,
    BoundedConcat,
    EmailSandbox,
    RenderTooBig,
    render_bounded,
)

DEFAULTS_DIR = Path(__file__).resolve().parent / "templates" / "email"  # /<language>/
KINDS = ("request", "reminder", "receipt", "payment_received")
PARTS = ("subject", "html", "text")
_REFUSED_NODES: dict[type[nodes.Node], str] = {
    nodes.For: "loops ({% for %}) are not available in email templates",
    nodes.Macro: "macros are not available in email templates",
    nodes.CallBlock: "call blocks are not available in email templates",
    nodes.Call: "calling functions or methods is not available in email templates",
    nodes.Include: "includes are not available in email templates",
    nodes.Import: "imports are not available in email templates",
    nodes.FromImport: "imports are not available in email templates",
    nodes.Extends: "extends is not available in email templates",
    nodes.Mod: "the % operator is not available in email templates",
    nodes.Pow: "the ** operator is not available in email templates",
    nodes.List: "lists are not available in email templates",
    nodes.Tuple: "tuples are not available in email templates",
    nodes.Dict: "dicts are not available in email templates",
}

PLACEHOLDERS: dict[str, str] = {
    "practice_name": "The practice's name, as in `GET /v1/practice`.",
    "facility_name": "Where the service was rendered, e.g. `Downtown Clinic`.",
    "first_name": "The recipient's first name.",
    "last_name": "The recipient's last name.",
    "amount_due": "What remains to pay when the email is sent, with its currency, written for "
    "the request's language: `$120.00` (en), `120,00 US$` (es).",
    "amount_paid": "`payment_received`: this payment; `receipt`: the total paid.",
    "due_date": "The last day the pay link works, in the practice's time zone and the "
    "request's language: `January 25, 2027` (en), `25 de enero de 2027` (es).",
    "note": "The staff note; often empty, so wrap it in `{% if note %}...{% endif %}`.",
    "pay_url": "The recipient's secure pay link (required in `request` and `reminder`).",
}
_COMMON = ("practice_name", "facility_name", "first_name", "last_name", "note")
KIND_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "request": frozenset((*_COMMON, "amount_due", "due_date", "pay_url")),
    "reminder": frozenset((*_COMMON, "amount_due", "due_date", "pay_url")),
    "payment_received": frozenset((*_COMMON, "amount_paid", "amount_due", "due_date", "pay_url")),
    "receipt": frozenset((*_COMMON, "amount_paid")),
}
LINK_REQUIRED = frozenset({"request", "reminder"})
SAMPLE_PAY_URL = "https://pay.example.com/pay/sample-token"


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


class TemplateInvalid(Exception):
    """A template that cannot be saved. `part` is subject, html or text; `line` is 1-based."""

    def __init__(self, part: str, reason: str, line: int | None = None) -> None:
        where = f"the {part} template, line {line}" if line else f"the {part} template"
        super().__init__(f"{where}: {reason}")
        self.part = part
        self.reason = reason
        self.line = line


COMPILED_CACHE_SIZE = 512  # (part, source) pairs: defaults plus the practices' own


@lru_cache(maxsize=1)
def _environments() -> tuple[EmailSandbox, EmailSandbox]:
    return EmailSandbox(autoescape=False), EmailSandbox(autoescape=True)


def _env(part: str) -> EmailSandbox:
    plain, html = _environments()
    return html if part == "html" else plain


@lru_cache(maxsize=len(KINDS) * len(LANGUAGES))
def default_template(kind: str, lang: str = DEFAULT_LANGUAGE) -> Template:
    """The default of a kind in a language: what a practice without its own template of that
    kind and language sends."""

    def read(part: str) -> str:
        return (DEFAULTS_DIR / language(lang) / f"{kind}.{part}.j2").read_text()

    return Template(subject=read("subject").strip(), html=read("html"), text=read("text"))


@lru_cache(maxsize=COMPILED_CACHE_SIZE)
def _compiled(part: str, source: str) -> jinja2.Template:
    """Compiling was 2.3% of the worker's CPU in the lifecycle profile: compile each source once."""
    env = _env(part)
    tree = BoundedConcat().visit(env.parse(source))
    return env.from_string(tree)


def render(template: Template, context: dict[str, object]) -> Rendered:
    subject = render_bounded(_compiled("subject", template.subject), context)
    return Rendered(
        subject=" ".join(subject.split()),  # a header is one line, whatever the template did
        html=render_bounded(_compiled("html", template.html), context),
        text=render_bounded(_compiled("text", template.text), context),
    )


SAMPLE_NOTES = {
    "en": "For visits on Nov 3 and Nov 10.",
    "es": "Por las consultas del 3 y el 10 de noviembre.",
}


def sample_context(
    kind: str, practice_name: str, lang: str = DEFAULT_LANGUAGE, *, note: bool = True
) -> dict[str, object]:
    """What a preview shows, and what validation renders against (with and without a note)."""
    paid = {"receipt": 12000, "payment_received": 5000}.get(kind, 0)
    due = 7000 if kind == "payment_received" else 0 if kind == "receipt" else 12000
    return {
        "practice_name": practice_name,
        "facility_name": "Downtown Clinic",
        "first_name": "Maria",
        "last_name": "Lopez",
        "amount_due": money(due, "usd", lang),
        "amount_paid": money(paid, "usd", lang),
        "due_date": long_date(date(2027, 1, 25), lang),
        "note": SAMPLE_NOTES[language(lang)] if note else "",
        "pay_url": SAMPLE_PAY_URL,
    }


def validate(
    kind: str, template: Template, practice_name: str, lang: str = DEFAULT_LANGUAGE
) -> Rendered:
    """Raise TemplateInvalid naming the part, the line and the reason; else the preview."""
    for part in PARTS:
        check_source(part, getattr(template, part), kind, KIND_PLACEHOLDERS[kind])
    rendered = [
        render_part(
            part, getattr(template, part), sample_context(kind, practice_name, lang, note=n)
        )
        for n in (True, False)
        for part in PARTS
    ]
    for part, output in zip(PARTS * 2, rendered, strict=True):
        if len(output) > MAX_RENDERED_CHARS:
            raise TemplateInvalid(part, f"renders to more than {MAX_RENDERED_CHARS} characters")
        if part == "subject" and not output.strip():
            raise TemplateInvalid(part, "renders to an empty subject")
        if kind in LINK_REQUIRED and part != "subject" and SAMPLE_PAY_URL not in output:
            raise TemplateInvalid(part, "must show the pay link: include {{ pay_url }}")
    subject, html, text = rendered[:3]
    return Rendered(subject=" ".join(subject.split()), html=html, text=text)


def check_source(part: str, source: str, kind: str, allowed: frozenset[str]) -> None:
    """Parses a template part and checks it uses only the sandbox's nodes and filters and the
    placeholders `allowed` for its kind (texts share this with emails)."""
    try:
        tree = _env(part).parse(source)
        for node in tree.find_all(tuple(_REFUSED_NODES)):
            raise TemplateInvalid(part, _REFUSED_NODES[type(node)], node.lineno)
        undeclared = meta.find_undeclared_variables(tree)  # also checks filter names
    except TemplateAssertionError as exc:  # an unknown filter, found while compiling
        reason = f"{exc.message} (available filters: {', '.join(sorted(FILTERS))})"
        raise TemplateInvalid(part, reason, exc.lineno) from None
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(part, f"syntax error: {exc.message}", exc.lineno) from None
    unknown = undeclared - allowed
    if unknown:
        name = min(unknown, key=lambda n: (_first_line(tree, n), n))
        listed = ", ".join(sorted(allowed))
        raise TemplateInvalid(
            part,
            f"unknown placeholder '{name}' (available for {kind}: {listed})",
            _first_line(tree, name),
        )


def _first_line(tree: nodes.Template, name: str) -> int:
    lines = [n.lineno for n in tree.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines, default=1)


def render_part(part: str, source: str, context: dict[str, object]) -> str:
    try:
        return render_bounded(_compiled(part, source), context)
    except RenderTooBig as exc:
        raise TemplateInvalid(part, str(exc), _template_line(exc)) from None
    except Exception as exc:  # sandbox violations, undefined attributes, errors in filters...
        raise TemplateInvalid(part, _reason(exc), _template_line(exc)) from None


def _reason(exc: Exception) -> str:
    message = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {message}"


def _template_line(exc: Exception) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's own line numbers."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None
