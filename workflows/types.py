"""Frozen values that cross the Temporal boundary. Money is int minor units, always."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

from temporalio.common import SearchAttributeKey

TASK_QUEUE_DEFAULT = "payment-requests"

SA_STATUS = SearchAttributeKey.for_keyword("PaymentRequestStatus")
SA_PRACTICE = SearchAttributeKey.for_keyword("PracticeId")
SA_AMOUNT_REMAINING = SearchAttributeKey.for_int("AmountRemaining")
SA_NEXT_ACTION_AT = SearchAttributeKey.for_datetime("NextActionAt")
SEARCH_ATTRIBUTES = (SA_STATUS, SA_PRACTICE, SA_AMOUNT_REMAINING, SA_NEXT_ACTION_AT)


def workflow_id(request_id: str) -> str:
    return f"payment-request-{request_id}"


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DELIVERY_FAILED = "delivery_failed"


CLOSED_STATUSES = frozenset({Status.PAID, Status.CANCELLED, Status.EXPIRED})


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"


class ChargeStatus(StrEnum):
    """The PaymentIntent's own outcome, before refunds and disputes (PaymentStatus's first
    three values)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PaymentSource(StrEnum):
    LINK = "link"  # through the pay page (Stripe)
    OFFLINE = "offline"  # taken at the front desk


# How the desk took the money (the API's OfflinePaymentBody accepts exactly these).
OfflineMethod = Literal["cash", "check", "card_present", "bank_transfer", "other"]


class RefundReason(StrEnum):
    OVERPAYMENT = "overpayment"  # paid beyond what remained
    CLOSED = "closed"  # paid after the request closed: all of it


class EventType(StrEnum):
    """A request's timeline (request_events.type), as the workflow records it."""

    CREATED = "created"
    EMAIL_ACCEPTED = "email_accepted"
    EMAIL_REJECTED = "email_rejected"
    EMAIL_FAILED = "email_failed"
    TEXT_QUEUED = "text_queued"
    TEXT_REJECTED = "text_rejected"
    TEXT_OPTED_OUT = "text_opted_out"
    TEXT_FAILED = "text_failed"
    RESEND_REQUESTED = "resend_requested"
    REMINDERS_PAUSED = "reminders_paused"
    REMINDERS_RESUMED = "reminders_resumed"
    AMOUNT_CHANGED = "amount_changed"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_PENDING = "payment_pending"
    PAYMENT_FAILED = "payment_failed"
    OVERPAYMENT = "overpayment"
    REFUND = "refund"
    REFUND_ISSUED = "refund_issued"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_CLOSED = "dispute_closed"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OutboundEventType(StrEnum):
    """The events the practice software receives (outbound_events.type)."""

    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_REFUNDED = "payment.refunded"
    REQUEST_PAID = "payment_request.paid"
    REQUEST_CANCELLED = "payment_request.cancelled"
    REQUEST_EXPIRED = "payment_request.expired"
    REQUEST_DELIVERY_FAILED = "payment_request.delivery_failed"


class EmailKind(StrEnum):
    REQUEST = "request"
    REMINDER = "reminder"
    RECEIPT = "receipt"
    PAYMENT_RECEIVED = "payment_received"


class ErrorType(StrEnum):
    """ApplicationError types; the API maps these, never message text, to status codes."""

    REQUEST_CLOSED = "RequestClosed"
    AMOUNT_BELOW_PAID = "AmountBelowPaid"
    INVALID_CHANGE = "InvalidChange"
    REMAINDER_BELOW_MINIMUM = "RemainderBelowMinimum"
    SMTP_REJECTED = "SmtpRejected"
    SMTP_TEMPORARY = "SmtpTemporary"
    STRIPE_ERROR = "StripeError"
    AMOUNT_EXCEEDS_REMAINING = "AmountExceedsRemaining"


@dataclass(frozen=True, kw_only=True)
class ReminderPolicy:
    """Practice settings, copied into the request when it is created."""

    reminder_days: tuple[int, ...] = (3, 7, 14, 30)
    expires_in_days: int = 60
    timezone: str = "UTC"
    send_hour: int = 10
    send_minute: int = 0
    weekends_allowed: bool = False


