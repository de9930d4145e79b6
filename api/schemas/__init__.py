"""The API's request and response bodies, one module per resource; `fields` holds the
validated field types they share. Response bodies of the practice API's reads are in
api/resources.py."""

from api.schemas.fields import (
    CURRENCIES,
    CURRENCY_DOC,
    MAX_AMOUNT,
    MAX_EMAILS,
    MAX_ID,
    MAX_NAME,
    MAX_NOTE,
    MAX_PHONES,
    Amount,
    Email,
    Emails,
    Facility,
    Identifier,
    Name,
    PatientIn,
    Phone,
    Phones,
    Strict,
)
from api.schemas.payment_requests import (
    CancelBody,
    ChangeBody,
    CreatePaymentRequest,
    OfflinePaymentBody,
    ResendBody,
)
from api.schemas.webhook_endpoint import WebhookEndpointIn
from workflows.types import OfflineMethod

__all__ = [
    "CURRENCIES",
    "CURRENCY_DOC",
    "MAX_AMOUNT",
    "MAX_EMAILS",
    "MAX_ID",
    "MAX_NAME",
    "MAX_NOTE",
    "MAX_PHONES",
    "Amount",
    "CancelBody",
    "ChangeBody",
    "CreatePaymentRequest",
    "Email",
    "Emails",
    "Facility",
    "Identifier",
    "Name",
    "OfflineMethod",
    "OfflinePaymentBody",
    "PatientIn",
    "Phone",
    "Phones",
    "ResendBody",
    "Strict",
    "WebhookEndpointIn",
]
