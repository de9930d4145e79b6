"""Request bodies of the practice API: validated at the edge, before anything is created.

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
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from payreq.rendering.locale import Language
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


def _split_emails(value: Any) -> Any:
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
    BeforeValidator(_split_emails, json_schema_input_type=list[str] | str),
    AfterValidator(_dedupe_phones),
    Field(
        description="E.164 numbers for text messages: a list, or one string separated by `;`. "
        "Duplicates are dropped; at most 5.",
        examples=["+15551234567"],
    ),
]
Emails = Annotated[
    list[Email],
    BeforeValidator(_split_emails, json_schema_input_type=list[str] | str),
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


class CreatePaymentRequest(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "patient": {"id": "pt_123", "first_name": "Ana", "last_name": "Lopez"},
                    "balance_due": 18500,
                    "amount": 12000,
                    "first_name": "Maria",
                    "last_name": "Lopez",
                    "facility": {"id": "fac_1", "name": "Downtown Clinic"},
                    "emails": "maria@example.com; ana@example.com",
                    "note": "For visits on Nov 3 and Nov 10.",
                    "currency": "usd",
                    "reminder_days": [3, 7, 14, 30],
                    "expires_in_days": 60,
                }
            ]
        },
    )

    patient: PatientIn
    balance_due: Amount | None = Field(None, description="The patient's whole balance, cents.")
    amount: Amount | None = Field(
        None,
        validate_default=True,
        description="Amount requested, cents; defaults to balance_due, at most balance_due.",
    )
    first_name: Name | None = Field(None, description="Recipient; defaults to the patient's.")
    last_name: Name | None = Field(None, description="Recipient; defaults to the patient's.")
    facility: Facility
    emails: Annotated[
        list[Email],
        BeforeValidator(_split_emails, json_schema_input_type=list[str] | str),
        AfterValidator(_dedupe_optional),
        Field(
            description="A list of addresses, or one string of addresses separated by `;`. "
            "Duplicates (case-insensitive) are dropped; at most 10. Optional when `phones` "
            "are given: at least one email or phone is required (422 `recipient_required`).",
            examples=["maria@example.com; ana@example.com"],
        ),
    ] = []
    phones: Phones = []
    language: Language | None = Field(
        None,
        description="The patient's language, `en` or `es`: every email and text, the pay page "
        "and the receipt are written in it. Absent: the practice's `default_language`.",
        examples=["es"],
    )
    note: Annotated[str, Field(max_length=MAX_NOTE), AfterValidator(_no_nul)] = ""
    currency: str = Field("usd", pattern="^[a-z]{3}$", description=CURRENCY_DOC, examples=["usd"])
    reminder_days: (
        Annotated[list[Annotated[StrictInt, Field(ge=1, le=365)]], Field(max_length=20)] | None
    ) = Field(None, description="Days after sending when reminders go out; practice default.")
    expires_in_days: Annotated[StrictInt, Field(ge=1, le=365)] | None = Field(
        None, description="Days until the pay link expires; practice default."
    )

    @field_validator("amount")
    @classmethod
    def _amount_within_balance(cls, amount: int | None, info: ValidationInfo) -> int:
        balance = info.data.get("balance_due")
        if amount is None:
            if balance is None:
                raise ValueError("give amount or balance_due")
            return int(balance)
        if balance is not None and amount > balance:
            raise ValueError("amount must not exceed balance_due")
        return amount

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(
                "not a currency card payments can be made in; one of: "
                + ", ".join(sorted(CURRENCIES))
            )
        return value


class CancelBody(Strict):
    reason: Annotated[str, Field(max_length=500), AfterValidator(_no_nul)] = ""


class ResendBody(Strict):
    emails: Emails | None = None


class ChangeBody(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": 9000}, {"reminders_paused": True}]},
    )
    amount: Amount | None = Field(None, description="New amount requested, cents.")
    reminders_paused: StrictBool | None = None

    @model_validator(mode="after")
    def _something(self) -> ChangeBody:
        if self.amount is None and self.reminders_paused is None:
            raise ValueError("give amount and/or reminders_paused")
        return self


class WebhookEndpointIn(Strict):
    url: str = Field(
        max_length=2048,
        description="An https URL whose host is public: loopback, private, link-local, shared "
        "(CGNAT), multicast, reserved and unspecified addresses, in any spelling, are refused.",
        examples=["https://pms.example.com/hooks/payreq"],
    )
    secret: (
        Annotated[str, Field(min_length=16, max_length=200), AfterValidator(_single_line)] | None
    ) = Field(None, description="HMAC key; generated and returned once when omitted.")

    @field_validator("url")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # Where it may point (https, public addresses) is checked by the route, which knows
        # the settings and resolves the name: payreq/egress.py.
        return _single_line(value)
