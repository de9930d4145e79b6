"""RequestBook on its own: the request's state and what follows from it, with no Temporal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from temporalio.exceptions import ApplicationError

from workflows.book import RequestBook
from workflows.types import (
    EmailKind,
    ErrorType,
    EventType,
    OutboundEventType,
    PaymentReceived,
    PaymentRequestInput,
    ReminderPolicy,
    Status,
)

CREATED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday
NOW = CREATED + timedelta(hours=1)


def request(**overrides: Any) -> PaymentRequestInput:
    inp = PaymentRequestInput(
        request_id="pr_book",
        practice_id="prac_1",
        patient_id="pt_1",
        first_name="Maria",
        last_name="Lopez",
        facility_id="fac_1",
        facility_name="Downtown Clinic",
        emails=("maria@example.com", "ana@example.com"),
        amount=12000,
        created_at=CREATED,
        policy=ReminderPolicy(weekends_allowed=True),
    )
    return replace(inp, **overrides)


def pay(book: RequestBook, pid: str, amount: int) -> None:
    book.ledger.record_payment(
        PaymentReceived(payment_id=pid, amount=amount, at=NOW), accepting=not book.closed
    )


def test_new_book_is_pending_with_the_full_amount_and_the_policy_expiry() -> None:
    book = RequestBook(request())
    assert book.status == Status.PENDING and not book.closed
    assert book.ledger.amount_remaining == 12000
    assert book.expires_at == CREATED + timedelta(days=60)
    assert book.deliverable() == ("maria@example.com", "ana@example.com")


def test_accepted_delivery_makes_a_pending_request_sent() -> None:
    book = RequestBook(request())
    book.settle_delivery(NOW, accepted=True)
    assert book.status == Status.SENT


def test_accepted_delivery_after_a_payment_is_partially_paid() -> None:
    book = RequestBook(request())
    pay(book, "pi_1", 2000)
    book.settle_delivery(NOW, accepted=True)
    assert book.status == Status.PARTIALLY_PAID


def test_rejection_fails_delivery_only_when_no_address_is_left() -> None:
    book = RequestBook(request())
    book.rejected.add("maria@example.com")
    book.settle_delivery(NOW, accepted=False)
    assert book.status == Status.PENDING and book.outbound == []
    book.rejected.add("ana@example.com")
    book.settle_delivery(NOW, accepted=False)
    assert book.state().status == Status.DELIVERY_FAILED
    assert [e.type for e in book.outbound] == ["payment_request.delivery_failed"]


def test_a_phone_still_textable_keeps_the_request_out_of_delivery_failed() -> None:
    book = RequestBook(request(phones=("+15555550100",), texting=True))
    book.rejected.update(book.emails)
    book.settle_delivery(NOW, accepted=False)
    assert book.status == Status.PENDING


def test_phones_are_not_textable_without_texting() -> None:
    book = RequestBook(request(phones=("+15555550100",), texting=False))
    assert book.textable() == ()


def test_delivery_never_reopens_a_closed_request() -> None:
    book = RequestBook(request())
    book.close(NOW, Status.CANCELLED, EventType.CANCELLED, "by staff")
    book.settle_delivery(NOW, accepted=True)
    assert book.status == Status.CANCELLED


def test_close_records_an_event_and_one_outbound_event_named_after_the_status() -> None:
    book = RequestBook(request())
    book.close(NOW, Status.PAID, EventType.PAID, "")
    assert book.closed
    assert [(e.seq, e.type) for e in book.events] == [(1, "paid")]
    [out] = book.outbound
    assert out.type == "payment_request.paid" and out.status == "paid"


def test_events_are_numbered_in_order() -> None:
    book = RequestBook(request())
    book.event(NOW, EventType.CREATED)
    book.event(NOW, EventType.AMOUNT_CHANGED, "detail")
    assert [(e.seq, e.type, e.detail) for e in book.events] == [
        (1, "created", ""),
        (2, "amount_changed", "detail"),
    ]


def test_outbound_event_id_is_stable_and_differs_by_kind_and_discriminator() -> None:
    a, b = RequestBook(request()), RequestBook(request())
    a.emit(NOW, OutboundEventType.PAYMENT_SUCCEEDED, "pi_1")
    b.emit(NOW + timedelta(days=1), OutboundEventType.PAYMENT_SUCCEEDED, "pi_1")
    a.emit(NOW, OutboundEventType.PAYMENT_SUCCEEDED, "pi_2")
    a.emit(NOW, OutboundEventType.PAYMENT_REFUNDED, "pi_1")
    assert a.outbound[0].event_id == b.outbound[0].event_id
    assert len({e.event_id for e in a.outbound}) == 3
    assert all(e.event_id.startswith("evt_") and len(e.event_id) == 28 for e in a.outbound)


def test_outbound_event_carries_the_payment_it_names() -> None:
    book = RequestBook(request())
    pay(book, "pi_1", 5000)
    book.emit(NOW, OutboundEventType.PAYMENT_SUCCEEDED, "pi_1", payment_id="pi_1")
    [out] = book.outbound
    assert (out.payment_id, out.payment_amount, out.amount_remaining) == ("pi_1", 5000, 7000)


def test_require_open_refuses_a_closed_request_with_the_typed_error() -> None:
    book = RequestBook(request())
    book.require_open()
    book.close(NOW, Status.EXPIRED, EventType.EXPIRED, "")
    with pytest.raises(ApplicationError) as refused:
        book.require_open()
    assert refused.value.type == ErrorType.REQUEST_CLOSED


def test_no_reminder_is_due_while_pending_paused_or_closed() -> None:
    book = RequestBook(request())
    assert book.next_reminder_at() is None
    book.settle_delivery(NOW, accepted=True)
    assert book.next_reminder_at() is not None
    book.paused = True
    assert book.next_reminder_at() is None
    book.paused = False
    book.close(NOW, Status.CANCELLED, EventType.CANCELLED, "")
    assert book.next_reminder_at() is None
    assert book.next_action_at() == book.expires_at


def test_first_reminder_falls_on_the_first_reminder_day_within_the_spread() -> None:
    book = RequestBook(request())
    book.settle_delivery(NOW, accepted=True)
    at = book.next_reminder_at()
    assert at is not None
    ten = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # day 3 at the send time
    assert ten <= at < ten + timedelta(minutes=5)
    assert book.next_action_at() == at


def test_restart_schedule_keeps_the_spacing_of_the_reminders_still_to_come() -> None:
    book = RequestBook(request())
    book.settle_delivery(NOW, accepted=True)
    book.reminders_sent = 1  # the day-3 one went out
    later = CREATED + timedelta(days=5)
    book.restart_schedule(later)
    assert (book.anchor, book.base_day) == (later, 3)
    at = book.next_reminder_at()
    assert at is not None and at.date() == (later + timedelta(days=7 - 3)).date()


def test_restart_before_any_reminder_counts_from_day_zero() -> None:
    book = RequestBook(request())
    book.restart_schedule(NOW)
    assert (book.anchor, book.base_day) == (NOW, 0)


def test_email_input_names_the_recipients_and_the_balance() -> None:
    book = RequestBook(request())
    pay(book, "pi_1", 2000)
    book.email_seq = 4
    mail = book.email_input(EmailKind.REMINDER, ("ana@example.com",), paid=2000)
    assert (mail.kind, mail.sequence, mail.recipients) == (
        EmailKind.REMINDER,
        4,
        ("ana@example.com",),
    )
    assert (mail.amount_due, mail.amount_paid, mail.expires_at) == (10000, 2000, book.expires_at)


def test_snapshot_drops_the_carried_state_and_dates_the_close() -> None:
    book = RequestBook(request())
    assert book.snapshot(NOW).closed_at is None
    book.close(NOW, Status.CANCELLED, EventType.CANCELLED, "")
    snap = book.snapshot(NOW)
    assert snap.request.carried is None and snap.closed_at == NOW
    assert snap.state.status == Status.CANCELLED and len(snap.new_events) == 1


def test_state_lists_rejected_addresses_sorted() -> None:
    book = RequestBook(request())
    book.rejected.update({"maria@example.com", "ana@example.com"})
    assert book.state().rejected_emails == ("ana@example.com", "maria@example.com")


def test_carried_state_rebuilds_the_same_book_in_the_next_run() -> None:
    book = RequestBook(request())
    book.settle_delivery(NOW, accepted=True)
    pay(book, "pi_1", 3000)
    book.rejected.add("ana@example.com")
    book.event(NOW, EventType.PAYMENT_SUCCEEDED)
    book.reminders_sent, book.email_seq, book.version = 2, 3, 5
    book.restart_schedule(NOW)
    again = RequestBook(replace(request(), carried=book.carried()))
    assert again.state() == book.state()
    assert again.carried() == book.carried()
    assert again.next_action_at() == book.next_action_at()


@given(
    st.lists(st.tuples(st.sampled_from(["pi_a", "pi_b", "pi_c"]), st.integers(1, 20000))),
    st.booleans(),
)
def test_open_status_follows_whether_anything_was_paid(
    payments: list[tuple[str, int]], delivered: bool
) -> None:
    book = RequestBook(request())
    for pid, amount in payments:
        pay(book, pid, amount)
    book.settle_delivery(NOW, accepted=delivered)
    if not delivered:
        assert book.status == Status.PENDING
    elif book.ledger.amount_paid > 0:
        assert book.status == Status.PARTIALLY_PAID
    else:
        assert book.status == Status.SENT
    assert book.next_action_at() <= book.expires_at
