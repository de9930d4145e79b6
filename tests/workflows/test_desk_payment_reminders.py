"""A desk payment stops reminders (issue 16.2), on the time-skipping server with the real
worker, Postgres and aiosmtpd: the complaint clinics make most about such products is that
reminders keep coming after the patient paid in the office."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.support import Harness, keep_history
from tests.workflows.test_reminders import (
    MARIA,
    WEDNESDAY,
    expected,
    reminders,
    skip_to,
    skip_to_weekday,
    start,
    state,
)
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import ErrorType, OfflinePaymentInput, ReminderPolicy, RequestState, Status


async def test_paid_at_the_desk_on_day_2_gets_no_reminder_and_a_receipt(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    policy = ReminderPolicy()  # days 3/7/14/30
    async with h.worker():
        created = await skip_to_weekday(ts_env, WEDNESDAY, 15)
        handle = await start(h, created, policy)
        first_reminder = expected(created, 3, policy, handle)
        await skip_to(ts_env, created + timedelta(days=1))
        part = OfflinePaymentInput(payment_id="off_day1", amount=4000, method="cash")
        st = await handle.execute_update(PaymentRequestWorkflow.record_offline_payment, part)
        assert (st.status, st.amount_remaining) == (Status.PARTIALLY_PAID, 8000)
        assert st.next_reminder_at == first_reminder  # a part paid: the reminders go on
        await skip_to(ts_env, created + timedelta(days=2))
        rest = OfflinePaymentInput(
            payment_id="off_day2", amount=8000, method="check", reference="chk 1042"
        )
        st = await handle.execute_update(PaymentRequestWorkflow.record_offline_payment, rest)
        assert (st.status, st.amount_remaining, st.next_reminder_at) == (Status.PAID, 0, None)
        result: RequestState = await handle.result()
        await keep_history(handle, "desk_payments_pay_in_full_and_stop_reminders")
        await skip_to(ts_env, created + timedelta(days=31))  # past days 3, 7, 14 and 30
    assert result.status == Status.PAID and result.reminders_sent == 0
    assert {p.source for p in result.payments} == {"offline"}
    assert reminders(h) == []
    assert [m["Subject"] for m in h.smtp.to(MARIA)] == [
        "Sunrise Therapy: payment request for $120.00",
        "Sunrise Therapy: we received $40.00, $80.00 remains",
        "Sunrise Therapy: receipt for $120.00, paid in full",
    ]


async def test_a_retried_desk_payment_applies_once_and_more_than_remains_is_refused(
    harness: Harness,
) -> None:
    async with harness.worker():
        inp = harness.request_input(emails=(MARIA,), amount=12000)
        handle = await harness.client.start_workflow(
            PaymentRequestWorkflow.run,
            inp,
            id=f"payment-request-{inp.request_id}",
            task_queue=harness.task_queue,
        )
        pay = OfflinePaymentInput(payment_id="off_retry", amount=5000, method="cash")
        first = await handle.execute_update(PaymentRequestWorkflow.record_offline_payment, pay)
        again = await handle.execute_update(PaymentRequestWorkflow.record_offline_payment, pay)
        assert first.amount_paid == again.amount_paid == 5000
        assert len(again.payments) == 1
        over = OfflinePaymentInput(payment_id="off_over", amount=7001, method="cash")
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(PaymentRequestWorkflow.record_offline_payment, over)
        cause = failed.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == ErrorType.AMOUNT_EXCEEDS_REMAINING
        assert (await state(handle)).amount_paid == 5000
