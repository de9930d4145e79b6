"""A practice's name is the display name of every email's From header: it must survive
being one. Shared by PATCH /v1/practice and `payreq practice create`."""

from __future__ import annotations

import re
import unicodedata
from email.message import EmailMessage
from email.utils import formataddr

# RFC 2047 encoded-words: a mail client would decode one into other text, even a line break.
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bq]\?[^?]*\?=", re.IGNORECASE)
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def header_name_problem(value: str) -> str | None:
    """Why `value` cannot be a From display name, or None when it can."""
    if not value.strip():
        return "must not be blank"
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        return "must be one line, without control or line/paragraph separator characters"
    if any(ch in _BIDI_CONTROLS for ch in value):
        return "must not contain bidirectional control characters"
    if "=?" in value and _ENCODED_WORD.search(value):
        return "must not contain MIME encoded-words (=?charset?q?...?=)"
    try:
        probe = EmailMessage()
        probe["From"] = formataddr((value, "probe@example.com"))
        probe.as_bytes()
    except (ValueError, TypeError, UnicodeError) as exc:
        return f"cannot be an email header ({type(exc).__name__})"
    return None
