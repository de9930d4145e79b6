"""An email template as the practice replaces it, reads it and previews it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from payreq.rendering.locale import Language

MAX_SUBJECT_CHARS = 500


MAX_BODY_CHARS = 30_000


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT_CHARS)
    html: str = Field(min_length=1, max_length=MAX_BODY_CHARS)
    text: str = Field(min_length=1, max_length=MAX_BODY_CHARS)


class Placeholder(BaseModel):
    name: str
    description: str


class TemplateOut(BaseModel):
    kind: str
    language: Language
    subject: str
    html: str
    text: str
    is_default: bool = Field(description="True while the practice has not replaced it.")
    updated_at: datetime | None = Field(description="When the practice last saved it.")
    placeholders: list[Placeholder] = Field(description="What this kind's template may use.")


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str
