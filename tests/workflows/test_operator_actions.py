"""What an operator, a slow SMTP server or a dead mailbox does to a request: cancellation from
the Temporal UI, an amount change that settles it while SMTP hangs, an address that answers 4xx
for longer than the email window."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from temporalio.client import WorkflowHandle

from tests.support import Harness, eventually, keep_history, wait_idle
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    ChangeInput,
    PaymentReceived,
    ReminderPolicy,
    RequestState,
    Status,
    workflow_id,
)

FOREVER = [451] * 100_000  # more 4xx answers than the email window has attempts


async def _start(
    h: Harness, **overrides: object
) -> tuple[WorkflowHandle[PaymentRequestWorkflow, RequestState], str]:
    inp = h.request_input(**overrides)
    handle = await h.client.start_workflow(
        PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=h.task_queue
    )
    return handle, inp.request_id


def _paid(payment_id: str, amount: int) -> PaymentReceived:
    return PaymentReceived(payment_id=payment_id, amount=amount, at=datetime.now(UTC))


async def test_cancel_from_the_temporal_ui_closes_the_request_like_the_api(
    harness: Harness,
) -> None:
    """ "Request Cancellation" in the UI and `temporal workflow cancel` are handle.cancel()."""
    h = harness
    async with h.worker():
        handle, request_id = await _start(h)
        await eventually(lambda: h.smtp.messages, timeout=20)
        await wait_idle(handle)
        await handle.cancel()
        result: RequestState = await asyncio.wait_for(handle.result(), 30)
        await keep_history(handle, "cancelled_from_the_temporal_ui")
    assert result.status == Status.CANCELLED
    row = await h.pool.fetchrow(
        "SELECT status, closed_at FROM payment_requests WHERE id = $1", request_id
    )
    assert row is not None
    assert row["status"] == "cancelled" and row["closed_at"] is not None
    assert await h.pool.fetchval(
        "SELECT revoked_at FROM pay_tokens WHERE payment_request_id = $1", request_id
    )
    events = await h.pool.fetch(
        "SELECT type FROM request_events WHERE payment_request_id = $1", request_id
    )
    assert "cancelled" in [e["type"] for e in events]
    outbound = await h.pool.fetch("SELECT type FROM outbound_events")
    assert [e["type"] for e in outbound] == ["payment_request.cancelled"]


async def test_cancel_from_the_temporal_ui_while_the_first_email_hangs(harness: Harness) -> None:
    """The cancellation reaches the main loop inside the email activity, which it cancels."""
    h = harness
    h.smtp.answering.clear()
    try:
        async with h.worker():
            handle, request_id = await _start(h)

            async def sending() -> bool:
                return bool(
                    await h.pool.fetchval(
                        "SELECT count(*) FROM email_deliveries WHERE status = 'sending'"
                    )
                )

            await eventually(sending, timeout=20)
            await handle.cancel()
            result: RequestState = await asyncio.wait_for(handle.result(), 30)
    finally:
        h.smtp.answering.set()
    assert result.status == Status.CANCELLED
    row = await h.pool.fetchrow("SELECT status FROM payment_requests WHERE id = $1", request_id)
    assert row is not None
    assert row["status"] == "cancelled"
    assert await h.pool.fetchval(
        "SELECT revoked_at FROM pay_tokens WHERE payment_request_id = $1", request_id
    )


async def test_a_change_that_settles_answers_without_waiting_for_smtp(harness: Harness) -> None:
    h = harness
    async with h.worker():
        handle, request_id = await _start(h, amount=10000)
        await eventually(lambda: h.smtp.messages, timeout=20)
        await handle.signal(PaymentRequestWorkflow.payment_received, _paid("pi_c1", 4000))
        await wait_idle(handle)
        h.smtp.answering.clear()  # the receipt's RCPT gets no answer
        started = time.monotonic()
        st = await asyncio.wait_for(
            handle.execute_update(PaymentRequestWorkflow.change, ChangeInput(amount=4000)), 5
        )
        elapsed = time.monotonic() - started
        assert st.status == Status.PAID and elapsed < 3, elapsed
        h.smtp.answering.set()
        result = await asyncio.wait_for(handle.result(), 60)
        await keep_history(handle, "change_settles_then_receipt_from_the_main_loop")
    assert result.status == Status.PAID
    subjects = [m["Subject"] for m in h.smtp.to("maria@example.com")]
    assert any("receipt" in s for s in subjects), subjects


async def test_a_receipt_address_failing_for_the_whole_window_lets_the_request_complete(
    harness: Harness,
) -> None:
    h = harness
    async with h.worker():
        handle, request_id = await _start(h, amount=5000)
        await eventually(lambda: h.smtp.messages, timeout=20)
        await wait_idle(handle)
        h.smtp.scripted["maria@example.com"] = list(FOREVER)
        await handle.signal(PaymentRequestWorkflow.payment_received, _paid("pi_r1", 5000))
        result = await asyncio.wait_for(handle.result(), 120)
        await keep_history(handle, "receipt_gives_up_after_the_email_window")
    assert result.status == Status.PAID
    row = await h.pool.fetchrow(
        "SELECT status, smtp_reply, attempts FROM email_deliveries"
        " WHERE payment_request_id = $1 AND kind = 'receipt'",
        request_id,
    )
    assert row is not None
    assert row["status"] == "failed" and row["attempts"] > 10, dict(row)
    assert row["smtp_reply"].startswith("451"), dict(row)


async def test_an_address_failing_for_the_whole_window_makes_the_request_delivery_failed(
    harness: Harness,
) -> None:
    h = harness
    h.smtp.scripted["maria@example.com"] = list(FOREVER)
    async with h.worker():
        policy = ReminderPolicy(reminder_days=(), expires_in_days=5)
        handle, request_id = await _start(h, policy=policy)
        result = await asyncio.wait_for(handle.result(), 120)  # skips to the expiry
        await keep_history(handle, "request_email_gives_up_delivery_failed_then_expires")
    assert result.status == Status.EXPIRED and result.rejected_emails == ("maria@example.com",)
    outbound = await h.pool.fetch("SELECT type FROM outbound_events ORDER BY created_at")
    assert [e["type"] for e in outbound] == [
        "payment_request.delivery_failed",
        "payment_request.expired",
    ]
    status = await h.pool.fetchval(
        "SELECT status FROM email_deliveries WHERE payment_request_id = $1", request_id
    )
    assert status == "failed"
