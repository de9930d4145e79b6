"""The practice's own templates, email and text alike: one row per practice, kind and language,
holding its parts. The one writer of `email_templates` and `text_templates`; the routes
validate, this stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from payreq.rendering.locale import Language


@dataclass(frozen=True)
class TemplateTable:
    parts: tuple[str, ...]  # the columns a template of this table is made of, in order
    select: str
    upsert: str  # $1 practice, $2 kind, $3 language, then the parts
    delete: str

    async def read(
        self, pool: asyncpg.Pool, practice_id: str, kind: str, lang: Language
    ) -> tuple[dict[str, str], datetime] | None:
        """The practice's template and when it was saved; None while it has none."""
        row = await pool.fetchrow(self.select, practice_id, kind, lang)
        if row is None:
            return None
        return {p: row[p] for p in self.parts}, row["updated_at"]

    async def save(
        self, pool: asyncpg.Pool, practice_id: str, kind: str, lang: Language, parts: dict[str, str]
    ) -> datetime:
        values = [parts[p] for p in self.parts]
        updated_at: datetime = await pool.fetchval(self.upsert, practice_id, kind, lang, *values)
        return updated_at

    async def drop(self, pool: asyncpg.Pool, practice_id: str, kind: str, lang: Language) -> None:
        await pool.execute(self.delete, practice_id, kind, lang)


EMAIL = TemplateTable(
    parts=("subject", "html", "text"),
    select="""SELECT subject, html, text, updated_at FROM email_templates
              WHERE practice_id = $1 AND kind = $2 AND language = $3""",
    upsert="""INSERT INTO email_templates (practice_id, kind, language, subject, html, text)
              VALUES ($1, $2, $3, $4, $5, $6)
              ON CONFLICT (practice_id, kind, language) DO UPDATE SET
                  subject = EXCLUDED.subject, html = EXCLUDED.html, text = EXCLUDED.text,
                  updated_at = now()
              RETURNING updated_at""",
    delete="DELETE FROM email_templates WHERE practice_id = $1 AND kind = $2 AND language = $3",
)

TEXT = TemplateTable(
    parts=("body",),
    select="""SELECT body, updated_at FROM text_templates
              WHERE practice_id = $1 AND kind = $2 AND language = $3""",
    upsert="""INSERT INTO text_templates (practice_id, kind, language, body)
              VALUES ($1, $2, $3, $4)
              ON CONFLICT (practice_id, kind, language) DO UPDATE SET body = EXCLUDED.body,
                  updated_at = now()
              RETURNING updated_at""",
    delete="DELETE FROM text_templates WHERE practice_id = $1 AND kind = $2 AND language = $3",
)
