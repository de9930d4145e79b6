"""Response models of the practice API: what /openapi.json promises and handlers return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.errors import ErrorResponse
from api.schemas.fields import Facility
from payreq.rendering.locale import Language
from workflows.types import PaymentStatus, Status

_TS = "2026-11-27T14:03:00Z"


class PaymentOut(BaseModel):
    id: str = Field(examples=["pi_3Q0abc"])
    amount: int = Field(description="Charged, cents.", examples=[5000])
    paid_at: datetime | None = Field(examples=[_TS])
    method: str | None = Field(examples=["visa •••• 4242"])
    status: PaymentStatus
    refunded_amount: int = Field(examples=[0])
    source: Literal["link", "offline"] = Field(
        "link", description="link: paid through the pay link; offline: recorded by the desk."
    )
    reference: str = Field("", description="The desk's note on an offline payment.")


class PatientPaymentOut(PaymentOut):
    payment_request_id: str = Field(examples=["pr_8f14e45fceea167a5a36dedd"])
    currency: str = Field(examples=["usd"])


class EventOut(BaseModel):
    at: datetime = Field(examples=[_TS])
    type: str = Field(examples=["email_accepted"])
    detail: str = Field(examples=["request to maria@example.com"])


class PaymentRequestOut(BaseModel):
    """One payment request, as the practice sees it."""

    id: str = Field(examples=["pr_8f14e45fceea167a5a36dedd"])
    patient_id: str = Field(examples=["pt_123"])
    created_at: datetime = Field(examples=[_TS])
    first_name: str = Field(examples=["Maria"])
    last_name: str = Field(examples=["Lopez"])
    full_name: str = Field(examples=["Maria Lopez"])
    facility: Facility
    emails: list[str] = Field(examples=[["maria@example.com", "ana@example.com"]])
    phones: list[str] = Field(default=[], examples=[["+15551234567"]])
    note: str
    currency: str = Field(examples=["usd"])
    language: Language = Field(
        "en", description="The patient's language: emails, texts and the pay page use it."
    )
    amount_requested: int = Field(examples=[12000])
    amount_paid: int = Field(examples=[5000])
    amount_remaining: int = Field(examples=[7000])
    status: Status
    pay_url: str | None = Field(
        description="The patient's link while the request is open; null once closed.",
        examples=["https://pay.example.com/pay/3q2-Xw..."],
    )
    reminders_sent: int = Field(examples=[1])
    reminders_paused: bool = False
    next_reminder_at: datetime | None = Field(examples=[_TS])
    expires_at: datetime = Field(examples=[_TS])
    payments: list[PaymentOut]
    events: list[EventOut]


class PaymentRequestSummary(BaseModel):
    """A row of the patient's "Payment Requests" list."""

    id: str = Field(examples=["pr_8f14e45fceea167a5a36dedd"])
    created_at: datetime = Field(examples=[_TS])
    full_name: str = Field(examples=["Maria Lopez"])
    amount_requested: int = Field(examples=[12000])
    amount_remaining: int = Field(examples=[7000])
    currency: str = Field(examples=["usd"])
    status: Status


class PaymentRequestList(BaseModel):
    data: list[PaymentRequestSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class PaymentList(BaseModel):
    data: list[PatientPaymentOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class WebhookEndpointOut(BaseModel):
    url: str = Field(examples=["https://pms.example.com/hooks/payreq"])
    secret: str | None = Field(
        description="The signing secret, returned only when this call generated it.",
        examples=["whsec_6f1c..."],
    )
    updated_at: datetime = Field(examples=[_TS])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON or a missing body.",
    401: "No API key, or an unknown or revoked one.",
    404: "Not found, or it belongs to another practice.",
    409: "State conflict (closed request, amount below what was paid, Idempotency-Key reuse).",
    413: "Body too large.",
    422: "Valid JSON with invalid values; `field` names the JSON path.",
    503: "A dependency (database or Temporal) is unavailable; retry later.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: every error status it may answer, in the error shape."""
    return {
        code: {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[code]} for code in codes
    }
