"""The email activity puts each recipient's outcome on the timeline itself, in the statement
that records the outcome, so the workflow saves after an email only when something else
changed (the request email's "sent", a reminder's count): on the real worker, Postgres and
SMTP, a request paid in two parts is saved 4 times for 3 emails, its timeline complete."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.pay_helpers import read_model, start_request
from tests.support import Harness, eventually
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, workflow_id


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
    # record (1), sent (2), first payment (3), paid (4): none after the last two emails
    assert (row["status"], row["version"], row["amount_paid"]) == ("paid", 4, 12000)
    assert len(h.smtp.to("maria@example.com")) == 3


async def _has(h: Harness, request_id: str, detail: str) -> bool:
    return any(d == detail for _, _, d in await _timeline(h, request_id))
