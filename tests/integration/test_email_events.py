"""The email activity puts each recipient's outcome on the timeline itself, in the statement
that records the outcome, and saves what a request email or a reminder changes (the "sent", a
reminder's count) once every recipient accepted it, so no save follows an email: on the real
worker, Postgres and SMTP, a request paid in two parts is saved 4 times for 3 emails (one of
them by the request email's activity), its timeline complete. A payment saved while the
request email is still being sent makes that email's save stale: it changes nothing, and the
read model ends right."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio.client import WorkflowHandle

from tests.integration.pay_helpers import read_model, start_request
from tests.support import Harness, eventually
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, workflow_id


async def _local_activities(handle: WorkflowHandle[Any, Any]) -> int:
    """Local activities in the run's history: the workflow's own saves (and its first record)."""
    return sum(
        1
        for e in (await handle.fetch_history()).events
        if e.WhichOneof("attributes") == "marker_recorded_event_attributes"
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )


async def _timeline(h: Harness, request_id: str) -> list[tuple[int, str, str]]:
    rows = await h.pool.fetch(
        "SELECT seq, type, detail FROM request_events WHERE payment_request_id = $1"
        " ORDER BY at, seq",
        request_id,
    )
    return [(r["seq"], r["type"], r["detail"]) for r in rows]


async def test_emails_after_payments_are_on_the_timeline_with_no_save_of_their_own(
    harness: Harness,
) -> None:
    h = harness
    async with h.worker():
        request_id, _ = await start_request(h, amount=12000, emails=("maria@example.com",))
        handle = h.client.get_workflow_handle(workflow_id(request_id))
        await eventually(lambda: _has(h, request_id, "request to maria@example.com"))
        for pid, amount, then in (
            ("pi_part_1", 5000, "payment_received to maria@example.com"),
            ("pi_part_2", 7000, "receipt to maria@example.com"),
        ):
            await handle.signal(
                PaymentRequestWorkflow.payment_received,
                PaymentReceived(payment_id=pid, amount=amount, at=datetime.now(UTC)),
            )
            await eventually(lambda then=then: _has(h, request_id, then))
        await handle.result()
        row = await read_model(h, request_id)
    timeline = await _timeline(h, request_id)
    assert [t for _, t, _ in timeline] == [
        "created",
        "email_accepted",  # request
        "payment_succeeded",
        "email_accepted",  # payment received
        "payment_succeeded",
        "paid",
        "email_accepted",  # receipt
    ]
    details = [d for _, t, d in timeline if t == "email_accepted"]
    assert details == [
        "request to maria@example.com",
        "payment_received to maria@example.com",
        "receipt to maria@example.com",
    ]
    seqs = [s for s, _, _ in timeline]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # record (1), sent (2, by the request email's activity), first payment (3), paid (4):
    # none after the last two emails
    assert (row["status"], row["version"], row["amount_paid"]) == ("paid", 4, 12000)
    assert await _local_activities(handle) == 3  # record, first payment, paid
    assert len(h.smtp.to("maria@example.com")) == 3


async def test_a_payment_saved_during_the_request_email_makes_its_save_stale(
    harness: Harness,
) -> None:
    h = harness
    h.smtp.answering.clear()  # the SMTP server hangs at RCPT: the request email stays in flight
    try:
        async with h.worker():
            request_id, _ = await start_request(h, amount=12000, emails=("maria@example.com",))
            handle = h.client.get_workflow_handle(workflow_id(request_id))

            async def sending() -> bool:
                status = await h.pool.fetchval(
                    "SELECT status FROM email_deliveries WHERE payment_request_id = $1",
                    request_id,
                )
                return bool(status == "sending")

            await eventually(sending)
            await handle.signal(
                PaymentRequestWorkflow.payment_received,
                PaymentReceived(payment_id="pi_during", amount=5000, at=datetime.now(UTC)),
            )

            async def payment_saved() -> bool:
                paid = (await read_model(h, request_id))["amount_paid"]
                return bool(paid == 5000)  # noqa: PLR2004

            await eventually(payment_saved)
            h.smtp.answering.set()

            async def settled() -> dict[str, Any] | None:
                row = dict(await read_model(h, request_id))
                return row if row["status"] == "partially_paid" else None

            row = await eventually(settled)
            await eventually(lambda: _has(h, request_id, "payment_received to maria@example.com"))
            markers = await _local_activities(handle)
    finally:
        h.smtp.answering.set()
    # record (1); the email's save (2) came after the payment's (3) and changed nothing; the
    # workflow compared what it holds with what the payment's save stored: nothing to save
    assert (row["amount_paid"], row["amount_remaining"], row["version"]) == (5000, 7000, 3)
    assert markers == 2  # record, the payment
    timeline = [t for _, t, _ in await _timeline(h, request_id)]
    assert sorted(timeline) == sorted(
        ["created", "email_accepted", "payment_succeeded", "email_accepted"]
    )


async def _has(h: Harness, request_id: str, detail: str) -> bool:
    return any(d == detail for _, _, d in await _timeline(h, request_id))
