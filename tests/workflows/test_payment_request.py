"""PaymentRequestWorkflow on the time-skipping server, with the real activities against real
Postgres, SMTP and localstripe."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.support import Harness, create_succeeded_intent, eventually, keep_history, wait_idle
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    CancelInput,
    ChangeInput,
    PaymentReceived,
    PaymentRequestInput,
    RefundReceived,
    ReminderPolicy,
    RequestState,
    ResendInput,
    Status,
    workflow_id,
)


async def start(
    h: Harness, inp: PaymentRequestInput
) -> WorkflowHandle[PaymentRequestWorkflow, RequestState]:
    handle = await h.client.start_workflow(
        PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=h.task_queue
    )
    await eventually(lambda: h.smtp.messages, timeout=20)
    await wait_idle(handle)
    return handle


async def state(handle: WorkflowHandle[PaymentRequestWorkflow, RequestState]) -> RequestState:
    return await handle.query(PaymentRequestWorkflow.state)


def paid(payment_id: str, amount: int) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id, amount=amount, method="visa •••• 4242", at=datetime.now(UTC)
    )


async def test_request_email_is_sent_and_read_model_written(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input()
        handle = await start(h, inp)
        st = await eventually(lambda: _status_is(handle, Status.SENT))
        assert st.pay_url.startswith("http://127.0.0.1:8000/pay/")
        [msg] = h.smtp.to("maria@example.com")
        assert "Sunrise Therapy" in msg["Subject"] and "$120.00" in msg["Subject"]
        body = msg.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert st.pay_url in text and "Downtown Clinic" in text
        row = await h.pool.fetchrow("SELECT * FROM payment_requests WHERE id=$1", inp.request_id)
        assert row is not None
        assert row["status"] == "sent" and row["amount_remaining"] == 12000
        await handle.cancel()


async def _status_is(
    handle: WorkflowHandle[PaymentRequestWorkflow, RequestState], status: Status
) -> RequestState | None:
    st = await state(handle)
    return st if st.status == status else None


async def test_partial_payments_down_to_zero_send_receipt_and_complete(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=12000)
        handle = await start(h, inp)
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_1", 5000))
        st = await eventually(lambda: _status_is(handle, Status.PARTIALLY_PAID))
        assert (st.amount_paid, st.amount_remaining) == (5000, 7000)
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_2", 7000))
        result = await handle.result()
        await keep_history(handle, "partial_payments_down_to_zero_send_receipt_and_complete")
        assert result.status == Status.PAID and result.amount_remaining == 0
        subjects = [m["Subject"] for m in h.smtp.to("maria@example.com")]
        assert any("receipt" in s for s in subjects), subjects
        assert any("we received $50.00, $70.00 remains" in s for s in subjects), subjects
        row = await h.pool.fetchrow("SELECT * FROM payment_requests WHERE id=$1", inp.request_id)
        assert row is not None
        assert (row["status"], row["amount_paid"], row["amount_remaining"]) == ("paid", 12000, 0)
        assert (
            await h.pool.fetchval(
                "SELECT revoked_at FROM pay_tokens WHERE payment_request_id=$1", inp.request_id
            )
            is not None
        )


async def test_same_payment_ten_times_out_of_order_with_refunds_is_exact(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=20000)
        handle = await start(h, inp)
        refund_first = RefundReceived(
            payment_id="pi_b", amount_refunded=1000, payment_amount=6000, at=datetime.now(UTC)
        )
        signals: list[PaymentReceived | RefundReceived] = [refund_first]
        signals += [paid("pi_a", 5000)] * 10
        signals += [paid("pi_b", 6000)] * 3
        signals += [
            RefundReceived(
                payment_id="pi_a", amount_refunded=2000, payment_amount=5000, at=datetime.now(UTC)
            ),
            RefundReceived(
                payment_id="pi_a", amount_refunded=500, payment_amount=5000, at=datetime.now(UTC)
            ),
        ]  # stale: refunds are cumulative
        for s in signals:
            if isinstance(s, RefundReceived):
                await handle.signal(PaymentRequestWorkflow.refund_received, s)
            else:
                await handle.signal(PaymentRequestWorkflow.payment_received, s)
        # paid: (5000 - 2000) + (6000 - 1000) = 8000
        st = await eventually(lambda: _paid_is(handle, 8000))
        assert st.amount_remaining == 12000 and st.status == Status.PARTIALLY_PAID
        assert {p.payment_id: p.refunded for p in st.payments} == {"pi_a": 2000, "pi_b": 1000}
        expected_rows = [
            ("pi_a", 5000, 2000, "partially_refunded"),
            ("pi_b", 6000, 1000, "partially_refunded"),
        ]

        async def read_model_rows() -> list[tuple[object, ...]] | None:
            # a query can see the workflow's state a moment before its save commits
            rows = await h.pool.fetch(
                "SELECT id, amount, refunded_amount, status FROM payments "
                "WHERE payment_request_id=$1 ORDER BY id",
                inp.request_id,
            )
            got = [tuple(r) for r in rows]
            return got if got == expected_rows else None

        await eventually(read_model_rows, timeout=10)
        applied = await h.pool.fetchval(
            "SELECT count(*) FROM request_events WHERE payment_request_id=$1"
            " AND type='payment_succeeded'",
            inp.request_id,
        )
        assert applied == 2
        await keep_history(handle, "duplicates_and_refunds_out_of_order")
        await handle.cancel()


async def _paid_is(
    handle: WorkflowHandle[PaymentRequestWorkflow, RequestState], amount: int
) -> RequestState | None:
    st = await state(handle)
    return st if st.amount_paid == amount else None


async def test_overpayment_is_applied_and_excess_refunded_once(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=10000)
        handle = await start(h, inp)
        first = await create_succeeded_intent(h.stripe, 10000, inp.request_id)
        second = await create_succeeded_intent(h.stripe, 10000, inp.request_id)
        await handle.signal(PaymentRequestWorkflow.payment_received, paid(first, 6000))
        await handle.signal(PaymentRequestWorkflow.payment_received, paid(second, 10000))
        await handle.signal(PaymentRequestWorkflow.payment_received, paid(second, 10000))
        result = await handle.result()
        await keep_history(handle, "overpayment_is_applied_and_excess_refunded_once")
        assert result.status == Status.PAID
        assert (result.amount_paid, result.amount_overpaid) == (10000, 6000)
        refunds = await h.pool.fetch(
            "SELECT * FROM refunds WHERE payment_request_id=$1", inp.request_id
        )
        assert [(r["payment_id"], r["amount"], r["reason"], r["status"]) for r in refunds] == [
            (second, 6000, "overpayment", "succeeded")
        ]
        stripe_refunds = await h.stripe.v1.refunds.list_async({"payment_intent": second})
        assert [r.amount for r in stripe_refunds.data] == [6000]
        # Stripe then reports the excess refund: it must not reopen the balance.
        row = await h.pool.fetchrow(
            "SELECT amount_paid, amount_overpaid FROM payment_requests WHERE id=$1", inp.request_id
        )
        assert row is not None
        assert tuple(row) == (10000, 6000)


async def test_cancel_during_wait_closes_and_a_later_signal_is_not_found(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=9000)
        handle = await start(h, inp)
        await ts_env.sleep(timedelta(days=1))
        st = await handle.execute_update(
            PaymentRequestWorkflow.cancel, CancelInput(reason="entered in error")
        )
        assert st.status == Status.CANCELLED
        result = await handle.result()
        await keep_history(handle, "cancel_during_wait_then_payment_after_cancel_is_refunded")
        assert result.status == Status.CANCELLED
        assert await h.pool.fetchval(
            "SELECT revoked_at FROM pay_tokens WHERE payment_request_id=$1", inp.request_id
        )
        events = [r["type"] for r in await h.pool.fetch("SELECT type FROM outbound_events")]
        assert events == ["payment_request.cancelled"]
        # The Stripe webhook relies on this: a payment for a closed request cannot reach the
        # workflow (NOT_FOUND), so the webhook refunds it itself (tests/integration).
        with pytest.raises(RPCError) as err:
            await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_late", 9000))
        assert err.value.status == RPCStatusCode.NOT_FOUND


async def test_payment_reaching_a_closing_request_is_refunded_in_full(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=5000)
        handle = await start(h, inp)
        intent = await create_succeeded_intent(h.stripe, 3000, inp.request_id)
        # A resend whose email keeps getting 451 holds the workflow open after the cancel
        # (it waits for every handler), so the payment reaches a cancelled, running workflow.
        h.smtp.scripted["maria@example.com"] = [451] * 3
        await handle.start_update(
            PaymentRequestWorkflow.resend,
            ResendInput(),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await handle.execute_update(PaymentRequestWorkflow.cancel, CancelInput(reason="dup"))
        await handle.signal(PaymentRequestWorkflow.payment_received, paid(intent, 3000))
        result = await handle.result()
        await keep_history(handle, "payment_reaching_a_closing_request_is_refunded_in_full")
        assert result.status == Status.CANCELLED
        assert (result.amount_paid, result.amount_overpaid) == (0, 0)  # not an overpayment
        [late] = result.payments
        assert (late.amount, late.applied) == (3000, 0)
        refund = await h.pool.fetchrow("SELECT * FROM refunds WHERE payment_id=$1", intent)
        assert refund is not None
        assert (refund["amount"], refund["reason"], refund["status"]) == (
            3000,
            "closed",
            "succeeded",
        )
        stripe_refunds = await h.stripe.v1.refunds.list_async({"payment_intent": intent})
        assert [r.amount for r in stripe_refunds.data] == [3000]


async def test_invalid_updates_are_rejected_before_touching_history(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=10000)
        handle = await start(h, inp)
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_x", 4000))
        await eventually(lambda: _paid_is(handle, 4000))
        await wait_idle(handle)
        before = await _update_events(handle)
        with pytest.raises(WorkflowUpdateFailedError) as below:
            await handle.execute_update(PaymentRequestWorkflow.change, ChangeInput(amount=3000))
        assert isinstance(below.value.cause, ApplicationError)
        assert below.value.cause.type == "AmountBelowPaid"
        with pytest.raises(WorkflowUpdateFailedError) as nothing:
            await handle.execute_update(PaymentRequestWorkflow.change, ChangeInput())
        assert isinstance(nothing.value.cause, ApplicationError)
        assert nothing.value.cause.type == "InvalidChange"
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(PaymentRequestWorkflow.resend, ResendInput(emails=()))
        assert await _update_events(handle) == before == 0
        assert (await state(handle)).amount_requested == 10000
        st = await handle.execute_update(PaymentRequestWorkflow.change, ChangeInput(amount=8000))
        assert (st.amount_requested, st.amount_remaining) == (8000, 4000)
        st = await handle.execute_update(PaymentRequestWorkflow.change, ChangeInput(amount=4000))
        assert st.status == Status.PAID
        await handle.result()
        await keep_history(handle, "updates_validated_then_amount_lowered_to_paid")
        with pytest.raises(Exception):  # noqa: B017 - closed: the update cannot be delivered
            await handle.execute_update(PaymentRequestWorkflow.cancel, CancelInput())


async def _update_events(handle: WorkflowHandle[PaymentRequestWorkflow, RequestState]) -> int:
    """Updates that made it into history (accepted); a validator's rejection never does."""
    events = (await handle.fetch_history()).events
    return sum(
        1
        for e in events
        if e.WhichOneof("attributes") == "workflow_execution_update_accepted_event_attributes"
    )


