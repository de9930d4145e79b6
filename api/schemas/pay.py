"""The pay link's JSON: the payment the page POSTs, its answer, and what remains to pay."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator


class PaymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: StrictInt = Field(gt=0, description="Minor units (cents).")
    payment_method: str | None = Field(default=None, pattern=r"^pm_[A-Za-z0-9_]{1,200}$")
    confirmation_token: str | None = Field(
        default=None,
        pattern=r"^ctoken_[A-Za-z0-9_]{1,200}$",
        description="From the Payment Element (stripe.createConfirmationToken), instead of "
        "payment_method.",
    )
    attempt_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Chosen by the browser per attempt; a retried POST reuses it.",
    )

    @model_validator(mode="after")
    def _one_way_to_pay(self) -> PaymentBody:
        if (self.payment_method is None) == (self.confirmation_token is None):
            raise ValueError("Send exactly one of payment_method and confirmation_token.")
        return self

    @property
    def payment_source(self) -> str:
        return self.confirmation_token or self.payment_method or ""


class PaymentResult(BaseModel):
    payment_intent_id: str
    status: str  # succeeded, processing, requires_action
    client_secret: str


class LinkStatus(BaseModel):
    status: str
    currency: str
    amount_requested: int
    amount_paid: int
    amount_remaining: int
    amount_remaining_display: str
    min_amount: int = Field(
        description="The smallest amount the page accepts now (it follows what remains)."
    )
    closed: bool
