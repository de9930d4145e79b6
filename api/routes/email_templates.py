"""Email templates, per practice, kind and language: read, replace (validated), preview, revert
to the default of that language. Rendering and validation live in payreq.rendering, shared with
the worker that sends."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from api import template_store
from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.resources import error_responses
from api.schemas.email_templates import Placeholder, PreviewOut, TemplateIn, TemplateOut
from payreq.rendering.emails import (
    KIND_PLACEHOLDERS,
    KINDS,
    LINK_REQUIRED,
    PLACEHOLDERS,
    Template,
    TemplateInvalid,
    default_template,
    render,
    sample_context,
    validate,
)
from payreq.rendering.locale import DEFAULT_LANGUAGE, Language
from payreq.rendering.sandbox import FILTERS

router = APIRouter(prefix="/v1/email-templates", tags=["email templates"])


def _placeholder_table() -> str:
    rows = "\n".join(
        f"| `{{{{ {name} }}}}` | {', '.join(k for k in KINDS if name in KIND_PLACEHOLDERS[k])} "
        f"| {doc} |"
        for name, doc in PLACEHOLDERS.items()
    )
    return (
        "Kinds: `request` (the first email, and a resend), `reminder`, `receipt` (paid in "
        "full) and `payment_received` (a payment that leaves a balance).\n\n"
        "Templates are [Jinja2](https://jinja.palletsprojects.com/templates/) in a sandbox: "
        "placeholders `{{ name }}`, conditionals `{% if note %}...{% endif %}`, and the filters "
        f"{', '.join(f'`{f}`' for f in sorted(FILTERS))}. The HTML part is autoescaped; the "
        "subject is folded onto one line. Loops, macros, includes and function calls are "
        "not available.\n\n"
        "| placeholder | kinds | value |\n|---|---|---|\n"
        f"{rows}\n\n"
        f"{' and '.join(f'`{k}`' for k in sorted(LINK_REQUIRED))} templates must show "
        "`{{ pay_url }}` in both the HTML and the text part."
    )


PLACEHOLDER_DOC = _placeholder_table()
_KIND_DOC = "One of " + ", ".join(f"`{k}`" for k in KINDS) + "."
LanguageQuery = Query(
    DEFAULT_LANGUAGE,
    description="The template's language, `en` or `es`: a request in that language is sent "
    "with it. Without a template of its own in a language, the practice sends that "
    "language's default.",
)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"There is no email template kind '{kind}'.")
    return kind


def _out(kind: str, lang: Language, template: Template, updated_at: datetime | None) -> TemplateOut:
    return TemplateOut(
        kind=kind,
        language=lang,
        subject=template.subject,
        html=template.html,
        text=template.text,
        is_default=updated_at is None,
        updated_at=updated_at,
        placeholders=[
            Placeholder(name=n, description=d)
            for n, d in PLACEHOLDERS.items()
            if n in KIND_PLACEHOLDERS[kind]
        ],
    )


def _checked(
    kind: str, lang: Language, body: TemplateIn, practice_name: str
) -> tuple[Template, PreviewOut]:
    template = Template(subject=body.subject, html=body.html, text=body.text)
    try:
        r = validate(kind, template, practice_name, lang)
    except TemplateInvalid as exc:
        raise ApiError(422, "invalid_template", f"In {exc}.", exc.part) from None
    return template, PreviewOut(subject=r.subject, html=r.html, text=r.text)


async def _current(
    deps: Deps, practice_id: str, kind: str, lang: Language
) -> tuple[Template, datetime | None]:
    found = await template_store.EMAIL.read(deps.pool, practice_id, kind, lang)
    if found is None:
        return default_template(kind, lang), None
    parts, updated_at = found
    return Template(**parts), updated_at


@router.get(
    "/{kind}",
    response_model=TemplateOut,
    responses=error_responses(401, 404),
    summary="Read the email template of one kind",
    description=f"The practice's template, or the default while it has none.\n\n{PLACEHOLDER_DOC}",
)
async def get_template(
    kind: str, practice: CurrentPractice, deps: Deps, language: Language = LanguageQuery
) -> TemplateOut:
    template, updated_at = await _current(deps, practice.id, _kind(kind), language)
    return _out(kind, language, template, updated_at)


@router.put(
    "/{kind}",
    response_model=TemplateOut,
    responses=error_responses(400, 401, 404, 413, 422),
    summary="Replace the email template of one kind",
    description=(
        "Validated here, never at send time: a syntax error, an unknown placeholder or filter, "
        "anything the sandbox refuses, or a missing pay link is a 422 whose `field` is "
        "`subject`, `html` or `text` and whose message names the line and the reason. The next "
        f"email of this kind uses the new template.\n\n{PLACEHOLDER_DOC}"
    ),
)
async def put_template(
    kind: str,
    body: TemplateIn,
    practice: CurrentPractice,
    deps: Deps,
    language: Language = LanguageQuery,
) -> TemplateOut:
    template, _ = _checked(_kind(kind), language, body, practice.name)
    parts = {"subject": template.subject, "html": template.html, "text": template.text}
    updated_at = await template_store.EMAIL.save(deps.pool, practice.id, kind, language, parts)
    return _out(kind, language, template, updated_at)


@router.delete(
    "/{kind}",
    response_model=TemplateOut,
    responses=error_responses(401, 404),
    summary="Revert to the default template",
    description="Drops the practice's template of this kind (harmless when there is none) and "
    "returns the default, which the next email of this kind uses.",
)
async def revert_template(
    kind: str, practice: CurrentPractice, deps: Deps, language: Language = LanguageQuery
) -> TemplateOut:
    await template_store.EMAIL.drop(deps.pool, practice.id, _kind(kind), language)
    return _out(kind, language, default_template(kind, language), None)


@router.post(
    "/{kind}/preview",
    response_model=PreviewOut,
    responses=error_responses(400, 401, 404, 413, 422),
    summary="Render a template with sample data",
    description=(
        "Renders the practice's current template of this kind, or the draft in the body when "
        "one is given (validated as `PUT` does, and not saved), with sample data: recipient "
        "Maria Lopez, Downtown Clinic, $120.00 (`120,00 US$` in `es`), a note and a sample "
        f"pay link. Saves nothing, so no `Idempotency-Key` is needed.\n\n{PLACEHOLDER_DOC}"
    ),
)
async def preview_template(
    kind: str,
    practice: CurrentPractice,
    deps: Deps,
    body: TemplateIn | None = None,
    language: Language = LanguageQuery,
) -> PreviewOut:
    if body is not None:
        return _checked(_kind(kind), language, body, practice.name)[1]
    template, _ = await _current(deps, practice.id, _kind(kind), language)
    r = render(template, sample_context(kind, practice.name, language))
    return PreviewOut(subject=r.subject, html=r.html, text=r.text)
