"""SMTP delivery against a real aiosmtpd: the exact messages, one per recipient, and what is
recorded for each (accepted, retrying, rejected), through the activity and the workflow."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.email import EmailActivities, message_id
from payreq.smtp import SmtpConfig
from tests.support import Harness, RecordingHandler, eventually, free_port
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    EmailInput,
    EmailKind,
    ErrorType,
    PaymentRequestInput,
    RequestState,
    Status,
    workflow_id,
)

PAY_URL = "http://127.0.0.1:8000/pay/tok_abc"
MARIA, ANA = "maria@example.com", "ana@example.com"


def email_input(h: Harness, *recipients: str, **overrides: object) -> EmailInput:
    values: dict[str, object] = dict(
        request_id="pr_mail1",
        practice_id=h.practice_id,
        kind=EmailKind.REQUEST,
        sequence=1,
        recipients=recipients or (MARIA,),
        first_name="Maria",
        last_name="Lopez",
        facility_name="Downtown Clinic",
        note="For visits on Nov 3 and Nov 10.",
        currency="usd",
        amount_due=12000,
        amount_paid=0,
        pay_url=PAY_URL,
        expires_at=datetime(2027, 1, 26, 15, 0, tzinfo=UTC),
    )
    values.update(overrides)
    return EmailInput(**values)  # type: ignore[arg-type]


def text_of(msg: EmailMessage) -> str:
    return str(msg.get_body(("plain",)).get_content()).replace("\r\n", "\n")  # type: ignore[union-attr]


def html_of(msg: EmailMessage) -> str:
    return str(msg.get_body(("html",)).get_content())  # type: ignore[union-attr]


async def deliveries(h: Harness, request_id: str) -> dict[str, tuple[str, str | None, int]]:
    rows = await h.pool.fetch(
        """SELECT recipient, status, smtp_reply, attempts FROM email_deliveries
           WHERE payment_request_id = $1""",
        request_id,
    )
    return {r["recipient"]: (r["status"], r["smtp_reply"], r["attempts"]) for r in rows}


EXPECTED_TEXT = f"""Hello Maria Lopez,

Sunrise Therapy (Downtown Clinic) has sent you a payment request.

Amount due: $120.00
Please pay by: January 25, 2027

Note from Sunrise Therapy:
For visits on Nov 3 and Nov 10.

Pay securely online by card, in full or in part:
{PAY_URL}

