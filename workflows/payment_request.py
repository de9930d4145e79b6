"""PaymentRequestWorkflow: one durable workflow per payment request. It owns the balance.

State lives in a RequestBook (workflows/book.py); this class is the handlers, the wait loop and
the side effects. State changes happen under one lock, each followed by a version-guarded write
of the read model, so handlers running concurrently (payment signals, updates, timers) apply in
one deterministic order. Slow side effects (email, refunds) run outside the lock, so a payment
is never held up behind an SMTP retry.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    # In the sandbox too: pydantic resolves the text values' annotations through it.
    import workflows.sms  # noqa: F401
    from activities.email import EmailActivities
    from activities.read_model import ReadModelActivities
    from activities.stripe import StripeActivities
    from activities.webhooks import WebhookActivities
    from workflows.book import RequestBook
    from workflows.currencies import leaves_unpayable_remainder
    from workflows.ledger import PaymentOutcome
    from workflows.outbound import (
        DELIVERY_ATTEMPT_TIMEOUT,
        DELIVERY_RETRY,
        DELIVERY_WINDOW,
        outbound_task_queue,
    )
    from workflows.texting import Texts
    from workflows.types import (
        SA_AMOUNT_REMAINING,
        SA_NEXT_ACTION_AT,
        SA_PRACTICE,
        SA_STATUS,
        CancelInput,
        ChangeInput,
        DeliverEventsInput,
        DisputeChanged,
        EmailKind,
        Empty,
        ErrorType,
        EventType,
        OfflinePaymentInput,
        OutboundEventType,
        PaymentReceived,
        PaymentRequestInput,
        PaymentSource,
        RefundInput,
        RefundReason,
        RefundReceived,
        RequestSnapshot,
        RequestState,
        ResendInput,
        Status,
        email_event,
    )


READ_MODEL_TIMEOUT = timedelta(seconds=15)
READ_MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
EMAIL_TIMEOUT = timedelta(minutes=2)


def email_task_queue(main: str) -> str:
    """The task queue of `send_email`, served by its own worker (worker.build_email_worker):
    its slots are apart from refunds and saves, and EMAIL_MAX_PER_SECOND sets on it the
    server's rate across every worker, which is what an SMTP account's limit needs."""
    return f"{main}-email"


# How long one email keeps retrying 4xx answers and outages; then its recipients still not
# accepted are failed (never mailed again), so a dead mailbox cannot hold a request open.
EMAIL_DELIVERY_WINDOW = timedelta(hours=24)
EMAIL_HEARTBEAT = timedelta(seconds=20)  # the activity beats every 5 s while its worker lives
EMAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[ErrorType.SMTP_REJECTED],
)
REFUND_TIMEOUT = timedelta(seconds=30)
REFUND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=[ErrorType.STRIPE_ERROR],
)


# A payment that is not (yet) money: recorded on the timeline, nothing applied.
_PAYMENT_EVENTS = {"pending": EventType.PAYMENT_PENDING, "failed": EventType.PAYMENT_FAILED}


@workflow.defn
class PaymentRequestWorkflow:
    @workflow.init
    def __init__(self, inp: PaymentRequestInput) -> None:
        self._inp = inp
        self._b = RequestBook(inp)
        self._lock = asyncio.Lock()
        self._wake = False
        self._recorded = inp.carried is not None
        self._published: tuple[object, ...] = ()
        self._saved: RequestState | None = None  # the state the read model last stored
        self._deliveries: set[asyncio.Task[None]] = set()
        self._texts = Texts(self._b, self._lock, self._save, self._deliveries)

    # ---- the main loop ---------------------------------------------------------------

    @workflow.run
    async def run(self, inp: PaymentRequestInput) -> RequestState:
        try:
            await self._until_closed(inp)
        except (asyncio.CancelledError, ActivityError) as err:
            if not _is_cancellation(err):
                raise
            await self._close_as_cancelled()
        await self._finish()
        return self._b.state()

    async def _until_closed(self, inp: PaymentRequestInput) -> None:
        b = self._b
        if inp.carried is None:
            await self._record_request()
            await self._send(EmailKind.REQUEST, b.emails)
        while not b.closed:
            if b.resend_queued:
                b.resend_queued = False
                await self._send(EmailKind.REQUEST, b.deliverable())
                continue
            if self._should_continue_as_new():
                await workflow.wait_condition(self._settled)
                workflow.continue_as_new(replace(inp, carried=b.carried()))
            await self._wait_for_next_action()

    async def _close_as_cancelled(self) -> None:
        """A cancellation requested in Temporal ("Request Cancellation" in the UI, `temporal
        workflow cancel`) closes the request exactly as the API's cancel does: the read model
        says cancelled, the link is revoked, the practice gets its event."""
        b = self._b
        if not self._recorded:
            await self._record_request()
        async with self._lock:
            if b.closed:
                return
            b.close(workflow.now(), Status.CANCELLED, EventType.CANCELLED, "cancelled in Temporal")
            await self._save()

    async def _finish(self) -> None:
        """Closed: send a receipt `change` queued, then wait for the handlers and outbound
        deliveries. A cancellation requested now has nothing left to close: it interrupts
        what was running (once: Temporal delivers it once), which then runs again."""
        b = self._b
        for _ in range(2):
            try:
                if b.receipt_queued:
                    await self._send(EmailKind.RECEIPT, b.deliverable(), paid=b.ledger.amount_paid)
                    b.receipt_queued = False
                await workflow.wait_condition(self._settled)
                return
            except (asyncio.CancelledError, ActivityError) as err:
                if not _is_cancellation(err):
                    raise

    def _settled(self) -> bool:
        """No handler running and every outbound delivery done (or given up)."""
        return workflow.all_handlers_finished() and not self._deliveries

    async def _wait_for_next_action(self) -> None:
        b = self._b
        due = b.next_action_at()
        self._wake = False
        try:
            await workflow.wait_condition(
                lambda: self._wake or b.resend_queued or b.closed or self._should_continue_as_new(),
                timeout=max(due - workflow.now(), timedelta(0)),
            )
            return
        except TimeoutError:
            pass
        reminder_due = False
        async with self._lock:
            if b.closed:
                return
            if workflow.now() >= b.expires_at:
                b.close(workflow.now(), Status.EXPIRED, EventType.EXPIRED, "")
                await self._save()
                return
            reminder = b.next_reminder_at()
            if reminder is not None and workflow.now() >= reminder:
                b.reminders_sent += 1
                reminder_due = True
        if reminder_due:
            await self._send(EmailKind.REMINDER, b.deliverable())

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
            outcome, accepting, paid_in_full = await self._apply_payment(event)
        if outcome.excess:
            reason = RefundReason.OVERPAYMENT if accepting else RefundReason.CLOSED
            await self._refund(event.payment_id, outcome.excess, reason)
        if paid_in_full:
            await self._send(
                EmailKind.RECEIPT, self._b.deliverable(), paid=self._b.ledger.amount_paid
            )
        elif accepting and outcome.applied:
            await self._send(
                EmailKind.PAYMENT_RECEIVED, self._b.deliverable(), paid=outcome.applied
            )

    async def _apply_payment(
        self, event: PaymentReceived, *, queue_receipt: bool = False
    ) -> tuple[PaymentOutcome, bool, bool]:
        """The one ledger path for every payment, by card or at the desk (under the lock):
        record it, settle the status, save. Returns (outcome, accepting, paid in full).
        `queue_receipt`: the main loop sends the receipt; queued before the save, since the
        closed status already lets the main loop go on to its end while the save runs."""
        b = self._b
        now = workflow.now()
        accepting = not b.closed
        outcome = b.ledger.record_payment(event, accepting=accepting)
        if event.stripe_event_id:
            b.stripe_events.append(event.stripe_event_id)
        if outcome.kind == "duplicate":
            if event.stripe_event_id:  # nothing else to save, but its mark
                await self._save()
            return outcome, accepting, False
        if outcome.kind != "applied":
            b.event(now, _PAYMENT_EVENTS[outcome.kind], f"{event.payment_id} {event.amount}")
            await self._save()
            return outcome, accepting, False
        b.event(now, EventType.PAYMENT_SUCCEEDED, f"{event.payment_id} {event.amount}")
        b.emit(now, OutboundEventType.PAYMENT_SUCCEEDED, event.payment_id, event.payment_id)
        if outcome.excess:
            b.event(now, EventType.OVERPAYMENT, f"{event.payment_id} {outcome.excess}")
        paid_in_full = accepting and b.ledger.amount_remaining == 0
        if paid_in_full:
            b.close(now, Status.PAID, EventType.PAID, "")
            b.receipt_queued = queue_receipt
        elif accepting and outcome.applied:
            b.status = Status.PARTIALLY_PAID
        await self._save()
        return outcome, accepting, paid_in_full

    @workflow.signal
    async def refund_received(self, event: RefundReceived) -> None:
        await workflow.wait_condition(lambda: self._recorded)
        b = self._b
        async with self._lock:
            now = workflow.now()
            if not b.ledger.record_refund(event):
                return
            b.event(now, EventType.REFUND, f"{event.payment_id} {event.amount_refunded}")
            b.emit(
                now,
                OutboundEventType.PAYMENT_REFUNDED,
                f"{event.payment_id}:{event.amount_refunded}",
                event.payment_id,
            )
            b.settle_open_status()
            await self._save()

    @workflow.signal
    async def dispute_changed(self, event: DisputeChanged) -> None:
        await workflow.wait_condition(lambda: self._recorded)
        b = self._b
        async with self._lock:
            if not b.ledger.record_dispute(event):
                return
            kind = EventType.DISPUTE_CLOSED if event.closed else EventType.DISPUTE_OPENED
            b.event(workflow.now(), kind, f"{event.payment_id} {event.status}")
            b.settle_open_status()
            await self._save()

    # ---- updates: the practice acts on the request ------------------------------------

    @workflow.update
    async def await_created(self, _: Empty) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        return self._b.state()

    @workflow.update
    async def cancel(self, inp: CancelInput) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            self._b.require_open()
            self._b.close(workflow.now(), Status.CANCELLED, EventType.CANCELLED, inp.reason[:200])
            await self._save()
            return self._b.state()

    @cancel.validator
    def _validate_cancel(self, inp: CancelInput) -> None:
        self._b.require_open()

    @workflow.update
    async def resend(self, inp: ResendInput) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        b = self._b
        async with self._lock:
            b.require_open()
            if inp.emails:
                b.emails = tuple(inp.emails)
                b.rejected -= set(inp.emails)
            b.restart_schedule(workflow.now())
            self._wake = True
            # The caller gets its answer now; the main loop sends, however long SMTP takes.
            b.resend_queued = True
            b.event(workflow.now(), EventType.RESEND_REQUESTED)
            await self._save()
            return b.state()

    @resend.validator
    def _validate_resend(self, inp: ResendInput) -> None:
        self._b.require_open()
        if inp.emails is not None and not inp.emails:
            raise ApplicationError("emails must not be empty", type=ErrorType.INVALID_CHANGE)

    @workflow.update
    async def change(self, inp: ChangeInput) -> RequestState:
        await workflow.wait_condition(lambda: self._recorded)
        b = self._b
        async with self._lock:
            now = workflow.now()
            self._validate_change(inp)
            if inp.reminders_paused is not None and inp.reminders_paused != b.paused:
                b.paused = inp.reminders_paused
                if not b.paused:
                    b.restart_schedule(now)
                b.event(
                    now, EventType.REMINDERS_PAUSED if b.paused else EventType.REMINDERS_RESUMED
                )
            paid_in_full = False
            if inp.amount is not None and inp.amount != b.ledger.amount_requested:
                b.ledger.amount_requested = inp.amount
                b.event(now, EventType.AMOUNT_CHANGED, str(inp.amount))
                paid_in_full = b.ledger.amount_remaining == 0
            self._wake = True
            if paid_in_full:
                b.close(now, Status.PAID, EventType.PAID, "")
                b.receipt_queued = True  # the main loop sends it: the caller never waits on SMTP
            await self._save()
            return b.state()

    @change.validator
    def _validate_change(self, inp: ChangeInput) -> None:
        self._b.require_open()
        if inp.amount is None and inp.reminders_paused is None:
            raise ApplicationError("nothing to change", type=ErrorType.INVALID_CHANGE)
        if inp.amount is not None and inp.amount <= 0:
            raise ApplicationError("amount must be positive", type=ErrorType.INVALID_CHANGE)
        if inp.amount is not None and inp.amount < self._b.ledger.amount_paid:
            raise ApplicationError(
                "amount is below what was already paid", type=ErrorType.AMOUNT_BELOW_PAID
            )
        if inp.amount is not None and leaves_unpayable_remainder(
            self._b.inp.currency, inp.amount, self._b.ledger.amount_paid
        ):
            raise ApplicationError(
                "the amount would leave less to pay than the smallest card payment",
                type=ErrorType.REMAINDER_BELOW_MINIMUM,
            )

    @workflow.update
    async def record_offline_payment(self, inp: OfflinePaymentInput) -> RequestState:
        """Money taken at the desk, applied through the card payments' ledger path. No Stripe
        refund can follow: the validator refuses more than remains, so there is never excess."""
        await workflow.wait_condition(lambda: self._recorded)
        b = self._b
        async with self._lock:
            if inp.payment_id in b.ledger.payments:  # a retried update: applied once already
                return b.state()
            self._validate_offline_payment(inp)
            event = PaymentReceived(
                payment_id=inp.payment_id,
                amount=inp.amount,
                currency=self._inp.currency,
                method=inp.method,
                at=inp.received_at or workflow.now(),
                source=PaymentSource.OFFLINE,
                reference=inp.reference,
            )
            # The main loop sends a receipt: the desk never waits on SMTP.
            outcome, _, paid_in_full = await self._apply_payment(event, queue_receipt=True)
            self._wake = True
            state = b.state()
        if not paid_in_full and outcome.applied:
            # The desk gets its answer now; the patient's email follows, tracked to completion.
            task = asyncio.create_task(
                self._send(EmailKind.PAYMENT_RECEIVED, b.deliverable(), paid=outcome.applied)
            )
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        return state

    @record_offline_payment.validator
    def _validate_offline_payment(self, inp: OfflinePaymentInput) -> None:
        if inp.payment_id in self._b.ledger.payments:
            return  # a retry of one already applied: it answers with the state, changes nothing
        self._b.require_open()
        if inp.amount <= 0:
            raise ApplicationError("amount must be positive", type=ErrorType.INVALID_CHANGE)
        if inp.amount > self._b.ledger.amount_remaining:
            raise ApplicationError(
                "the amount is more than what remains to pay",
                type=ErrorType.AMOUNT_EXCEEDS_REMAINING,
            )
        remaining = self._b.ledger.amount_remaining
        # The same rule as a card payment's: the patient's link must stay payable.
        if leaves_unpayable_remainder(self._inp.currency, remaining, inp.amount):
            raise ApplicationError(
                "the payment would leave less to pay than the smallest card payment",
                type=ErrorType.REMAINDER_BELOW_MINIMUM,
            )

    @workflow.query
    def state(self) -> RequestState:
        return self._b.state()

    # ---- side effects ------------------------------------------------------------------

    async def _record_request(self) -> None:
        b = self._b
        async with self._lock:
            b.version += 1
            b.created_event_at = workflow.now()
            b.event(b.created_event_at, EventType.CREATED)
            snap = b.snapshot(workflow.now())
            result = await workflow.execute_local_activity_method(
                ReadModelActivities.record_request,
                snap,
                start_to_close_timeout=READ_MODEL_TIMEOUT,
                retry_policy=READ_MODEL_RETRY,
            )
            b.events.clear()
            b.pay_url = result.pay_url
            self._saved = replace(snap.state, pay_url=result.pay_url)
            self._recorded = True
            self._publish()

    async def _save(self) -> None:
        b = self._b
        b.version += 1
        snap = b.snapshot(workflow.now())
        result = await workflow.execute_local_activity_method(
            ReadModelActivities.save_request,
            snap,
            start_to_close_timeout=READ_MODEL_TIMEOUT,
            retry_policy=READ_MODEL_RETRY,
        )
        self._saved = snap.state
        b.events.clear()
        b.stripe_events.clear()
        self._publish()
        outbound, b.outbound = b.outbound, []
        if result.deliver_events:  # recorded either way; with no endpoint, no one to tell
            task = asyncio.create_task(self._deliver(tuple(ev.event_id for ev in outbound)))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _send(self, kind: EmailKind, recipients: tuple[str, ...], paid: int = 0) -> None:
        """The email to `recipients` and, from its own task, a text to each textable phone."""
        b = self._b
        if not recipients and not b.textable():
            if b.status == Status.PENDING and kind == EmailKind.REQUEST:
                async with self._lock:  # phones only, and no Twilio here: no one to tell
                    b.settle_delivery(workflow.now(), accepted=False)
                    await self._save()
            return
        b.email_seq += 1
        self._texts.start(kind, b.email_seq, paid)
        if not recipients:
            return
        # The activity records each recipient's outcome on the timeline under these seqs.
        inp = b.email_input(kind, recipients, paid, b.reserve_events(len(recipients)))
        inp = replace(inp, save=self._save_on_accept(kind))
        try:
            result = await workflow.execute_activity_method(
                EmailActivities.send_email,
                inp,
                task_queue=email_task_queue(workflow.info().task_queue),
                start_to_close_timeout=EMAIL_TIMEOUT,
                schedule_to_close_timeout=EMAIL_DELIVERY_WINDOW,
                heartbeat_timeout=EMAIL_HEARTBEAT,
                retry_policy=EMAIL_RETRY,
            )
        except ActivityError as err:
            if _is_cancellation(err):
                raise
            result = await workflow.execute_activity_method(
                EmailActivities.give_up_email,
                inp,
                start_to_close_timeout=READ_MODEL_TIMEOUT,
                retry_policy=READ_MODEL_RETRY,
            )
        async with self._lock:
            now = workflow.now()
            b.rejected |= set(result.rejected)
            for r in result.recipients:
                event_type, detail = email_event(kind, r.status, r.email)
                if not result.events_recorded:  # given up: the workflow records them
                    seq = inp.event_seq + recipients.index(r.email)
                    b.event(now, event_type, detail, seq=seq)
            if kind in (EmailKind.REQUEST, EmailKind.REMINDER):
                b.settle_delivery(now, bool(result.accepted))
            if result.saved and inp.save is not None and self._newer(inp.save.state):
                self._saved = inp.save.state
                self._publish()
            # The activity put the outcome on the timeline: a save only for what else changed.
            if b.events or b.outbound or b.state() != self._saved:
                await self._save()

    def _save_on_accept(self, kind: EmailKind) -> RequestSnapshot | None:
        """For a request email or a reminder, the request as it will be once every recipient
        accepts it, under a version of its own, for the email activity to save then. None
        when anything else waits to be saved (events, outbound or Stripe events, a handler
        holding the lock): the save after the email carries it, as before."""
        b = self._b
        if kind not in (EmailKind.REQUEST, EmailKind.REMINDER):
            return None
        if b.closed or b.events or b.outbound or b.stripe_events or self._lock.locked():
            return None
        b.version += 1
        return b.accepted_snapshot(workflow.now())

    def _newer(self, state: RequestState) -> bool:
        """`state` is newer than what the read model was last known to hold."""
        return self._saved is None or state.version > self._saved.version

    async def _refund(self, payment_id: str, amount: int, reason: RefundReason) -> None:
        await workflow.execute_activity_method(
            StripeActivities.refund_payment,
            RefundInput(
                request_id=self._inp.request_id, payment_id=payment_id, amount=amount, reason=reason
            ),
            start_to_close_timeout=REFUND_TIMEOUT,
            retry_policy=REFUND_RETRY,
        )
        async with self._lock:
            self._b.event(
                workflow.now(), EventType.REFUND_ISSUED, f"{payment_id} {amount} {reason}"
            )
            await self._save()

    async def _deliver(self, event_ids: tuple[str, ...]) -> None:
        """The events of one save, in one activity retried for days, outside the lock; the
        workflow completes (and continues as new) only once each delivery is done or given up.
        While it waits, the request is closed for patients and staff (status, search attributes)
        and the Temporal UI shows the retrying activity with its last error."""
        inp = DeliverEventsInput(event_ids=event_ids)
        try:
            await workflow.execute_activity_method(
                WebhookActivities.deliver_events,
                inp,
                task_queue=outbound_task_queue(workflow.info().task_queue),
                start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT * len(event_ids),
                schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY,
            )
        except ActivityError:
            await workflow.execute_activity_method(
                WebhookActivities.mark_events_undeliverable,
                inp,
                start_to_close_timeout=DELIVERY_ATTEMPT_TIMEOUT,
                retry_policy=READ_MODEL_RETRY,
            )

    def _publish(self) -> None:
        """Search attributes and the UI summary: never anything that identifies a patient."""
        b = self._b
        remaining, requested = b.ledger.amount_remaining, b.ledger.amount_requested
        published = (b.status, remaining, b.next_action_at(), requested)
        if published == self._published:
            return
        self._published = published
        workflow.upsert_search_attributes(
            [
                SA_STATUS.value_set(str(b.status)),
                SA_PRACTICE.value_set(self._inp.practice_id),
                SA_AMOUNT_REMAINING.value_set(remaining),
                SA_NEXT_ACTION_AT.value_set(b.next_action_at()),
            ]
        )
        workflow.set_current_details(
            f"{b.status}: {remaining} of {requested} {self._inp.currency} minor units remaining"
        )


def _is_cancellation(err: BaseException) -> bool:
    """The workflow's cancellation reaches the main loop as CancelledError, or as the
    ActivityError of the activity it was awaiting, which it cancelled."""
    if isinstance(err, asyncio.CancelledError):
        return True
    return isinstance(err, ActivityError) and isinstance(err.cause, CancelledError)
