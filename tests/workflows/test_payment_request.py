"""PaymentRequestWorkflow on the time-skipping server, with the real activities against real
Postgres, SMTP and localstripe."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import WorkflowHandle

from tests.support import Harness, eventually
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    PaymentReceived,
    PaymentRequestInput,
    RequestState,
    Status,
    workflow_id,
)


async def start(h: Harness, inp: PaymentRequestInput) -> WorkflowHandle:
    handle = await h.client.start_workflow(
        PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=h.task_queue
    )
    await eventually(lambda: h.smtp.messages, timeout=20)
    return handle


async def state(handle: WorkflowHandle) -> RequestState:
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
        text = msg.get_body(("plain",)).get_content()
        assert st.pay_url in text and "Downtown Clinic" in text
        row = await h.pool.fetchrow("SELECT * FROM payment_requests WHERE id=$1", inp.request_id)
        assert row["status"] == "sent" and row["amount_remaining"] == 12000
        await handle.cancel()


async def _status_is(handle: WorkflowHandle, status: Status) -> RequestState | None:
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
        assert result.status == Status.PAID and result.amount_remaining == 0
        subjects = [m["Subject"] for m in h.smtp.to("maria@example.com")]
        assert any("receipt" in s for s in subjects), subjects
        assert any("we received $50.00, $70.00 remains" in s for s in subjects), subjects
        row = await h.pool.fetchrow("SELECT * FROM payment_requests WHERE id=$1", inp.request_id)
        assert (row["status"], row["amount_paid"], row["amount_remaining"]) == ("paid", 12000, 0)
        assert (
            await h.pool.fetchval(
                "SELECT revoked_at FROM pay_tokens WHERE payment_request_id=$1", inp.request_id
            )
            is not None
        )