Questions about this balance? Reply to this email to reach Sunrise Therapy.
This link is personal: please do not forward it.
"""


async def test_each_recipient_gets_its_own_exact_message(harness: Harness) -> None:
    h = harness
    acts = EmailActivities(h.pool, h.smtp_config)
    result = await acts.send_email(email_input(h, MARIA, ANA))
    assert result.accepted == (MARIA, ANA) and result.rejected == ()
    assert len(h.smtp.messages) == 2
    for received, address in zip(h.smtp.messages, (MARIA, ANA), strict=True):
        msg = received.message
        assert received.rcpt_tos == [address]  # the envelope names this recipient only
        assert received.envelope_from == "billing@payreq.test"
        assert msg["To"] == address and msg["Cc"] is None and msg["Bcc"] is None
        other = ANA if address == MARIA else MARIA
        assert other not in msg.as_string()
        assert msg["From"] == "Sunrise Therapy <billing@payreq.test>"
        assert msg["Reply-To"] == "billing@sunrise.example"
        assert msg["Subject"] == "Sunrise Therapy: payment request for $120.00"
        assert msg["Message-ID"] == message_id(
            f"pr_mail1:request:1:{address}", "billing@payreq.test"
        )
        assert msg["Date"] is not None
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert text_of(msg) == EXPECTED_TEXT
        html = html_of(msg)
        assert html.count(f'href="{PAY_URL}"') == 2  # the button and the fallback link
        assert "$120.00" in html and "Downtown Clinic" in html and "January 25, 2027" in html
        assert "<img" not in html and "pt_123" not in msg.as_string()
    ids = {r.message["Message-ID"] for r in h.smtp.messages}
    assert len(ids) == 2
    assert await deliveries(h, "pr_mail1") == {
        MARIA: ("accepted", "250", 1),
        ANA: ("accepted", "250", 1),
    }


async def test_a_retried_activity_never_resends_an_accepted_message(harness: Harness) -> None:
    h = harness
    h.smtp.scripted[ANA] = [451]
    acts = EmailActivities(h.pool, h.smtp_config)
    with pytest.raises(ApplicationError) as failed:
        await acts.send_email(email_input(h, MARIA, ANA))
    assert failed.value.type == ErrorType.SMTP_TEMPORARY
    assert (await deliveries(h, "pr_mail1"))[ANA][0] == "retrying"
    result = await acts.send_email(email_input(h, MARIA, ANA))  # what Temporal's retry does
    assert result.accepted == (MARIA, ANA)
    assert len(h.smtp.to(MARIA)) == 1 and len(h.smtp.to(ANA)) == 1
    rows = await deliveries(h, "pr_mail1")
    assert rows[MARIA] == ("accepted", "250", 1) and rows[ANA] == ("accepted", "250", 2)


async def test_a_crash_between_accept_and_record_sends_one_duplicate_with_the_same_id(
    harness: Harness,
) -> None:
    h = harness
    acts = EmailActivities(h.pool, h.smtp_config)
    await acts.send_email(email_input(h))
    # The worker died after the server's 250 and before writing `accepted`: the row still
    # says `sending`, and Temporal runs the activity again.
    await h.pool.execute("UPDATE email_deliveries SET status = 'sending', smtp_reply = NULL")
    await acts.send_email(email_input(h))
    await acts.send_email(email_input(h))  # and once more, after the record: nothing new
    messages = h.smtp.to(MARIA)
    assert len(messages) == 2
    assert messages[0]["Message-ID"] == messages[1]["Message-ID"]  # receivers can de-duplicate
    assert (await deliveries(h, "pr_mail1"))[MARIA] == ("accepted", "250", 2)


async def test_an_unreachable_server_is_retried_not_rejected(harness: Harness) -> None:
    h = harness
    down = SmtpConfig(
        host="127.0.0.1", port=free_port(), mail_from="billing@payreq.test", timeout_seconds=2
    )
    with pytest.raises(ApplicationError) as failed:
        await EmailActivities(h.pool, down).send_email(email_input(h))
    assert failed.value.type == ErrorType.SMTP_TEMPORARY and not failed.value.non_retryable
    status, reply, _ = (await deliveries(h, "pr_mail1"))[MARIA]
    assert status == "retrying" and reply


async def test_one_session_carries_many_messages_and_one_the_server_closed_is_replaced(
    harness: Harness,
) -> None:
    h = harness
    handler = RecordingHandler()
    port = free_port()
    cfg = SmtpConfig(host="127.0.0.1", port=port, mail_from="billing@payreq.test")
    server = Controller(handler, hostname="127.0.0.1", port=port)
    server.start()
    acts = EmailActivities(h.pool, cfg)
    try:
        for n in range(1, 6):
            await acts.send_email(email_input(h, sequence=n))
        assert len(handler.messages) == 5 and acts.sessions.opened == 1
        server.stop()  # the server goes away, closing the idle session
        server = Controller(handler, hostname="127.0.0.1", port=port)
        server.start()
        await asyncio.sleep(0.2)  # the event loop sees the close, as it would during idle time
        await acts.send_email(email_input(h, sequence=6))
    finally:
        server.stop()
    assert len(handler.messages) == 6 and acts.sessions.opened == 2
    ids = {r.message["Message-ID"] for r in handler.messages}
    assert len(ids) == 6  # one message per delivery, none sent twice
    rows = await h.pool.fetch(
        "SELECT status, count(*) FROM email_deliveries WHERE payment_request_id = 'pr_mail1'"
        " GROUP BY status"
    )
    assert [tuple(r) for r in rows] == [("accepted", 6)]


# ---- through the workflow, on the time-skipping server -------------------------------------


async def start(
    h: Harness, inp: PaymentRequestInput
) -> WorkflowHandle[PaymentRequestWorkflow, RequestState]:
    return await h.client.start_workflow(
        PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=h.task_queue
    )


async def status_is(
    handle: WorkflowHandle[PaymentRequestWorkflow, RequestState], status: Status
) -> RequestState | None:
    st: RequestState = await handle.query(PaymentRequestWorkflow.state)
    return st if st.status == status else None


async def request_input(h: Harness, env: WorkflowEnvironment, *emails: str) -> PaymentRequestInput:
    return h.request_input(emails=emails, created_at=await env.get_current_time())


async def test_451_twice_then_250_delivers_once(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    h.smtp.scripted[MARIA] = [451, 451]
    async with h.worker():
        inp = await request_input(h, ts_env, MARIA)
        handle = await start(h, inp)
        await eventually(lambda: not h.smtp.scripted[MARIA], timeout=20)  # first refusal seen
        assert (await handle.query(PaymentRequestWorkflow.state)).status == Status.PENDING
        await ts_env.sleep(timedelta(minutes=1))  # past the 5 s and 10 s retry backoffs
        await eventually(lambda: status_is(handle, Status.SENT), timeout=20)
        assert len(h.smtp.to(MARIA)) == 1
        status, _, attempts = (await deliveries(h, inp.request_id))[MARIA]
        assert (status, attempts) == ("accepted", 3)
        await handle.cancel()


async def test_550_for_one_address_leaves_the_other_delivered_and_never_reminded(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    h.smtp.scripted[ANA] = [550] * 5
    async with h.worker():
        inp = await request_input(h, ts_env, MARIA, ANA)
        handle = await start(h, inp)
        st = await eventually(lambda: status_is(handle, Status.SENT), timeout=20)
        assert st.rejected_emails == (ANA,)
        rows = await deliveries(h, inp.request_id)
        assert rows[MARIA][0] == "accepted"
        assert rows[ANA][0] == "rejected" and (rows[ANA][1] or "").startswith("550 5.1.1")
        assert st.next_reminder_at is not None
        await ts_env.sleep(
            st.next_reminder_at - await ts_env.get_current_time() + timedelta(minutes=1)
        )
        await eventually(lambda: len(h.smtp.to(MARIA)) == 2, timeout=20)
        assert len(h.smtp.scripted[ANA]) == 4  # refused once, never asked again
        assert len(await deliveries(h, inp.request_id)) == 2  # the reminder went to MARIA alone
        row = await h.pool.fetchrow(
            "SELECT status FROM payment_requests WHERE id = $1", inp.request_id
        )
        assert row is not None
        assert row["status"] == "sent"
        await handle.cancel()


async def test_550_for_every_address_fails_the_request_and_tells_the_practice(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    h.smtp.scripted[MARIA] = [550]
    h.smtp.scripted[ANA] = [550]
    async with h.worker():
        inp = await request_input(h, ts_env, MARIA, ANA)
        handle = await start(h, inp)
        st = await eventually(lambda: status_is(handle, Status.DELIVERY_FAILED), timeout=20)
        assert set(st.rejected_emails) == {MARIA, ANA} and st.next_reminder_at is None
        assert h.smtp.messages == []

        async def recorded() -> bool:
            status = await h.pool.fetchval(
                "SELECT status FROM payment_requests WHERE id = $1", inp.request_id
            )
            events = await h.pool.fetchval(
                "SELECT count(*) FROM outbound_events WHERE type = $1 AND payload::text LIKE $2",
                "payment_request.delivery_failed",
                f"%{inp.request_id}%",
            )
            return bool(status == "delivery_failed" and events == 1)

        await eventually(recorded, timeout=20)
        await handle.cancel()


async def test_a_stored_template_that_fails_at_send_time_falls_back_to_the_default(
    harness: Harness,
) -> None:
    """PUT never stores such a template; one written some other way must not stop the email."""
    h = harness
    await h.pool.execute(
        """INSERT INTO email_templates (practice_id, kind, subject, html, text)
           VALUES ($1, 'request', '{{ first_name.nickname }}', '{{ pay_url }}', '{{ pay_url }}')""",
        h.practice_id,
    )
    result = await EmailActivities(h.pool, h.smtp_config).send_email(email_input(h))
    assert result.accepted == (MARIA,)
    [msg] = h.smtp.to(MARIA)
    assert msg["Subject"] == "Sunrise Therapy: payment request for $120.00"
    assert text_of(msg) == EXPECTED_TEXT
