"""The practice's own settings (GET/PATCH /v1/practice) and what they change in its emails."""

from __future__ import annotations

import httpx
import pytest

from activities.email import EmailActivities
from tests.integration.test_email_delivery import MARIA, email_input
from tests.support import Harness


async def test_defaults_are_readable(api: httpx.AsyncClient, harness: Harness) -> None:
    resp = await api.get("/v1/practice")
    assert resp.status_code == 200, resp.text
    assert {k: v for k, v in resp.json().items() if k != "embed_origins"} == {
        "id": harness.practice_id,
        "name": "Sunrise Therapy",
        "timezone": "UTC",
        "reminder_send_time": "10:00",
        "reminders_on_weekends": False,
        "reply_to": "billing@sunrise.example",
        "stripe_account_id": None,
        "statement_descriptor_suffix": None,
        "platform_fee_bps": 0,
        "min_payment_amount": 100,
        "min_payment_percent": 0,
        "default_language": "en",
    }


async def test_patch_changes_only_what_is_sent(api: httpx.AsyncClient) -> None:
    resp = await api.patch(
        "/v1/practice",
        json={"timezone": "Asia/Tokyo", "reminder_send_time": "09:30"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["timezone"], body["reminder_send_time"]) == ("Asia/Tokyo", "09:30")
    assert body["name"] == "Sunrise Therapy" and body["reply_to"] == "billing@sunrise.example"
    cleared = await api.patch(
        "/v1/practice", json={"reply_to": None, "reminders_on_weekends": True}
    )
    assert cleared.json()["reply_to"] is None and cleared.json()["reminders_on_weekends"] is True
    assert (await api.get("/v1/practice")).json() == cleared.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": None}, "timezone"),
        ({"reminder_send_time": "25:00"}, "reminder_send_time"),
        ({"reminder_send_time": "9:30"}, "reminder_send_time"),
        ({"reply_to": "not an address"}, "reply_to"),
        ({"name": "   "}, "name"),
        ({"name": "Evil\r\nBcc: x@y.z"}, "name"),
        ({"reminders_on_weekends": "sometimes"}, "reminders_on_weekends"),
        ({"currency": "eur"}, "currency"),
    ],
)
async def test_invalid_settings_are_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    resp = await api.patch("/v1/practice", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field


async def test_name_and_reply_to_show_up_in_the_next_email(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    h = harness
    resp = await api.patch(
        "/v1/practice", json={"name": "Lakeside Physio", "reply_to": "front-desk@lakeside.example"}
    )
    assert resp.status_code == 200, resp.text
    await EmailActivities(h.pool, h.smtp_config).send_email(email_input(h))
    [msg] = h.smtp.to(MARIA)
    assert msg["From"] == "Lakeside Physio <billing@payreq.test>"
    assert msg["Reply-To"] == "front-desk@lakeside.example"
    assert msg["Subject"] == "Lakeside Physio: payment request for $120.00"

    await api.patch("/v1/practice", json={"reply_to": None})
    await EmailActivities(h.pool, h.smtp_config).send_email(email_input(h, sequence=2))
    assert h.smtp.to(MARIA)[1]["Reply-To"] is None