async def test_unpaid_request_expires_and_revokes_its_link(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(policy=ReminderPolicy(reminder_days=(3,), expires_in_days=10))
        handle = await start(h, inp)
        result = await handle.result()  # the time-skipping server jumps to the expiry
        await keep_history(handle, "unpaid_request_expires")
        assert result.status == Status.EXPIRED
        assert result.expires_at == inp.created_at + timedelta(days=10)
        assert result.reminders_sent == 1
        row = await h.pool.fetchrow(
            "SELECT status, closed_at FROM payment_requests WHERE id=$1", inp.request_id
        )
        assert row is not None
        assert row["status"] == "expired" and row["closed_at"] is not None
        kinds = [m["Subject"] for m in h.smtp.to("maria@example.com")]
        assert len(kinds) == 2 and kinds[1].startswith("Reminder")


async def test_continue_as_new_keeps_the_state(harness: Harness) -> None:
    h = harness
    async with h.worker():
        inp = h.request_input(amount=30000, history_length_limit=40)
        handle = await start(h, inp)
        first_run = (await handle.describe()).run_id
        for i in range(12):
            await handle.signal(PaymentRequestWorkflow.payment_received, paid(f"pi_{i}", 1000))
        await eventually(lambda: _paid_is(handle, 12000), timeout=30)

        async def continued() -> bool:
            desc = await h.client.get_workflow_handle(handle.id).describe()
            return desc.run_id != first_run

        await eventually(continued, timeout=30)
        st = await state(h.client.get_workflow_handle(handle.id))
        assert st.amount_remaining == 18000 and st.status == Status.PARTIALLY_PAID
        assert len(st.payments) == 12 and st.pay_url.startswith("http")
        # Duplicates of payments applied in an earlier run are still recognised.
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_0", 1000))
        st = await handle.execute_update(PaymentRequestWorkflow.change, ChangeInput(amount=12000))
        assert st.status == Status.PAID and st.amount_paid == 12000
        await keep_history(handle, "continue_as_new_first_run")
        result = await h.client.get_workflow_handle_for(
            PaymentRequestWorkflow.run, handle.id
        ).result()
        row = await h.pool.fetchrow(
            "SELECT version, status, amount_paid FROM payment_requests WHERE id=$1", inp.request_id
        )
        assert row is not None
        assert tuple(row) == (result.version, "paid", 12000)


def _child_starts(events: Sequence[HistoryEvent]) -> list[str]:
    kind = "start_child_workflow_execution_initiated_event_attributes"
    return [getattr(e, kind).workflow_id for e in events if e.WhichOneof("attributes") == kind]


def _activities(events: Sequence[HistoryEvent], name: str) -> int:
    kind = "activity_task_scheduled_event_attributes"
    return sum(
        1
        for e in events
        if e.WhichOneof("attributes") == kind and getattr(e, kind).activity_type.name == name
    )


async def test_with_no_endpoint_events_are_recorded_and_nothing_is_delivered(
    harness: Harness,
) -> None:
    """A practice with no webhook endpoint gets its events recorded (the practice can register
    one later) but no delivery started: before, a child workflow for each of the three."""
    h = harness
    async with h.worker():
        inp = h.request_input(amount=12000)
        handle = await start(h, inp)
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_q1", 5000))
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_q2", 7000))
        assert (await handle.result()).status == Status.PAID
        await keep_history(handle, "paid_with_no_endpoint_delivers_nothing")
        events = (await handle.fetch_history()).events
        assert _child_starts(events) == [] and _activities(events, "deliver_events") == 0
        recorded = await h.pool.fetch(
            "SELECT type FROM outbound_events WHERE payload->'data'->>'payment_request_id' = $1",
            inp.request_id,
        )
        assert sorted(r["type"] for r in recorded) == [
            "payment.succeeded",
            "payment.succeeded",
            "payment_request.paid",
        ]


async def test_an_endpoint_down_for_the_whole_window_is_given_up_then_the_request_completes(
    harness: Harness,
) -> None:
    """One activity per save carries that save's events; it retries for four days of
    (skipped) time, then the events are marked given up and the workflow completes."""
    h = harness
    await h.pool.execute(
        "INSERT INTO webhook_endpoints (practice_id, url, secret) VALUES ($1, $2, 'whsec_t')",
        h.practice_id,
        "http://127.0.0.1:9/hooks",  # nothing listens there
    )
    async with h.worker():
        inp = h.request_input(amount=12000)
        handle = await start(h, inp)
        await handle.signal(PaymentRequestWorkflow.payment_received, paid("pi_t1", 12000))
        assert (await handle.result()).status == Status.PAID
        await keep_history(handle, "paid_with_endpoint_down_gives_up_after_the_window")
        events = (await handle.fetch_history()).events
        assert _child_starts(events) == []
        assert _activities(events, "deliver_events") == 1  # one save: succeeded + paid
        assert _activities(events, "mark_events_undeliverable") == 1
        rows = await h.pool.fetch(
            "SELECT type, attempts, delivered_at, last_error FROM outbound_events"
            " WHERE payload->'data'->>'payment_request_id' = $1",
            inp.request_id,
        )
        assert sorted(r["type"] for r in rows) == ["payment.succeeded", "payment_request.paid"]
        for r in rows:
            assert r["delivered_at"] is None and r["attempts"] > 20, dict(r)
            assert r["last_error"].endswith("(gave up)"), dict(r)
