"""Request bodies of the payment-request operations: create, cancel, resend, change, and a
payment taken at the front desk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.schemas.fields import (
    CURRENCIES,
    CURRENCY_DOC,
    MAX_NOTE,
    Amount,
    Emails,
    Facility,
    Name,
    OptionalEmails,
    PatientIn,
    Phones,
    Strict,
    _no_nul,
)
from payreq.rendering.locale import Language
from workflows.types import OfflineMethod

MAX_REFERENCE = 200
# A desk clock a little ahead of ours is not a payment from the future.
CLOCK_SKEW = timedelta(minutes=2)


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
        OptionalEmails,
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


class OfflinePaymentBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount": 4000, "method": "check", "reference": "chk 1042"}]
        },
    )
    amount: Amount
    method: OfflineMethod
    reference: Annotated[str, Field(max_length=MAX_REFERENCE), AfterValidator(_no_nul)] = ""
    received_at: AwareDatetime | None = Field(
        None, description="When the desk took the money; now when omitted. Never in the future."
    )

    @field_validator("received_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("received_at is in the future")
        return value
