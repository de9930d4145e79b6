"""The default Spanish emails: every kind passes the same validation as a practice's own
template, keeps the English default's placeholders, and carries no English left behind."""

from __future__ import annotations

import re

import pytest

from payreq.rendering.emails import DEFAULTS_DIR, KINDS, PARTS, Template, default_template, validate

ENGLISH_WORDS = re.compile(r"\b(the|your|you|please|pay|paid|due|thank|hello|reply)\b", re.I)


def spanish(kind: str) -> Template:
    def read(part: str) -> str:
        return (DEFAULTS_DIR / "es" / f"{kind}.{part}.j2").read_text()

    return Template(subject=read("subject").strip(), html=read("html"), text=read("text"))


def placeholders(template: Template) -> set[str]:
    found: set[str] = set()
    for part in PARTS:
        found |= set(re.findall(r"{{\s*(\w+)", getattr(template, part)))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_spanish_default_is_valid_and_complete(kind: str) -> None:
    es = spanish(kind)
    rendered = validate(kind, es, "Clínica Sol")
    assert placeholders(es) == placeholders(default_template(kind))
    assert 'lang="es"' in es.html
    visible = re.sub(r"<[^>]+>|{{[^}]+}}|https?://\S+", " ", rendered.html + rendered.text)
    visible = re.sub(r"<style>.*?</style>", " ", visible, flags=re.S)
    assert not ENGLISH_WORDS.findall(re.sub(r"\{[^}]*\}|[a-z-]+:[^;]+;", " ", visible))
    assert rendered.subject and "\n" not in rendered.subject