@dataclass(frozen=True, kw_only=True)
class PaymentRecord:
    payment_id: str  # Stripe PaymentIntent id, or off_... for the desk: the idempotency key
    amount: int  # gross amount charged, cents (0 while only a refund has been seen)
    charge_status: ChargeStatus = ChargeStatus.PENDING
    applied: int = 0  # part counted toward the balance
    excess: int = 0  # part beyond the balance, refunded automatically
    # Succeeded once the request was closed: all of it is excess, refunded in full, and it is
    # not an overpayment (the same as a payment that arrives after the workflow completed).
    after_close: bool = False
    refunded: int = 0  # cumulative amount of every refund Stripe made (failed ones too)
    refund_failed: int = 0  # cumulative amount of those refunds that failed later
    dispute_status: str = ""  # Stripe's dispute status, "" when never disputed
    dispute_closed: bool = False
    method: str = ""
    paid_at: datetime | None = None
    source: PaymentSource = PaymentSource.LINK
    reference: str = ""  # the desk's own note (cheque number, terminal slip); offline only

    @property
    def counted(self) -> int:
        """What this payment contributes to the balance, net of refunds beyond the excess."""
        if self.charge_status != ChargeStatus.SUCCEEDED or self.dispute_status == "lost":
            return 0
        return max(0, self.applied - max(0, self.net_refunded - self.excess))

    @property
    def net_refunded(self) -> int:
        """Refunded and not failed: a refund that fails puts the money back on the balance."""
        return max(0, self.refunded - self.refund_failed)

    @property
    def status(self) -> PaymentStatus:
        if self.charge_status != ChargeStatus.SUCCEEDED:
            return PaymentStatus(self.charge_status)
        if self.dispute_status and (not self.dispute_closed or self.dispute_status == "lost"):
            return PaymentStatus.DISPUTED
        if self.net_refunded >= self.amount > 0:
            return PaymentStatus.REFUNDED
        if self.net_refunded > 0:
            return PaymentStatus.PARTIALLY_REFUNDED
        return PaymentStatus.SUCCEEDED


@dataclass(frozen=True, kw_only=True)
class RequestEvent:
    seq: int
    at: datetime
    type: EventType
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class CarriedState:
    """Everything a continued-as-new run needs to go on exactly where the last one stopped."""

    status: Status
    amount_requested: int
    emails: tuple[str, ...]
    rejected_emails: tuple[str, ...]
    pay_url: str
    payments: tuple[PaymentRecord, ...]
    unsaved_events: tuple[RequestEvent, ...]
    event_seq: int
    version: int
    email_seq: int
    reminders_sent: int
    reminder_anchor: datetime
    reminder_base_day: int
    reminders_paused: bool
    expires_at: datetime
    resend_queued: bool = False
    rejected_phones: tuple[str, ...] = ()  # rejected or opted out: never texted again


@dataclass(frozen=True, kw_only=True)
class PaymentRequestInput:
    request_id: str
    practice_id: str
    patient_id: str
    first_name: str
    last_name: str
    facility_id: str
    facility_name: str
    emails: tuple[str, ...]
    note: str = ""
    currency: str = "usd"
    amount: int
    created_at: datetime
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    carried: CarriedState | None = None
    # Tests lower this to exercise continue-as-new without thousands of events.
    history_length_limit: int | None = None
    phones: tuple[str, ...] = ()  # E.164, texted beside the emails
    # Set by the API when Twilio is configured (the worker then has the text activities);
    # False: the phones are kept on the request but never texted.
    texting: bool = False
    # The patient's language (payreq.rendering.locale.LANGUAGES): every email and text, and the
    # pay page, are written in it. The default keeps histories recorded before it replayable.
    language: str = "en"


@dataclass(frozen=True, kw_only=True)
class PaymentReceived:
    """A PaymentIntent reached a state worth recording (from the Stripe webhook)."""

    payment_id: str
    amount: int
    currency: str = "usd"
    status: PaymentStatus = PaymentStatus.SUCCEEDED
    method: str = ""
    at: datetime
    source: PaymentSource = PaymentSource.LINK
    reference: str = ""
    # The Stripe event that brought it: marked handled by the save that records it (the
    # webhook leaves the mark to the workflow, one statement fewer per payment).
    stripe_event_id: str = ""


@dataclass(frozen=True, kw_only=True)
class OfflinePaymentInput:
    """Money taken outside the link (cash, cheque, desk terminal, transfer), recorded by staff.
    `payment_id` is derived from the practice and Idempotency-Key, so a retry applies once."""

    payment_id: str
    amount: int
    method: OfflineMethod
    reference: str = ""
    received_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class RefundReceived:
    payment_id: str
    amount_refunded: int  # cumulative for the charge, every refund made (failed ones too)
    payment_amount: int  # the charge's amount, so a refund seen before its payment still counts
    # Cumulative amount of the charge's refunds that failed after they were made. Both totals
    # only grow, so refund events still apply in any order.
    amount_failed: int = 0
    at: datetime


@dataclass(frozen=True, kw_only=True)
class DisputeChanged:
    payment_id: str
    dispute_id: str
    status: str  # Stripe's dispute status: needs_response, won, lost, ...
    closed: bool
    at: datetime


@dataclass(frozen=True, kw_only=True)
class CancelInput:
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class ResendInput:
    emails: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeInput:
    amount: int | None = None
    reminders_paused: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Empty:
    pass


