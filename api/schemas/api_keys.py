"""The practice's API keys, as listed and as created (the key itself shown once)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ApiKeyOut(BaseModel):
    id: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyList(BaseModel):
    data: list[ApiKeyOut]


class NewApiKey(ApiKeyOut):
    api_key: str = Field(description="The new key, shown in this response only.")
