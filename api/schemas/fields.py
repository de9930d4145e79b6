"""The fields request bodies are made of: names, ids, amounts, emails and phones, each
validated at the edge, before anything is created.

Money is StrictInt cents (a float, a numeric string or a bool is a 422, never rounded).
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
)

from workflows import currencies

MAX_AMOUNT = 99_999_999  # Stripe's ceiling for a charge, in minor units
MAX_EMAILS = 10
MAX_PHONES = 5
MAX_NOTE = 1000
MAX_NAME = 100
MAX_ID = 100
# Only those Stripe can charge in whose rules are known (workflows/currencies.py).
CURRENCIES = frozenset(currencies.CURRENCIES)
CURRENCY_DOC = (
    "Lower-case ISO 4217 code of a currency Stripe charges in; `amount` must be at least "
    "Stripe's minimum charge for it (50 for usd)."
)


def _no_nul(value: str) -> str:
    if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("must not contain NUL or unpaired surrogate characters")
    return value


def _single_line(value: str) -> str:
    """Names end up in email headers: no CR/LF, no control or line-separator characters."""
    _no_nul(value)
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        raise ValueError("must not contain line breaks or control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value.strip()


Name = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_single_line)]
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID), AfterValidator(_single_line)]
Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT, description="Minor units (cents).")]


def _one_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


def split_emails(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(";") if part.strip()]
    return value


def _dedupe(values: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for v in values:
        if v.lower() not in seen:
            seen.add(v.lower())
            out.append(v)
    if not 1 <= len(out) <= MAX_EMAILS:
        raise ValueError(f"give between 1 and {MAX_EMAILS} distinct email addresses")
    return out


def _dedupe_optional(values: list[str]) -> list[str]:
    """Emails on create: none at all is allowed when phones are given (checked on create)."""
    return _dedupe(values) if values else []


def _one_phone(value: str) -> str:
    """E.164 only (a leading +, the country code): a text is sent across borders as given."""
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"not an E.164 phone number: {value!r}") from None
    if not value.strip().startswith("+") or not phonenumbers.is_valid_number(number):
        raise ValueError(f"not an E.164 phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _dedupe_phones(values: list[str]) -> list[str]:
    out = list(dict.fromkeys(values))  # already normalised to E.164
    if len(out) > MAX_PHONES:
        raise ValueError(f"give at most {MAX_PHONES} distinct phone numbers")
    return out


Email = Annotated[str, Field(max_length=254), AfterValidator(_one_email)]
Phone = Annotated[str, Field(max_length=40), AfterValidator(_one_phone)]
Phones = Annotated[
    list[Phone],
    BeforeValidator(split_emails, json_schema_input_type=list[str] | str),
    AfterValidator(_dedupe_phones),
    Field(
        description="E.164 numbers for text messages: a list, or one string separated by `;`. "
        "Duplicates are dropped; at most 5.",
        examples=["+15551234567"],
    ),
]
# Emails where a phone may stand in for them (create, the staff session's patient): the same
# addresses, none at all allowed.
OptionalEmails = Annotated[
    list[Email],
    BeforeValidator(split_emails, json_schema_input_type=list[str] | str),
    AfterValidator(_dedupe_optional),
]
Emails = Annotated[
    list[Email],
    BeforeValidator(split_emails, json_schema_input_type=list[str] | str),
    AfterValidator(_dedupe),
    Field(
        description="A list of addresses, or one string of addresses separated by `;`. "
        "Duplicates (case-insensitive) are dropped; 1 to 10 addresses remain.",
        examples=["maria@example.com; ana@example.com"],
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(Strict):
    id: Identifier = Field(description="The practice's patient id (opaque to this service).")
    first_name: Name
    last_name: Name


class Facility(Strict):
    id: Identifier
    name: Name
