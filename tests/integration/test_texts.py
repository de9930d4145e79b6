"""Text-to-pay end to end: the API (over HTTP, with Twilio configured), the workflow on the
time-skipping server, the text activities against the local Twilio stand-in, and Postgres."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from payreq.sms_text import fits_one_gsm7_message
from tests.integration.apihelp import create_body
from tests.integration.smshelp import SENDER, Sms, sms_stack, zone_inside_window  # noqa: F401
from tests.support import Harness, eventually, keep_history
from workflows.payment_request import PaymentRequestWorkflow
from workflows.sms import next_text_window
from workflows.types import ReminderPolicy, RequestState, Status, workflow_id

SIDE_BY_SIDE = timedelta(seconds=5)
PR = "/v1/payment-requests"
PHONE = "+14155552671"  # a valid number (the stand-in accepts any but its test numbers)


async def practice_in_zone(harness: Harness, zone: str) -> None:
    await harness.pool.execute(
        "UPDATE practices SET timezone = $2 WHERE id = $1", harness.practice_id, zone
    )


async def events(api: httpx.AsyncClient, request_id: str, kind: str) -> list[dict[str, Any]]:
    got = (await api.get(f"{PR}/{request_id}")).json()
    return [e for e in got["events"] if e["type"] == kind]


async def until_event(
    api: httpx.AsyncClient, request_id: str, kind: str, count: int = 1
) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        found = await events(api, request_id, kind)
        return found if len(found) >= count else None

    result: list[dict[str, Any]] = await eventually(check, timeout=20)
    return result


async def test_a_request_with_a_phone_gets_one_short_text_without_the_patient_name(
    sms: Sms, harness: Harness
) -> None:
    await practice_in_zone(harness, zone_inside_window())
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        body = create_body(phones=f"{PHONE}; {PHONE}")
        resp = await api.post(PR, json=body)
        assert resp.status_code == 201, resp.text
        created = resp.json()
        assert created["phones"] == [PHONE]
        queued = await until_event(api, created["id"], "text_queued")
        assert queued[0]["detail"] == f"request to {PHONE}"
        texts = sms.texts_to(PHONE)
        assert len(texts) == 1 and texts[0]["from"] == SENDER
        text = texts[0]["body"]
        assert text.startswith("Sunrise Therapy:") and "$120.00" in text
        assert created["pay_url"].split("/pay/")[1] in text
        assert fits_one_gsm7_message(text), text
        for private in ("Maria", "Lopez", "Ana", "visits", "Downtown", "pt_123"):
            assert private not in text
        assert len(harness.smtp.to("maria@example.com")) == 1


async def test_stop_is_honoured_across_a_resend_and_a_reminder(
    sms: Sms, harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    await practice_in_zone(harness, zone_inside_window())
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        created = (await api.post(PR, json=create_body(phones=[PHONE]))).json()
        rid = created["id"]
        await until_event(api, rid, "text_queued")
        assert await sms.fake.inbound(PHONE, SENDER, "STOP") == 200
        assert (await api.post(f"{PR}/{rid}/resend", json={})).status_code == 200
        opted_out = await until_event(api, rid, "text_opted_out")
        assert opted_out[0]["detail"] == f"request to {PHONE}"
        await until_event(api, rid, "email_accepted", 4)  # the resend, to both addresses
        # Past the first reminder: day 3 after the resend, Monday if that is a weekend.
        await ts_env.sleep(timedelta(days=6))
        await eventually(lambda: reminder_emailed(api, rid), timeout=30)
        got = (await api.get(f"{PR}/{rid}")).json()
        assert got["reminders_sent"] >= 1 and got["status"] == "sent"
        assert len(sms.texts_to(PHONE)) == 1  # only the first, before STOP
        assert len(await events(api, rid, "text_opted_out")) == 1
        assert len(await events(api, rid, "text_queued")) == 1


async def reminder_emailed(api: httpx.AsyncClient, rid: str) -> bool:
    accepted = await events(api, rid, "email_accepted")
    return any(e["detail"].startswith("reminder to") for e in accepted)


async def test_a_phone_only_request_works_end_to_end(sms: Sms, harness: Harness) -> None:
    await practice_in_zone(harness, zone_inside_window())
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        resp = await api.post(PR, json=create_body(emails=None, phones=PHONE))
        assert resp.status_code == 201, resp.text
        created = resp.json()
        assert created["emails"] == [] and created["phones"] == [PHONE]

        async def sent() -> dict[str, Any] | None:
            got: dict[str, Any] = (await api.get(f"{PR}/{created['id']}")).json()
            return got if got["status"] == "sent" else None

        got = await eventually(sent, timeout=20)
        assert [e["type"] for e in got["events"]] == ["created", "text_queued"]
        assert len(sms.texts_to(PHONE)) == 1
        assert harness.smtp.messages == []


async def test_a_rejected_phone_with_no_email_fails_delivery(sms: Sms, harness: Harness) -> None:
    await practice_in_zone(harness, zone_inside_window())
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url), sms.api() as api:
        created = (await api.post(PR, json=create_body(emails=None, phones="+15005550001"))).json()
        await until_event(api, created["id"], "text_rejected")

        async def failed() -> bool:
            got = (await api.get(f"{PR}/{created['id']}")).json()
            return bool(got["status"] == "delivery_failed")

        await eventually(failed, timeout=20)
        assert sms.texts() == []


@pytest.mark.parametrize("send_hour", [6, 22])
async def test_sixty_days_of_reminders_text_only_between_8_and_21_local(
    sms: Sms, harness: Harness, ts_env: WorkflowEnvironment, send_hour: int
) -> None:
    """Reminders at 06:0x or 22:0x New York time: each email goes at once, each text waits on
    a timer for 08:00 there. Time travels through all 60 days (the server skips each timer)."""
    zone = "America/New_York"
    policy = ReminderPolicy(
        reminder_days=(1, 2, 3, 5, 8, 13, 21, 34, 55),
        timezone=zone,
        send_hour=send_hour,
        weekends_allowed=True,
    )
    created = await ts_env.get_current_time()
    inp = harness.request_input(phones=(PHONE,), texting=True, policy=policy, created_at=created)
    async with harness.worker(sms=sms.acts, public_base_url=sms.api_url):
        handle = await harness.client.start_workflow(
            PaymentRequestWorkflow.run,
            inp,
            id=workflow_id(inp.request_id),
            task_queue=harness.task_queue,
        )
        result: RequestState = await handle.result()
        if send_hour == 6:
            await keep_history(handle, "texts_wait_for_the_window_then_expires")
    assert result.status == Status.EXPIRED and result.reminders_sent == 9
    rows = await harness.pool.fetch(
        "SELECT at, type, detail FROM request_events WHERE payment_request_id = $1 ORDER BY seq",
        inp.request_id,
    )
    texts = [r for r in rows if r["type"] == "text_queued"]
    assert len(texts) == 10 == len(sms.texts_to(PHONE))
    for text in texts:
        local = text["at"].astimezone(ZoneInfo(zone)).time()
        assert time(8, 0) <= local < time(21, 0), (text["detail"], text["at"])
    emailed = [r["at"] for r in rows if r["type"] == "email_accepted"]
    assert len(emailed) == 10  # the request and 9 reminders, each at its own instant
    for email_at, text in zip(emailed, texts, strict=True):
        # The email and the text of one instant go out side by side: inside the window the
        # text can be recorded a few ms before the SMTP server's acceptance is.
        due = next_text_window(email_at - SIDE_BY_SIDE, zone)
        assert due <= text["at"] < due + timedelta(minutes=1), (email_at, text["at"])
    reminders = [r for r in texts if r["detail"].startswith("reminder")]
    assert len(reminders) == 9
    for r in reminders:  # every reminder fell outside the window: its text went at 08:00
        assert r["at"].astimezone(ZoneInfo(zone)).strftime("%H:%M") == "08:00"
    assert all(fits_one_gsm7_message(t["body"]) for t in sms.texts())


async def test_phones_are_validated_and_an_email_or_a_phone_is_required(
    api: httpx.AsyncClient,
) -> None:
    bodies = (create_body(emails=None), create_body(emails=""), create_body(emails=[], phones=[]))
    for body in bodies:
        resp = await api.post(PR, json=body)
        assert resp.status_code == 422, resp.text
        error = resp.json()["error"]
        assert (error["code"], error["field"]) == ("recipient_required", "emails")
    six = [f"+1415555267{i}" for i in range(6)]
    for phones in ("+1 555 123 0001", "4155552671", "+999123", six, "+14155552671; call me"):
        resp = await api.post(PR, json=create_body(phones=phones))
        assert resp.status_code == 422, (phones, resp.text)
        assert resp.json()["error"]["field"].startswith("phones")


async def test_without_twilio_a_phone_only_request_fails_delivery_and_nothing_is_texted(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():  # no text activities: Twilio is not configured
        resp = await api.post(PR, json=create_body(emails=None, phones=PHONE))
        assert resp.status_code == 201, resp.text
        rid = resp.json()["id"]

        async def failed() -> bool:
            got = (await api.get(f"{PR}/{rid}")).json()
            return bool(got["status"] == "delivery_failed")

        await eventually(failed, timeout=20)
    assert await harness.pool.fetchval("SELECT count(*) FROM sms_deliveries") == 0