@dataclass(frozen=True, kw_only=True)
class RequestState:
    request_id: str
    practice_id: str
    status: Status
    currency: str
    amount_requested: int
    amount_paid: int
    amount_remaining: int
    amount_overpaid: int
    pay_url: str
    emails: tuple[str, ...]
    rejected_emails: tuple[str, ...]
    reminders_sent: int
    reminders_paused: bool
    next_reminder_at: datetime | None
    expires_at: datetime
    payments: tuple[PaymentRecord, ...]
    version: int
    phones: tuple[str, ...] = ()
    rejected_phones: tuple[str, ...] = ()
    # The time of the timeline's "created" event, in the run that recorded it (None in a run
    # continued as new): a create is answered from this state without reading the read model.
    created_event_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class OutboundEvent:
    """An event for the practice software's ledger. `event_id` is stable across retries and
    replays, so the receiver can de-duplicate on it."""

    event_id: str
    type: OutboundEventType
    practice_id: str
    request_id: str
    patient_id: str
    occurred_at: datetime
    status: Status
    currency: str
    amount_requested: int
    amount_paid: int
    amount_remaining: int
    payment_id: str | None = None
    payment_amount: int | None = None
    refunded_amount: int | None = None
    payment_source: PaymentSource | None = None


@dataclass(frozen=True, kw_only=True)
class DeliverEventsInput:
    """The outbound events of one save of a request, delivered in order by one activity."""

    event_ids: tuple[str, ...]


# ---- activity inputs and results -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestSnapshot:
    """The read model's copy of one request, written only if `version` is newer."""

    request: PaymentRequestInput
    state: RequestState
    new_events: tuple[RequestEvent, ...]
    outbound: tuple[OutboundEvent, ...] = ()
    updated_at: datetime
    closed_at: datetime | None = None
    stripe_events: tuple[str, ...] = ()  # Stripe events this save marks handled


@dataclass(frozen=True, kw_only=True)
class RecordRequestResult:
    pay_url: str


@dataclass(frozen=True, kw_only=True)
class SaveResult:
    stored: bool  # False: a newer version was already stored, so the request row was left alone
    deliver_events: bool  # this save had outbound events and the practice has an endpoint


@dataclass(frozen=True, kw_only=True)
class EmailInput:
    request_id: str
    practice_id: str
    kind: EmailKind
    sequence: int
    recipients: tuple[str, ...]
    first_name: str
    last_name: str
    facility_name: str
    note: str
    currency: str
    amount_due: int  # what remains to pay when the email is sent
    amount_paid: int  # this payment (payment emails) or the total paid (receipt)
    pay_url: str
    expires_at: datetime
    language: str = "en"
    # Above 0: the activity records each recipient's final outcome on the timeline itself, as
    # the workflow's event `event_seq + i` for the i-th recipient, so no save need follow.
    event_seq: int = 0
    # The request as it stands once every recipient has accepted (a request email's "sent", a
    # reminder's count): the activity saves it when they all did (EmailResult.saved), so no
    # save need follow. Version-guarded like every save; None: the workflow saves after.
    save: RequestSnapshot | None = None


class RecipientStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # a 5xx: the address is never mailed again
    FAILED = "failed"  # still 4xx or unreachable when the email window ended: treated the same


EMAIL_EVENTS = {
    RecipientStatus.ACCEPTED: EventType.EMAIL_ACCEPTED,
    RecipientStatus.REJECTED: EventType.EMAIL_REJECTED,
    RecipientStatus.FAILED: EventType.EMAIL_FAILED,
}


def email_event(kind: EmailKind, status: RecipientStatus, email: str) -> tuple[EventType, str]:
    """The timeline's event for one recipient's outcome, as the workflow and the email
    activity both write it."""
    return EMAIL_EVENTS[status], f"{kind} to {email}"


@dataclass(frozen=True, kw_only=True)
class RecipientResult:
    email: str
    status: RecipientStatus
    reply: str = ""


@dataclass(frozen=True, kw_only=True)
class EmailResult:
    recipients: tuple[RecipientResult, ...]
    events_recorded: bool = False  # the timeline has each recipient's event (EmailInput.event_seq)
    saved: bool = False  # EmailInput.save is stored (every recipient accepted; not stale)

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(r.email for r in self.recipients if r.status == RecipientStatus.ACCEPTED)

    @property
    def rejected(self) -> tuple[str, ...]:
        """Rejected or failed: either way no longer an address to write to."""
        return tuple(r.email for r in self.recipients if r.status != RecipientStatus.ACCEPTED)


@dataclass(frozen=True, kw_only=True)
class RefundInput:
    request_id: str
    payment_id: str
    amount: int
    reason: RefundReason


@dataclass(frozen=True, kw_only=True)
class RefundResult:
    refund_id: str
    status: str


@dataclass(frozen=True, kw_only=True)
class ReconcileInput:
    overlap_seconds: int = 600  # re-read this much before the watermark
    first_run_lookback_seconds: int = 3 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class ReconcileResult:
    seen: int  # money events Stripe listed (every account)
    handed_on: int  # not received before: signalled (or recorded, if their request had closed)
    watermark: int  # unix seconds of the newest event seen on the platform account
