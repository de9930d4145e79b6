"""Text-message templates, per practice, kind and language: read, replace (validated like email
templates), preview, revert to the default of that language. Rendering and validation live in
payreq.rendering.texts, shared with the worker that sends."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from api import template_store
from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.resources import error_responses
from api.routes.email_templates import LanguageQuery
from api.schemas.email_templates import Placeholder
from api.schemas.text_templates import TextPreviewOut, TextTemplateIn, TextTemplateOut
from payreq.rendering.emails import KINDS, TemplateInvalid
from payreq.rendering.locale import Language
from payreq.rendering.sandbox import FILTERS
from payreq.rendering.texts import (
    KIND_TEXT_PLACEHOLDERS,
    MAX_TEXT_CHARS,
    TEXT_LINK_REQUIRED,
    TEXT_PLACEHOLDERS,
    default_text,
    render_text,
    sample_text_context,
    validate_text,
)

router = APIRouter(prefix="/v1/text-templates", tags=["text templates"])

PLACEHOLDER_DOC = (
    "Kinds: `request`, `reminder`, `receipt` and `payment_received`, as for email. A text may "
    "name the practice, the amounts and the pay link, never the patient or anything clinical, "
    "so only these placeholders exist:\n\n| placeholder | kinds | value |\n|---|---|---|\n"
    + "\n".join(
        f"| `{{{{ {n} }}}}` | {', '.join(k for k in KINDS if n in KIND_TEXT_PLACEHOLDERS[k])} "
        f"| {d} |"
        for n, d in TEXT_PLACEHOLDERS.items()
    )
    + "\n\nThe same Jinja2 sandbox as email templates (filters "
    + ", ".join(f"`{f}`" for f in sorted(FILTERS))
    + f"); the text is folded onto one line and must render to at most {MAX_TEXT_CHARS} "
    "characters; "
    + " and ".join(f"`{k}`" for k in sorted(TEXT_LINK_REQUIRED))
    + " texts must show `{{ pay_url }}`. Keep it within 160 GSM-7 characters (no `á í ó ú`, "
    "which GSM-7 lacks) for one segment."
)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"There is no text template kind '{kind}'.")
    return kind


def _out(kind: str, lang: Language, body: str, updated_at: datetime | None) -> TextTemplateOut:
    return TextTemplateOut(
        kind=kind,
        language=lang,
        body=body,
        is_default=updated_at is None,
        updated_at=updated_at,
        placeholders=[
            Placeholder(name=n, description=d)
            for n, d in TEXT_PLACEHOLDERS.items()
            if n in KIND_TEXT_PLACEHOLDERS[kind]
        ],
    )


def _checked(kind: str, lang: Language, source: str, practice_name: str) -> str:
    try:
        return validate_text(kind, source, practice_name, lang)
    except TemplateInvalid as exc:
        raise ApiError(422, "invalid_template", f"In {exc}.", "body") from None


async def _current(
    deps: Deps, practice_id: str, kind: str, lang: Language
) -> tuple[str, datetime | None]:
    found = await template_store.TEXT.read(deps.pool, practice_id, kind, lang)
    if found is None:
        return default_text(kind, lang), None
    parts, updated_at = found
    return parts["body"], updated_at


@router.get(
    "/{kind}",
    response_model=TextTemplateOut,
    responses=error_responses(401, 404, 422),
    summary="Read the text template of one kind and language",
    description=f"The practice's template, or the language's default.\n\n{PLACEHOLDER_DOC}",
)
async def get_text_template(
    kind: str, practice: CurrentPractice, deps: Deps, language: Language = LanguageQuery
) -> TextTemplateOut:
    body, updated_at = await _current(deps, practice.id, _kind(kind), language)
    return _out(kind, language, body, updated_at)


@router.put(
    "/{kind}",
    response_model=TextTemplateOut,
    responses=error_responses(400, 401, 404, 413, 422),
    summary="Replace the text template of one kind and language",
    description="Validated here, never at send time: a syntax error, an unknown placeholder or "
    "filter, anything the sandbox refuses, a missing pay link or a text too long is a 422 "
    "whose `field` is `body` and whose message names the line and the reason. The next text "
    f"of this kind and language uses it.\n\n{PLACEHOLDER_DOC}",
)
async def put_text_template(
    kind: str,
    body: TextTemplateIn,
    practice: CurrentPractice,
    deps: Deps,
    language: Language = LanguageQuery,
) -> TextTemplateOut:
    _checked(_kind(kind), language, body.body, practice.name)
    parts = {"body": body.body}
    updated_at = await template_store.TEXT.save(deps.pool, practice.id, kind, language, parts)
    return _out(kind, language, body.body, updated_at)


@router.delete(
    "/{kind}",
    response_model=TextTemplateOut,
    responses=error_responses(401, 404, 422),
    summary="Revert to the default text template",
    description="Drops the practice's text template of this kind and language (harmless when "
    "there is none) and returns that language's default.",
)
async def revert_text_template(
    kind: str, practice: CurrentPractice, deps: Deps, language: Language = LanguageQuery
) -> TextTemplateOut:
    await template_store.TEXT.drop(deps.pool, practice.id, _kind(kind), language)
    return _out(kind, language, default_text(kind, language), None)


@router.post(
    "/{kind}/preview",
    response_model=TextPreviewOut,
    responses=error_responses(400, 401, 404, 413, 422),
    summary="Render a text template with sample data",
    description="Renders the practice's current text of this kind and language, or the draft "
    "in the body (validated as `PUT` does, not saved), with sample amounts and a sample pay "
    f"link.\n\n{PLACEHOLDER_DOC}",
)
async def preview_text_template(
    kind: str,
    practice: CurrentPractice,
    deps: Deps,
    body: TextTemplateIn | None = None,
    language: Language = LanguageQuery,
) -> TextPreviewOut:
    if body is not None:
        return TextPreviewOut(body=_checked(_kind(kind), language, body.body, practice.name))
    source, _ = await _current(deps, practice.id, _kind(kind), language)
    return TextPreviewOut(
        body=render_text(source, sample_text_context(kind, practice.name, language))
    )
