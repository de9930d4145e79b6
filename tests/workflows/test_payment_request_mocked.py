"""The real PaymentRequestWorkflow with every activity replaced, as temporalio/samples-python
tests do: the mocks record what the workflow asked for, so these tests state the workflow's
decisions (which emails, which saves, when) without Postgres, SMTP or Stripe."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.support import eventually
from workflows.payment_request import PaymentRequestWorkflow, email_task_queue
from workflows.types import (
    EmailInput,
    EmailKind,
    EmailResult,
    PaymentReceived,
    PaymentRequestInput,
    RecipientResult,
    RecipientStatus,
    RecordRequestResult,
    RefundInput,
    ReminderPolicy,
    RequestSnapshot,
    RequestState,
    SaveResult,
    Status,
    workflow_id,
)

PAY_URL = "https://pay.example/pay/tok"


@dataclass
class Calls:
    # False: the email activity of an earlier release, which does not record its outcome's
    # events, so the workflow saves them after every email
    events_recorded: bool = False
    recorded: list[RequestSnapshot] = field(default_factory=list)
    saved: list[RequestSnapshot] = field(default_factory=list)
    emails: list[tuple[EmailInput, datetime]] = field(default_factory=list)
    refunds: list[RefundInput] = field(default_factory=list)

    def activities(self) -> list[Callable[..., Awaitable[object]]]:
        @activity.defn(name="record_request")
        async def record_request(snap: RequestSnapshot) -> RecordRequestResult:
            self.recorded.append(snap)
            return RecordRequestResult(pay_url=PAY_URL)

        @activity.defn(name="save_request")
        async def save_request(snap: RequestSnapshot) -> SaveResult:
            self.saved.append(snap)
            return SaveResult(stored=True, deliver_events=False)

        @activity.defn(name="send_email")
        async def send_email(inp: EmailInput) -> EmailResult:
            self.emails.append((inp, activity.info().current_attempt_scheduled_time))
            return EmailResult(
                recipients=tuple(
                    RecipientResult(email=e, status=RecipientStatus.ACCEPTED)
                    for e in inp.recipients
                ),
                events_recorded=self.events_recorded,
            )

        @activity.defn(name="give_up_email")
        async def give_up_email(inp: EmailInput) -> EmailResult:
            raise AssertionError("the mocked SMTP never fails")

        @activity.defn(name="refund_payment")
        async def refund_payment(inp: RefundInput) -> None:
            self.refunds.append(inp)

        return [record_request, save_request, send_email, give_up_email, refund_payment]

    def kinds(self) -> list[EmailKind]:
        return [inp.kind for inp, _ in self.emails]


def request_input(created_at: datetime) -> PaymentRequestInput:
    return PaymentRequestInput(
        request_id=f"pr_{uuid.uuid4().hex[:16]}",
        practice_id="prac_mock",
        patient_id="pt_1",
        first_name="Maria",
        last_name="Lopez",
        facility_id="fac_1",
        facility_name="Downtown Clinic",
        emails=("maria@example.com",),
        amount=12000,
        created_at=created_at,
        policy=ReminderPolicy(weekends_allowed=True),
    )


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, events_recorded: bool = False
) -> AsyncIterator[
    tuple[Calls, PaymentRequestInput, WorkflowHandle[PaymentRequestWorkflow, RequestState]]
]:
    """The real workflow started on a worker of its own whose every activity is a mock."""
    calls, queue = Calls(events_recorded=events_recorded), f"mocked-{uuid.uuid4()}"
    mocks = calls.activities()
    async with (
        Worker(env.client, task_queue=queue, workflows=[PaymentRequestWorkflow], activities=mocks),
        Worker(env.client, task_queue=email_task_queue(queue), activities=mocks),
    ):
        inp = request_input(await env.get_current_time())
        handle = await env.client.start_workflow(
            PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=queue
        )
        yield calls, inp, handle


def paid(pid: str, amount: int) -> PaymentReceived:
    return PaymentReceived(payment_id=pid, amount=amount, at=datetime.now(UTC))


async def test_request_email_then_receipt_only_after_the_last_payment(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running(ts_env) as (calls, inp, handle):
        await eventually(lambda: calls.kinds() == [EmailKind.REQUEST])
        [(request_mail, _)] = calls.emails
        assert request_mail.recipients == ("maria@example.com",)
        assert (request_mail.amount_due, request_mail.pay_url) == (12000, PAY_URL)
        assert [s.state.status for s in calls.recorded] == [Status.PENDING]

        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_1", 5000))
        await eventually(lambda: any(s.state.amount_paid == 5000 for s in calls.saved))
        assert EmailKind.RECEIPT not in calls.kinds()

        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_2", 7000))
        result = await handle.result()
    assert result.status == Status.PAID and result.amount_remaining == 0
    assert calls.kinds()[0] == EmailKind.REQUEST and calls.kinds()[-1] == EmailKind.RECEIPT
    assert calls.kinds().count(EmailKind.RECEIPT) == 1
    receipt = calls.emails[-1][0]
    assert (receipt.amount_paid, receipt.amount_due) == (12000, 0)
    last = calls.saved[-1]
    assert last.state.status == Status.PAID and last.closed_at is not None
    assert "payment_request.paid" in {e.type for s in calls.saved for e in s.outbound}
    versions = [s.state.version for s in calls.saved]
    assert versions == sorted(versions)  # each save is newer than the one before
    assert calls.refunds == []


async def test_reminder_is_sent_at_the_time_the_workflow_announced(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running(ts_env) as (calls, inp, handle):
        await eventually(lambda: calls.kinds() == [EmailKind.REQUEST])

        async def announced() -> datetime | None:
            st: RequestState = await handle.query(PaymentRequestWorkflow.state)
            return st.next_reminder_at if st.status == Status.SENT else None

        due = await eventually(announced)
        assert isinstance(due, datetime)
        assert timedelta(days=2) < due - inp.created_at < timedelta(days=4)  # day 3
        await ts_env.sleep(due - await ts_env.get_current_time() + timedelta(minutes=1))
        await eventually(lambda: EmailKind.REMINDER in calls.kinds())
        [(reminder, sent_at)] = [(i, t) for i, t in calls.emails if i.kind == EmailKind.REMINDER]
        assert abs(sent_at - due) < timedelta(seconds=5)
        assert reminder.recipients == ("maria@example.com",) and reminder.amount_due == 12000
        await handle.cancel()
        result = await handle.result()
    assert result.status == Status.CANCELLED
    assert calls.saved[-1].state.status == Status.CANCELLED


async def test_an_email_whose_activity_recorded_its_events_is_not_followed_by_a_save(
    ts_env: WorkflowEnvironment,
) -> None:
    """Both activities' answers: one that put the outcomes on the timeline (the workflow saves
    only for what else changed) and one that did not, as give_up_email answers (the workflow saves
    the events under the seqs it reserved for them)."""
    for recorded in (True, False):
        async with running(ts_env, events_recorded=recorded) as (calls, _, handle):
            await eventually(lambda calls=calls: calls.kinds() == [EmailKind.REQUEST])
            await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_1", 5000))
            await eventually(lambda calls=calls: len(calls.kinds()) == 2)
            await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_2", 7000))
            await handle.result()
        seqs = [inp.event_seq for inp, _ in calls.emails]
        assert calls.kinds() == [EmailKind.REQUEST, EmailKind.PAYMENT_RECEIVED, EmailKind.RECEIPT]
        assert all(seqs) and seqs == sorted(seqs)
        saved_events = {e.seq: e.detail for s in calls.saved for e in s.new_events}
        email_events = {seq: saved_events.get(seq) for seq in seqs}
        if recorded:  # saved: "sent" after the request, each payment; no email's own
            assert len(calls.saved) == 3
            assert email_events == dict.fromkeys(seqs)
        else:
            assert len(calls.saved) == 5
            assert list(email_events.values()) == [
                "request to maria@example.com",
                "payment_received to maria@example.com",
                "receipt to maria@example.com",
            ]
