"""Text messages against the local Twilio stand-in (payreq/faketwilio.py, which speaks Twilio's
Messages API and signs its callbacks as Twilio does) and the real API served over HTTP, so the
callbacks really arrive and are really verified."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from tests.integration.smshelp import ACCOUNT_SID, PATIENT, SENDER, Sms, sms_stack  # noqa: F401
from tests.support import Harness, eventually
from workflows.sms import TextOutcome


async def delivery_status(pool: asyncpg.Pool, phone: str = PATIENT) -> list[str]:
    rows = await pool.fetch(
        "SELECT status FROM sms_deliveries WHERE recipient = $1 ORDER BY sequence", phone
    )
    return [r["status"] for r in rows]


async def test_text_is_sent_once_and_its_signed_status_callbacks_are_applied(
    sms: Sms, harness: Harness
) -> None:
    inp = sms.text_input(harness.practice_id)
    first = await sms.acts.send_text(inp)
    again = await sms.acts.send_text(inp)  # a retried activity
    assert [p.outcome for p in first.phones] == [TextOutcome.QUEUED]
    assert [p.outcome for p in again.phones] == [TextOutcome.QUEUED]
    texts = sms.texts()
    assert len(texts) == 1
    assert texts[0]["to"] == PATIENT and texts[0]["from"] == SENDER
    assert texts[0]["body"] == inp.body and texts[0]["sid"].startswith("SM")
    await eventually(lambda: _is(harness.pool, ["delivered"]))
    assert await harness.pool.fetchval("SELECT count(*) FROM twilio_callbacks") == 2


async def test_stop_ends_texts_from_the_practice_until_start(sms: Sms, harness: Harness) -> None:
    await sms.acts.send_text(sms.text_input(harness.practice_id, 0))
    assert await sms.fake.inbound(PATIENT, SENDER, " stop ") == 200
    skipped = await sms.acts.send_text(sms.text_input(harness.practice_id, 1))
    assert [p.outcome for p in skipped.phones] == [TextOutcome.OPTED_OUT]
    assert len(sms.texts()) == 1
    assert await sms.fake.inbound(PATIENT, SENDER, "UNSTOP") == 200
    resumed = await sms.acts.send_text(sms.text_input(harness.practice_id, 2))
    assert [p.outcome for p in resumed.phones] == [TextOutcome.QUEUED]
    assert len(sms.texts()) == 2
    row = await harness.pool.fetchrow("SELECT opted_out, keyword FROM sms_opt_outs")
    assert row is not None
    assert (row["opted_out"], row["keyword"]) == (False, "UNSTOP")


@pytest.mark.parametrize("word", ["STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
async def test_every_opt_out_keyword_is_honoured(sms: Sms, harness: Harness, word: str) -> None:
    await sms.acts.send_text(sms.text_input(harness.practice_id, 0))
    assert await sms.fake.inbound(PATIENT, SENDER, word.lower()) == 200
    assert await harness.pool.fetchval("SELECT opted_out FROM sms_opt_outs") is True


async def test_a_forged_stop_or_status_changes_nothing(sms: Sms, harness: Harness) -> None:
    await sms.acts.send_text(sms.text_input(harness.practice_id, 0))
    await eventually(lambda: _is(harness.pool, ["delivered"]))
    sid = sms.texts()[0]["sid"]
    inbound = {"MessageSid": "SM" + uuid.uuid4().hex, "From": PATIENT, "To": SENDER, "Body": "STOP"}
    status = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30008"}
    async with httpx.AsyncClient(base_url=sms.api_url) as http:
        for path, form in (("/webhooks/twilio", inbound), ("/webhooks/twilio/status", status)):
            url = sms.api_url + path
            wrong = sms.fake.sign(url, {**form, "Body": "START"})  # signed over another body
            for headers in ({}, {"X-Twilio-Signature": wrong}, {"X-Twilio-Signature": "x" * 28}):
                resp = await http.post(path, data=form, headers=headers)
                assert resp.status_code == 403, resp.text
                assert resp.json()["error"]["code"] == "invalid_signature"
            # Signed for another URL (another deployment's webhook): refused as well.
            other = sms.fake.sign("https://elsewhere.example" + path, form)
            resp = await http.post(path, data=form, headers={"X-Twilio-Signature": other})
            assert resp.status_code == 403
    assert await harness.pool.fetchval("SELECT count(*) FROM sms_opt_outs") == 0
    assert await delivery_status(harness.pool) == ["delivered"]


async def test_callbacks_are_idempotent_by_message_sid_and_never_go_backwards(
    sms: Sms, harness: Harness
) -> None:
    await sms.acts.send_text(sms.text_input(harness.practice_id, 0))
    await eventually(lambda: _is(harness.pool, ["delivered"]))
    sid = sms.texts()[0]["sid"]
    late_sent = {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": ACCOUNT_SID}
    stop = {"MessageSid": "SM" + "1" * 32, "From": PATIENT, "To": SENDER, "Body": "STOP"}
    async with httpx.AsyncClient(base_url=sms.api_url) as http:
        for _ in range(3):
            for path, form in (("/webhooks/twilio/status", late_sent), ("/webhooks/twilio", stop)):
                sig = sms.fake.sign(sms.api_url + path, form)
                resp = await http.post(path, data=form, headers={"X-Twilio-Signature": sig})
                assert resp.status_code in (200, 204), resp.text
    assert await delivery_status(harness.pool) == ["delivered"]
    assert (
        await harness.pool.fetchval(
            "SELECT count(*) FROM twilio_callbacks WHERE message_sid = $1", stop["MessageSid"]
        )
        == 1
    )
    assert await harness.pool.fetchval("SELECT opted_out FROM sms_opt_outs") is True


async def test_invalid_and_undeliverable_numbers_are_recorded_per_recipient(
    sms: Sms, harness: Harness
) -> None:
    inp = sms.text_input(harness.practice_id, 0, "+15005550001", "+15005550009", "+15005550010")
    result = await sms.acts.send_text(inp)
    assert [p.outcome for p in result.phones] == [
        TextOutcome.REJECTED,
        TextOutcome.REJECTED,
        TextOutcome.QUEUED,
    ]
    assert [p.error_code for p in result.phones][:2] == ["21211", "21614"]
    await eventually(lambda: _is(harness.pool, ["undelivered"], "+15005550010"))
    assert await delivery_status(harness.pool, "+15005550001") == ["rejected"]


async def _is(pool: asyncpg.Pool, expected: list[str], phone: str = PATIENT) -> bool:
    return await delivery_status(pool, phone) == expected
