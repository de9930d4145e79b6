"""How a text message is billed: GSM-7 when every character has a GSM 03.38 septet (160 per
single message, 153 per part of a long one), UCS-2 otherwise (70, 67). Pure: the renderer, the
template validation and the local Twilio stand-in all count the same way."""

from __future__ import annotations

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def gsm7_septets(text: str) -> int | None:
    """Septets the text takes in GSM-7 (an extended character is two), or None if it has a
    character GSM-7 cannot carry."""
    try:
        return len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def segments(text: str) -> int:
    septets = gsm7_septets(text)
    if septets is not None:
        return 1 if septets <= GSM7_SINGLE else -(-septets // GSM7_PART)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= UCS2_SINGLE else -(-units // UCS2_PART)


def fits_one_gsm7_message(text: str) -> bool:
    septets = gsm7_septets(text)
    return septets is not None and septets <= GSM7_SINGLE
