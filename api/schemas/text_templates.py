"""A text-message template as the practice replaces it, reads it and previews it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.email_templates import Placeholder
from payreq.rendering.locale import Language

MAX_SOURCE_CHARS = 2_000


class TextTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=MAX_SOURCE_CHARS)


class TextTemplateOut(BaseModel):
    kind: str
    language: Language
    body: str
    is_default: bool = Field(description="True while the practice has not replaced it.")
    updated_at: datetime | None = Field(description="When the practice last saved it.")
    placeholders: list[Placeholder] = Field(description="What this kind's text may use.")


class TextPreviewOut(BaseModel):
    body: str
