"""The practice's own settings as read and patched, and its Stripe onboarding link."""

from __future__ import annotations

import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from payreq.header_names import header_name_problem
from payreq.rendering.locale import Language
from payreq.stripe import connect

MAX_NAME_CHARS = 200
_SEND_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_HOST = re.compile(r"^(\[[0-9a-f:]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$")


_DOC = {
    "name": "Shown as the sender's name and in every email.",
    "timezone": "IANA time zone, e.g. `America/Los_Angeles`: reminders go out at the send "
    "time in this zone, and due dates are dates in it.",
    "reminder_send_time": "Local time of day reminders are sent, `HH:MM` (24-hour).",
    "reminders_on_weekends": "When false, a reminder due on a Saturday or Sunday goes out "
    "on the Monday.",
    "reply_to": "Where patients' replies go (the emails' `Reply-To`); null for none.",
    "stripe_account_id": "The practice's own connected Stripe account (`acct_...`): its "
    "payments are direct charges on it. null: charges go to the platform's own account.",
    "statement_descriptor_suffix": "Shown after the platform's statement descriptor on the "
    "patient's card statement: at most 22 characters, at least one letter, none of "
    "`< > \\ ' \" *`; null for none.",
    "platform_fee_bps": "The platform's fee on each payment to the connected account, in "
    "basis points (250 = 2.5%, rounded down to the minor unit); 0 for none. Ignored without "
    "a connected account.",
    "min_payment_amount": "The smallest partial payment the pay page accepts, minor units "
    "(never below the card network's minimum charge); paying the full remainder is always "
    "allowed.",
    "min_payment_percent": "The smallest partial payment as a percentage (0-100) of what "
    "remains: the pay page asks for at least max(min_payment_amount, ceil(percent x remaining "
    "/ 100)), never more than what remains; 0 for none.",
    "default_language": "The language (`en` or `es`) of requests created without one: their "
    "emails, texts and pay page.",
    "embed_origins": "Origins allowed to embed the staff panel in an iframe and to receive "
    "its messages, e.g. `https://pms.example.com` (https; http only for localhost); [] for "
    "none.",
}


MAX_EMBED_ORIGINS = 10


MAX_MIN_PAYMENT = 10**12  # far above any bill, well inside bigint


def embed_origin(value: str) -> str:
    """An exact origin (scheme://host[:port], nothing else), normalised to lower case."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"'{value}' is not an origin") from None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    local = host in ("localhost", "127.0.0.1", "[::1]", "::1")
    if (
        parts.scheme not in ("https", "http")
        or (parts.scheme == "http" and not local)
        or not _HOST.match(host)
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"'{value}' is not an origin: use https://host[:port] (http only for localhost)"
        )
    default = port is None or (parts.scheme, port) in (("https", 443), ("http", 80))
    return f"{parts.scheme}://{host}" + ("" if default else f":{port}")


class PracticeOut(BaseModel):
    id: str
    name: str = Field(description=_DOC["name"])
    timezone: str = Field(description=_DOC["timezone"])
    reminder_send_time: str = Field(description=_DOC["reminder_send_time"], examples=["10:00"])
    reminders_on_weekends: bool = Field(description=_DOC["reminders_on_weekends"])
    reply_to: str | None = Field(description=_DOC["reply_to"])
    embed_origins: list[str] = Field(description=_DOC["embed_origins"])
    stripe_account_id: str | None = Field(description=_DOC["stripe_account_id"])
    statement_descriptor_suffix: str | None = Field(description=_DOC["statement_descriptor_suffix"])
    platform_fee_bps: int = Field(description=_DOC["platform_fee_bps"])
    min_payment_amount: int = Field(description=_DOC["min_payment_amount"], examples=[100])
    min_payment_percent: int = Field(description=_DOC["min_payment_percent"], examples=[0])
    default_language: Language = Field(description=_DOC["default_language"], examples=["en"])


class PracticePatch(BaseModel):
    """Only the fields present change; `reply_to: null` removes the Reply-To."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(
        None, min_length=1, max_length=MAX_NAME_CHARS, description=_DOC["name"]
    )
    timezone: str | None = Field(None, max_length=64, description=_DOC["timezone"])
    reminder_send_time: str | None = Field(None, description=_DOC["reminder_send_time"])
    reminders_on_weekends: bool | None = Field(None, description=_DOC["reminders_on_weekends"])
    reply_to: EmailStr | None = Field(None, description=_DOC["reply_to"])
    embed_origins: list[str] | None = Field(
        None, max_length=MAX_EMBED_ORIGINS, description=_DOC["embed_origins"]
    )

    stripe_account_id: str | None = Field(
        None, max_length=69, description=_DOC["stripe_account_id"], examples=["acct_1Pgaf"]
    )
    statement_descriptor_suffix: str | None = Field(
        None, max_length=64, description=_DOC["statement_descriptor_suffix"]
    )
    platform_fee_bps: int | None = Field(
        None, ge=0, le=connect.MAX_FEE_BPS, description=_DOC["platform_fee_bps"]
    )
    min_payment_amount: int | None = Field(
        None, ge=1, le=MAX_MIN_PAYMENT, description=_DOC["min_payment_amount"]
    )
    min_payment_percent: int | None = Field(
        None, ge=0, le=100, description=_DOC["min_payment_percent"]
    )
    default_language: Language | None = Field(None, description=_DOC["default_language"])

    @field_validator("stripe_account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        return connect.account_id(value)

    @field_validator("statement_descriptor_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        return connect.descriptor_suffix(value)

    @field_validator("embed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(embed_origin(v) for v in value))

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        problem = None if value is None else header_name_problem(value)
        if problem:
            raise ValueError(problem)
        return value.strip() if value else value

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name)") from None
        return value

    @field_validator("reminder_send_time")
    @classmethod
    def _hh_mm(cls, value: str | None) -> str | None:
        if value is not None and not _SEND_TIME.match(value):
            raise ValueError("must be HH:MM, 24-hour, e.g. 10:00")
        return value


_URL_DOC = "Where Stripe sends the practice {}; https (http only for localhost). Default: {}."


class OnboardingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    return_url: str | None = Field(
        None, max_length=2000, description=_URL_DOC.format("when it is done", "PUBLIC_BASE_URL")
    )
    refresh_url: str | None = Field(
        None,
        max_length=2000,
        description=_URL_DOC.format("when the link has expired", "PUBLIC_BASE_URL"),
    )

    @field_validator("return_url", "refresh_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        local = value is not None and value.startswith(("http://localhost", "http://127.0.0.1"))
        if value is not None and not (value.startswith("https://") or local):
            raise ValueError("must be an https URL")
        return value


class OnboardingLink(BaseModel):
    url: str = Field(description="Stripe's onboarding page; single use, expires in minutes.")
