"""PaymentRequestWorkflow: one durable workflow per payment request. It owns the balance.

State changes happen under one lock, each followed by a version-guarded write of the read
model, so handlers running concurrently (payment signals, updates, timers) apply in a single
deterministic order. Slow side effects (email, refunds) run outside the lock so a payment is
never held up behind an SMTP retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.ledger import Ledger
    from workflows.outbound import DeliverEventWorkflow
    from workflows.schedule import next_reminder
    from workflows.types import (
        CLOSED_STATUSES,
        SA_AMOUNT_REMAINING,
        SA_NEXT_ACTION_AT,
        SA_PRACTICE,
        SA_STATUS,
        CancelInput,
        CarriedState,
        ChangeInput,
        DeliverEventInput,
        DisputeChanged,
        EmailInput,
        EmailKind,
        EmailResult,
        Empty,
        ErrorType,
        OutboundEvent,
        PaymentReceived,
        PaymentRequestInput,
        RecordRequestResult,
        RefundInput,
        RefundReceived,
        RequestEvent,
        RequestSnapshot,
        RequestState,
        ResendInput,
        Status,
    )

READ_MODEL_TIMEOUT = timedelta(seconds=15)
READ_MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
EMAIL_TIMEOUT = timedelta(minutes=2)
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[ErrorType.SMTP_REJECTED],
)
REFUND_TIMEOUT = timedelta(seconds=30)
RESEND_FROM_MAIN_LOOP = "resend-from-main-loop"  # patch id: resend no longer awaits SMTP
REFUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[ErrorType.STRIPE_ERROR],
)


@workflow.defn
class PaymentRequestWorkflow:
    @workflow.init
    def __init__(self, inp: PaymentRequestInput) -> None:
        self._inp = inp
        self._lock = asyncio.Lock()
        self._wake = False
        c = inp.carried
        self._recorded = c is not None
        self._status = c.status if c else Status.PENDING
        self._ledger = Ledger(c.amount_requested if c else inp.amount, c.payments if c else ())
        self._emails = c.emails if c else inp.emails
        self._rejected: set[str] = set(c.rejected_emails) if c else set()
        self._pay_url = c.pay_url if c else ""
        self._events: list[RequestEvent] = list(c.unsaved_events) if c else []  # not yet saved
        self._event_seq = c.event_seq if c else 0
        self._outbound: list[OutboundEvent] = []  # recorded with the next save, then delivered
        self._published: tuple[object, ...] = ()
        self._version = c.version if c else 0
        self._email_seq = c.email_seq if c else 0
        self._reminders_sent = c.reminders_sent if c else 0
        self._anchor = c.reminder_anchor if c else inp.created_at
        self._base_day = c.reminder_base_day if c else 0
        self._paused = c.reminders_paused if c else False
        self._resend_queued = c.resend_queued if c else False
        self._expires_at = (
            c.expires_at if c else (inp.created_at + timedelta(days=inp.policy.expires_in_days))
        )

    # ---- the main loop ---------------------------------------------------------------

    @workflow.run
    async def run(self, inp: PaymentRequestInput) -> RequestState:
        if inp.carried is None:
            await self._record_request()
            await self._send(EmailKind.REQUEST, self._emails)
        while self._status not in CLOSED_STATUSES:
            if self._resend_queued:
                self._resend_queued = False
                await self._send(EmailKind.REQUEST, self._deliverable())
                continue
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(replace(inp, carried=self._carried()))
            await self._wait_for_next_action()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state()

    async def _wait_for_next_action(self) -> None:
        due = self._next_action_at()
        self._wake = False
        try:
            await workflow.wait_condition(
                lambda: (
                    self._wake
                    or self._resend_queued
                    or self._status in CLOSED_STATUSES
                    or self._should_continue_as_new()
                ),
                timeout=max(due - workflow.now(), timedelta(0)),
            )
            return
        except TimeoutError:
            pass
        reminder_due = False
        async with self._lock:
            if self._status in CLOSED_STATUSES:
                return
            if workflow.now() >= self._expires_at:
                await self._close(Status.EXPIRED, "expired", "")
                return
            reminder = self._next_reminder_at()
            if reminder is not None and workflow.now() >= reminder:
                self._reminders_sent += 1
                reminder_due = True
        if reminder_due:
            await self._send(EmailKind.REMINDER, self._deliverable())

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        limit = self._inp.history_length_limit
        return info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() > limit
        )

    # ---- signals: money arrives from the Stripe webhook ------------------------------

    @workflow.signal
    async def payment_received(self, event: PaymentReceived) -> None:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            accepting = self._status not in CLOSED_STATUSES
            outcome = self._ledger.record_payment(event, accepting=accepting)
            if outcome.kind == "duplicate":
                return
            if outcome.kind != "applied":
                self._event(f"payment_{outcome.kind}", f"{event.payment_id} {event.amount}")
                await self._save()
                return
            self._event("payment_succeeded", f"{event.payment_id} {event.amount}")
            self._emit("payment.succeeded", event.payment_id, event.payment_id)
            if outcome.excess:
                self._event("overpayment", f"{event.payment_id} {outcome.excess}")
            paid_in_full = accepting and self._ledger.amount_remaining == 0
            if paid_in_full:
                await self._close(Status.PAID, "paid", "")
            elif accepting and outcome.applied:
                self._status = Status.PARTIALLY_PAID
                await self._save()
            else:
                await self._save()
        if outcome.excess:
            reason = "overpayment" if accepting else "closed"
            await self._refund(event.payment_id, outcome.excess, reason)
        if paid_in_full:
            await self._send(EmailKind.RECEIPT, self._deliverable(), paid=self._ledger.amount_paid)
        elif accepting and outcome.applied:
            await self._send(EmailKind.PAYMENT_RECEIVED, self._deliverable(), paid=outcome.applied)

    @workflow.signal
    async def refund_received(self, event: RefundReceived) -> None:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            if not self._ledger.record_refund(event):
                return
            self._event("refund", f"{event.payment_id} {event.amount_refunded}")
            self._emit(
                "payment.refunded", f"{event.payment_id}:{event.amount_refunded}", event.payment_id
            )
            self._settle_open_status()
            await self._save()

    @workflow.signal
    async def dispute_changed(self, event: DisputeChanged) -> None:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            if not self._ledger.record_dispute(event):
                return
            kind = "dispute_closed" if event.closed else "dispute_opened"
            self._event(kind, f"{event.payment_id} {event.status}")
            self._settle_open_status()
            await self._save()

    # ---- updates: the practice acts on the request ------------------------------------

    @workflow.update
    async def await_created(self, _: Empty) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        return self._state()

    @workflow.update
    async def cancel(self, inp: CancelInput) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            self._require_open()
            await self._close(Status.CANCELLED, "cancelled", inp.reason[:200])
            return self._state()

    @cancel.validator
    def _validate_cancel(self, inp: CancelInput) -> None:
        self._require_open()

    @workflow.update
    async def resend(self, inp: ResendInput) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            self._require_open()
            if inp.emails:
                self._emails = tuple(inp.emails)
                self._rejected -= set(inp.emails)
            self._base_day = self._schedule_day_reached()
            self._anchor = workflow.now()
            self._wake = True
            if workflow.patched(RESEND_FROM_MAIN_LOOP):
                # The caller gets its answer now; the main loop sends, however long SMTP takes.
                self._resend_queued = True
                self._event("resend_requested")
                await self._save()
                return self._state()
        await self._send(EmailKind.REQUEST, self._deliverable())
        return self._state()

    @resend.validator
    def _validate_resend(self, inp: ResendInput) -> None:
        self._require_open()
        if inp.emails is not None and not inp.emails:
            raise ApplicationError("emails must not be empty", type=ErrorType.INVALID_CHANGE)

    @workflow.update
    async def change(self, inp: ChangeInput) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            self._validate_change(inp)
            if inp.reminders_paused is not None and inp.reminders_paused != self._paused:
                self._paused = inp.reminders_paused
                if not self._paused:  # the rest of the schedule goes on from the resume
                    self._base_day = self._schedule_day_reached()
                    self._anchor = workflow.now()
                self._event("reminders_paused" if self._paused else "reminders_resumed")
            paid_in_full = False
            if inp.amount is not None and inp.amount != self._ledger.amount_requested:
                self._ledger.amount_requested = inp.amount
                self._event("amount_changed", str(inp.amount))
                paid_in_full = self._ledger.amount_remaining == 0
            self._wake = True
            if paid_in_full:
                await self._close(Status.PAID, "paid", "")
            else:
                await self._save()
            state = self._state()
        if paid_in_full:
            await self._send(EmailKind.RECEIPT, self._deliverable(), paid=self._ledger.amount_paid)
        return state

    @change.validator
    def _validate_change(self, inp: ChangeInput) -> None:
        self._require_open()
        if inp.amount is None and inp.reminders_paused is None:
            raise ApplicationError("nothing to change", type=ErrorType.INVALID_CHANGE)
        if inp.amount is not None and inp.amount <= 0:
            raise ApplicationError("amount must be positive", type=ErrorType.INVALID_CHANGE)
        if inp.amount is not None and inp.amount < self._ledger.amount_paid:
            raise ApplicationError(
                "amount is below what was already paid", type=ErrorType.AMOUNT_BELOW_PAID
            )

    @workflow.query
    def state(self) -> RequestState:
        return self._state()

    # ---- side effects ------------------------------------------------------------------

    async def _record_request(self) -> None:
        async with self._lock:
            self._version += 1
            self._event("created")
            result: RecordRequestResult = await workflow.execute_local_activity(
                "record_request",
                self._snapshot(),
                result_type=RecordRequestResult,
                start_to_close_timeout=READ_MODEL_TIMEOUT,
                retry_policy=READ_MODEL_RETRY,
            )
            self._events.clear()
            self._pay_url = result.pay_url
            self._recorded = True
            self._publish()

    async def _save(self) -> None:
        self._version += 1
        await workflow.execute_local_activity(
            "save_request",
            self._snapshot(),
            start_to_close_timeout=READ_MODEL_TIMEOUT,
            retry_policy=READ_MODEL_RETRY,
        )
        self._events.clear()
        self._publish()
        outbound, self._outbound = self._outbound, []
        for ev in outbound:
            await self._deliver(ev)

    async def _close(self, status: Status, event: str, detail: str) -> None:
        self._status = status
        self._event(event, detail)
        self._emit(f"payment_request.{status}", "closed")
        await self._save()

    async def _send(self, kind: EmailKind, recipients: tuple[str, ...], paid: int = 0) -> None:
        if not recipients:
            return
        self._email_seq += 1
        result: EmailResult = await workflow.execute_activity(
            "send_email",
            self._email_input(kind, recipients, paid),
            result_type=EmailResult,
            start_to_close_timeout=EMAIL_TIMEOUT,
            retry_policy=EMAIL_RETRY,
        )
        async with self._lock:
            self._rejected |= set(result.rejected)
            for r in result.recipients:
                self._event(f"email_{r.status}", f"{kind} to {r.email}")
            if kind in (EmailKind.REQUEST, EmailKind.REMINDER):
                self._settle_delivery(bool(result.accepted))
            await self._save()

    async def _refund(self, payment_id: str, amount: int, reason: str) -> None:
        await workflow.execute_activity(
            "refund_payment",
            RefundInput(
                request_id=self._inp.request_id, payment_id=payment_id, amount=amount, reason=reason
            ),
            start_to_close_timeout=REFUND_TIMEOUT,
            retry_policy=REFUND_RETRY,
        )
        async with self._lock:
            self._event("refund_issued", f"{payment_id} {amount} {reason}")
            await self._save()

    def _emit(self, kind: str, discriminator: str, payment_id: str | None = None) -> None:
        inp = self._inp
        key = f"{inp.request_id}:{kind}:{discriminator}".encode()
        payment = self._ledger.payments.get(payment_id) if payment_id else None
        self._outbound.append(
            OutboundEvent(
                event_id="evt_" + hashlib.sha256(key).hexdigest()[:24],
                type=kind,
                practice_id=inp.practice_id,
                request_id=inp.request_id,
                patient_id=inp.patient_id,
                occurred_at=workflow.now(),
                status=str(self._status),
                currency=inp.currency,
                amount_requested=self._ledger.amount_requested,
                amount_paid=self._ledger.amount_paid,
                amount_remaining=self._ledger.amount_remaining,
                payment_id=payment_id,
                payment_amount=payment.amount if payment else None,
                refunded_amount=payment.refunded if payment else None,
            )
        )

    async def _deliver(self, ev: OutboundEvent) -> None:
        """Each event gets its own workflow, which outlives this one and retries for days."""
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                DeliverEventWorkflow.run,
                DeliverEventInput(event_id=ev.event_id),
                id=f"outbound-event-{ev.event_id}",
                parent_close_policy=ParentClosePolicy.ABANDON,
            )

    # ---- derived state -----------------------------------------------------------------

    def _settle_delivery(self, accepted: bool) -> None:
        if self._status in CLOSED_STATUSES:
            return
        if accepted and self._status in (Status.PENDING, Status.DELIVERY_FAILED):
            self._status = Status.SENT
            self._settle_open_status()
        elif not accepted and not self._deliverable():
            self._status = Status.DELIVERY_FAILED
            self._emit("payment_request.delivery_failed", str(self._email_seq))

    def _settle_open_status(self) -> None:
        if self._status in (Status.SENT, Status.PARTIALLY_PAID):
            paid = self._ledger.amount_paid > 0
            self._status = Status.PARTIALLY_PAID if paid else Status.SENT

    def _require_open(self) -> None:
        if self._status in CLOSED_STATUSES:
            raise ApplicationError(f"the request is {self._status}", type=ErrorType.REQUEST_CLOSED)

    def _deliverable(self) -> tuple[str, ...]:
        return tuple(e for e in self._emails if e not in self._rejected)

    def _schedule_day_reached(self) -> int:
        days = sorted(self._inp.policy.reminder_days)
        return days[self._reminders_sent - 1] if self._reminders_sent else 0

    def _next_reminder_at(self) -> datetime | None:
        if self._paused or self._status not in (Status.SENT, Status.PARTIALLY_PAID):
            return None
        return next_reminder(
            anchor=self._anchor,
            base_day=self._base_day,
            reminders_sent=self._reminders_sent,
            policy=self._inp.policy,
            expires_at=self._expires_at,
        )

    def _next_action_at(self) -> datetime:
        reminder = self._next_reminder_at()
        return min(reminder, self._expires_at) if reminder else self._expires_at

    def _event(self, kind: str, detail: str = "") -> None:
        self._event_seq += 1
        self._events.append(
            RequestEvent(seq=self._event_seq, at=workflow.now(), type=kind, detail=detail)
        )

    def _publish(self) -> None:
        """Search attributes and the UI summary: never anything that identifies a patient."""
        published = (
            self._status,
            self._ledger.amount_remaining,
            self._next_action_at(),
            self._ledger.amount_requested,
        )
        if published == self._published:
            return
        self._published = published
        workflow.upsert_search_attributes(
            [
                SA_STATUS.value_set(str(self._status)),
                SA_PRACTICE.value_set(self._inp.practice_id),
                SA_AMOUNT_REMAINING.value_set(self._ledger.amount_remaining),
                SA_NEXT_ACTION_AT.value_set(self._next_action_at()),
            ]
        )
        workflow.set_current_details(
            f"{self._status}: {self._ledger.amount_remaining} of "
            f"{self._ledger.amount_requested} {self._inp.currency} minor units remaining"
        )

    def _state(self) -> RequestState:
        return RequestState(
            request_id=self._inp.request_id,
            practice_id=self._inp.practice_id,
            status=self._status,
            currency=self._inp.currency,
            amount_requested=self._ledger.amount_requested,
            amount_paid=self._ledger.amount_paid,
            amount_remaining=self._ledger.amount_remaining,
            amount_overpaid=self._ledger.amount_overpaid,
            pay_url=self._pay_url,
            emails=self._emails,
            rejected_emails=tuple(sorted(self._rejected)),
            reminders_sent=self._reminders_sent,
            reminders_paused=self._paused,
            next_reminder_at=self._next_reminder_at(),
            expires_at=self._expires_at,
            payments=self._ledger.snapshot(),
            version=self._version,
        )

    def _snapshot(self) -> RequestSnapshot:
        closed = self._status in CLOSED_STATUSES
        return RequestSnapshot(
            request=replace(self._inp, carried=None),
            state=self._state(),
            new_events=tuple(self._events),
            outbound=tuple(self._outbound),
            updated_at=workflow.now(),
            closed_at=workflow.now() if closed else None,
        )

    def _email_input(self, kind: EmailKind, recipients: tuple[str, ...], paid: int) -> EmailInput:
        inp = self._inp
        return EmailInput(
            request_id=inp.request_id,
            practice_id=inp.practice_id,
            kind=kind,
            sequence=self._email_seq,
            recipients=recipients,
            first_name=inp.first_name,
            last_name=inp.last_name,
            facility_name=inp.facility_name,
            note=inp.note,
            currency=inp.currency,
            amount_due=self._ledger.amount_remaining,
            amount_paid=paid,
            pay_url=self._pay_url,
            expires_at=self._expires_at,
        )

    def _carried(self) -> CarriedState:
        return CarriedState(
            status=self._status,
            amount_requested=self._ledger.amount_requested,
            emails=self._emails,
            rejected_emails=tuple(sorted(self._rejected)),
            pay_url=self._pay_url,
            payments=self._ledger.snapshot(),
            unsaved_events=tuple(self._events),
            event_seq=self._event_seq,
            version=self._version,
            email_seq=self._email_seq,
            reminders_sent=self._reminders_sent,
            reminder_anchor=self._anchor,
            reminder_base_day=self._base_day,
            reminders_paused=self._paused,
            expires_at=self._expires_at,
            resend_queued=self._resend_queued,
        )
