"""RequestBook: one request's state and everything derived from it, as pure code.

The workflow owns one book and does the I/O; the book never calls Temporal, and every clock
reading is passed in, so it stays deterministic and can be tested on its own.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from payreq.digest import sha256_hex

from workflows.ledger import Ledger
from workflows.schedule import next_reminder, reminder_spread
from workflows.types import (
    CLOSED_STATUSES,
    CarriedState,
    EmailInput,
    EmailKind,
    ErrorType,
    EventType,
    OutboundEvent,
    OutboundEventType,
    PaymentRequestInput,
    RequestEvent,
    RequestSnapshot,
    RequestState,
    Status,
)

_OPEN_FOR_REMINDERS = (Status.SENT, Status.PARTIALLY_PAID)


class RequestBook:
    def __init__(self, inp: PaymentRequestInput) -> None:
        self.inp = inp
        c = inp.carried
        self.status = c.status if c else Status.PENDING
        self.ledger = Ledger(c.amount_requested if c else inp.amount, c.payments if c else ())
        self.emails = c.emails if c else inp.emails
        self.rejected: set[str] = set(c.rejected_emails) if c else set()
        self.rejected_phones: set[str] = set(c.rejected_phones) if c else set()
        self.pay_url = c.pay_url if c else ""
        self.events: list[RequestEvent] = list(c.unsaved_events) if c else []  # not yet saved
        self.event_seq = c.event_seq if c else 0
        self.outbound: list[OutboundEvent] = []  # recorded with the next save, then delivered
        self.stripe_events: list[str] = []  # marked handled by the next save
        self.created_event_at: datetime | None = None  # this run recorded the request then
        self.version = c.version if c else 0
        self.email_seq = c.email_seq if c else 0
        self.reminders_sent = c.reminders_sent if c else 0
        self.anchor = c.reminder_anchor if c else inp.created_at
        self.base_day = c.reminder_base_day if c else 0
        self.paused = c.reminders_paused if c else False
        self.resend_queued = c.resend_queued if c else False
        self.receipt_queued = False  # set when `change` closes it; a closed run never continues
        self.expires_at = (
            c.expires_at if c else inp.created_at + timedelta(days=inp.policy.expires_in_days)
        )

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    # ---- changes ----------------------------------------------------------------------

    def event(
        self, now: datetime, kind: EventType, detail: str = "", seq: int | None = None
    ) -> None:
        """The next event on the timeline, or the one under `seq`, reserved before."""
        if seq is None:
            self.event_seq += 1
            seq = self.event_seq
        self.events.append(RequestEvent(seq=seq, at=now, type=kind, detail=detail))

    def reserve_events(self, n: int) -> int:
        """The first of `n` seqs kept for events another writer records (the email activity)."""
        first = self.event_seq + 1
        self.event_seq += n
        return first

    def emit(
        self,
        now: datetime,
        kind: OutboundEventType,
        discriminator: str,
        payment_id: str | None = None,
    ) -> None:
        """Queue an event for the practice; its id is stable across retries and replays."""
        inp = self.inp
        key = f"{inp.request_id}:{kind}:{discriminator}".encode()
        payment = self.ledger.payments.get(payment_id) if payment_id else None
        self.outbound.append(
            OutboundEvent(
                event_id="evt_" + sha256_hex(key)[:24],
                type=kind,
                practice_id=inp.practice_id,
                request_id=inp.request_id,
                patient_id=inp.patient_id,
                occurred_at=now,
                status=self.status,
                currency=inp.currency,
                amount_requested=self.ledger.amount_requested,
                amount_paid=self.ledger.amount_paid,
                amount_remaining=self.ledger.amount_remaining,
                payment_id=payment_id,
                payment_amount=payment.amount if payment else None,
                refunded_amount=payment.net_refunded if payment else None,
                payment_source=payment.source if payment else None,
            )
        )

    def close(self, now: datetime, status: Status, event: EventType, detail: str) -> None:
        self.status = status
        self.event(now, event, detail)
        self.emit(now, OutboundEventType(f"payment_request.{status}"), "closed")

    def settle_delivery(self, now: datetime, accepted: bool) -> None:
        if self.closed:
            return
        if accepted and self.status in (Status.PENDING, Status.DELIVERY_FAILED):
            self.status = Status.SENT
            self.settle_open_status()
        elif not accepted and not self.deliverable() and not self.textable():
            self.status = Status.DELIVERY_FAILED
            self.emit(now, OutboundEventType.REQUEST_DELIVERY_FAILED, str(self.email_seq))

    def settle_open_status(self) -> None:
        if self.status in _OPEN_FOR_REMINDERS:
            paid = self.ledger.amount_paid > 0
            self.status = Status.PARTIALLY_PAID if paid else Status.SENT

    def restart_schedule(self, now: datetime) -> None:
        """The reminders still to come keep their spacing, counted from now (resend, resume)."""
        days = sorted(self.inp.policy.reminder_days)
        self.base_day = days[self.reminders_sent - 1] if self.reminders_sent else 0
        self.anchor = now

    def require_open(self) -> None:
        if self.closed:
            raise ApplicationError(f"the request is {self.status}", type=ErrorType.REQUEST_CLOSED)

    # ---- derived ----------------------------------------------------------------------

    def deliverable(self) -> tuple[str, ...]:
        return tuple(e for e in self.emails if e not in self.rejected)

    def textable(self) -> tuple[str, ...]:
        """Phones still to text; none when the deployment has no Twilio."""
        if not self.inp.texting:
            return ()
        return tuple(p for p in self.inp.phones if p not in self.rejected_phones)

    def next_reminder_at(self) -> datetime | None:
        if self.paused or self.status not in _OPEN_FOR_REMINDERS:
            return None
        return next_reminder(
            anchor=self.anchor,
            base_day=self.base_day,
            reminders_sent=self.reminders_sent,
            policy=self.inp.policy,
            expires_at=self.expires_at,
            spread=reminder_spread(self.inp.request_id),
        )

    def next_action_at(self) -> datetime:
        reminder = self.next_reminder_at()
        return min(reminder, self.expires_at) if reminder else self.expires_at

    def state(self) -> RequestState:
        inp, ledger = self.inp, self.ledger
        return RequestState(
            request_id=inp.request_id,
            practice_id=inp.practice_id,
            status=self.status,
            currency=inp.currency,
            amount_requested=ledger.amount_requested,
            amount_paid=ledger.amount_paid,
            amount_remaining=ledger.amount_remaining,
            amount_overpaid=ledger.amount_overpaid,
            pay_url=self.pay_url,
            emails=self.emails,
            rejected_emails=tuple(sorted(self.rejected)),
            reminders_sent=self.reminders_sent,
            reminders_paused=self.paused,
            next_reminder_at=self.next_reminder_at(),
            expires_at=self.expires_at,
            payments=ledger.snapshot(),
            version=self.version,
            phones=self.inp.phones,
            rejected_phones=tuple(sorted(self.rejected_phones)),
            created_event_at=self.created_event_at,
        )

    def snapshot(self, now: datetime) -> RequestSnapshot:
        return RequestSnapshot(
            request=replace(self.inp, carried=None),
            state=self.state(),
            new_events=tuple(self.events),
            outbound=tuple(self.outbound),
            updated_at=now,
            closed_at=now if self.closed else None,
            stripe_events=tuple(self.stripe_events),
        )

    def accepted_snapshot(self, now: datetime) -> RequestSnapshot:
        """The snapshot as it will be once an email is accepted by every recipient
        (settle_delivery(accepted=True), which only settles the status), the book unchanged."""
        status = self.status
        self.settle_delivery(now, accepted=True)
        try:
            return self.snapshot(now)
        finally:
            self.status = status

    def email_input(
        self, kind: EmailKind, recipients: tuple[str, ...], paid: int, event_seq: int = 0
    ) -> EmailInput:
        inp = self.inp
        return EmailInput(
            request_id=inp.request_id,
            practice_id=inp.practice_id,
            kind=kind,
            sequence=self.email_seq,
            recipients=recipients,
            first_name=inp.first_name,
            last_name=inp.last_name,
            facility_name=inp.facility_name,
            note=inp.note,
            currency=inp.currency,
            amount_due=self.ledger.amount_remaining,
            amount_paid=paid,
            pay_url=self.pay_url,
            expires_at=self.expires_at,
            language=inp.language,
            event_seq=event_seq,
        )

    def carried(self) -> CarriedState:
        return CarriedState(
            status=self.status,
            amount_requested=self.ledger.amount_requested,
            emails=self.emails,
            rejected_emails=tuple(sorted(self.rejected)),
            pay_url=self.pay_url,
            payments=self.ledger.snapshot(),
            unsaved_events=tuple(self.events),
            event_seq=self.event_seq,
            version=self.version,
            email_seq=self.email_seq,
            reminders_sent=self.reminders_sent,
            reminder_anchor=self.anchor,
            reminder_base_day=self.base_day,
            reminders_paused=self.paused,
            expires_at=self.expires_at,
            resend_queued=self.resend_queued,
            rejected_phones=tuple(sorted(self.rejected_phones)),
        )
