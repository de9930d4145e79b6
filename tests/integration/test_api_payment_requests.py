"""The practice API's payment request endpoints on the real app, Postgres, SMTP and Temporal
(time-skipping server with the real worker)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.apihelp import create, create_body, error_of, until_status
from tests.support import Harness, eventually, seed_practice
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, workflow_id

PR = "/v1/payment-requests"


def paid(payment_id: str, amount: int) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id, amount=amount, method="visa •••• 4242", at=datetime.now(UTC)
    )


async def pay(h: Harness, request_id: str, payment_id: str, amount: int) -> None:
    handle = h.client.get_workflow_handle(workflow_id(request_id))
    await handle.signal(PaymentRequestWorkflow.payment_received, paid(payment_id, amount))


async def test_create_applies_defaults_and_get_reads_it_back(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        body = create_body(
            amount=None,
            first_name=None,
            last_name=None,
            emails=" maria@Example.com ;ana@example.com; MARIA@example.com ",
        )
        resp = await api.post(PR, json=body)
        assert resp.status_code == 201, resp.text
        created = resp.json()
        assert created["status"] in ("pending", "sent")
        assert created["amount_requested"] == created["amount_remaining"] == 18500
        assert (created["first_name"], created["last_name"]) == ("Ana", "Lopez")
        assert created["full_name"] == "Ana Lopez"
        assert created["emails"] == ["maria@example.com", "ana@example.com"]
        assert created["currency"] == "usd" and created["amount_paid"] == 0
        assert created["pay_url"].startswith("http://127.0.0.1:8000/pay/")
        assert created["facility"] == {"id": "fac_1", "name": "Downtown Clinic"}
        got = (await api.get(f"{PR}/{created['id']}")).json()
        assert got["id"] == created["id"] and got["pay_url"] == created["pay_url"]
        sent = await until_status(api, created["id"], "sent")
        # The create is answered from the workflow's record of the request, without reading
        # the read model: the very resource a GET read then (only the email has happened since).
        later = {"status", "events", "next_reminder_at"}
        assert {k: v for k, v in created.items() if k not in later} == {
            k: v for k, v in sent.items() if k not in later
        }
        assert created["events"] == sent["events"][:1] and created["status"] == "pending"
        assert [e["type"] for e in sent["events"]][0] == "created"
        assert sent["next_reminder_at"] and sent["expires_at"] and sent["reminders_sent"] == 0
        assert len(harness.smtp.to("ana@example.com")) == 1
        assert len(harness.smtp.to("maria@example.com")) == 1


async def test_practice_defaults_apply_to_reminders_and_expiry(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    await harness.pool.execute(
        "UPDATE practices SET default_expires_in_days = 10, default_reminder_days = '{2}'"
    )
    async with harness.worker():
        created = await create(api)
        got = await create(api, expires_in_days=20, emails=["b@example.com"])
    span = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(
        created["created_at"]
    )
    assert round(span.total_seconds() / 86400) == 10
    span = datetime.fromisoformat(got["expires_at"]) - datetime.fromisoformat(got["created_at"])
    assert round(span.total_seconds() / 86400) == 20


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"amount": -5}, "amount"),
    ({"amount": 0}, "amount"),
    ({"amount": 120.5}, "amount"),
    ({"amount": 12000.0}, "amount"),
    ({"amount": "12000"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": 18501}, "amount"),
    ({"amount": None, "balance_due": None}, "amount"),
    ({"balance_due": 1.5}, "balance_due"),
    ({"amount": 10**20}, "amount"),
    ({"emails": "maria@example.com; not-an-email"}, "emails[1]"),
    ({"emails": ["nope"]}, "emails[0]"),
    ({"emails": [f"p{i}@example.com" for i in range(11)]}, "emails"),
    ({"note": "x" * 1001}, "note"),
    ({"currency": "xyz"}, "currency"),
    ({"currency": "USD"}, "currency"),
    ({"first_name": "Maria\r\nBcc: evil@example.com"}, "first_name"),
    ({"last_name": "Lopez\x07"}, "last_name"),
    ({"patient": {"id": "pt_1", "first_name": "A\nB", "last_name": "L"}}, "patient.first_name"),
    ({"facility": None}, "facility"),
    ({"reminder_days": [0]}, "reminder_days[0]"),
    ({"expires_in_days": "60"}, "expires_in_days"),
    ({"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("override", "field"), INVALID, ids=[f for _, f in INVALID])
async def test_invalid_values_are_422_naming_the_field(
    api: httpx.AsyncClient, harness: Harness, override: dict[str, Any], field: str
) -> None:
    resp = await api.post(PR, json=create_body(**override))
    assert error_of(resp) == (422, "invalid_value", field)
    assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 0


async def test_malformed_missing_oversized_and_unauthenticated(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    headers = {"Content-Type": "application/json"}
    assert error_of(await api.post(PR, content=b'{"amount": ', headers=headers))[:2] == (
        400,
        "malformed_json",
    )
    assert error_of(await api.post(PR, headers=headers))[:2] == (400, "missing_body")
    big = b'{"note": "' + b"x" * 70_000 + b'"}'
    assert error_of(await api.post(PR, content=big, headers=headers))[:2] == (
        413,
        "body_too_large",
    )
    for auth in ({"Authorization": "Bearer prk_unknown"}, {"Authorization": ""}):
        resp = await api.post(PR, json=create_body(), headers=auth)
        assert error_of(resp)[:2] == (401, "unauthorized")
        resp = await api.get(f"{PR}/pr_x", headers=auth)
        assert error_of(resp)[:2] == (401, "unauthorized")
    assert error_of(await api.get(f"{PR}/pr_unknown"))[:2] == (404, "not_found")
    assert error_of(await api.get(f"{PR}/pr%00x"))[:2] == (404, "not_found")
    assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 0


async def test_another_practice_sees_404_and_empty_lists(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    _, other_key = await seed_practice(harness.pool, "Other Clinic")
    other = {"Authorization": f"Bearer {other_key}"}
    async with harness.worker():
        mine = await create(api)
        rid = mine["id"]
        assert error_of(await api.get(f"{PR}/{rid}", headers=other))[:2] == (404, "not_found")
        for path in ("cancel", "resend"):
            resp = await api.post(f"{PR}/{rid}/{path}", json={}, headers=other)
            assert error_of(resp)[:2] == (404, "not_found")
        resp = await api.patch(f"{PR}/{rid}", json={"amount": 100}, headers=other)
        assert error_of(resp)[:2] == (404, "not_found")
        lst = await api.get("/v1/patients/pt_123/payment-requests", headers=other)
        assert lst.json() == {"data": [], "next_cursor": None}
        assert (await api.get(f"{PR}/{rid}")).json()["status"] in ("pending", "sent")


async def test_cancel_closes_and_later_actions_are_409(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        rid = (await create(api))["id"]
        await until_status(api, rid, "sent")
        resp = await api.post(f"{PR}/{rid}/cancel", json={"reason": "entered twice"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "cancelled" and resp.json()["pay_url"] is None
        got = (await api.get(f"{PR}/{rid}")).json()
        assert got["status"] == "cancelled" and got["events"][-1]["type"] == "cancelled"
        assert error_of(await api.post(f"{PR}/{rid}/cancel"))[:2] == (409, "request_closed")
        assert error_of(await api.post(f"{PR}/{rid}/resend"))[:2] == (409, "request_closed")
        resp = await api.patch(f"{PR}/{rid}", json={"amount": 500})
        assert error_of(resp)[:2] == (409, "request_closed")


async def test_resend_sends_again_to_new_addresses(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        rid = (await create(api, emails="maria@example.com"))["id"]
        await until_status(api, rid, "sent")
        resp = await api.post(f"{PR}/{rid}/resend", json={"emails": "new@example.com"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["emails"] == ["new@example.com"]
        await eventually(lambda: harness.smtp.to("new@example.com"))
        assert len(harness.smtp.to("maria@example.com")) == 1
        resp = await api.post(f"{PR}/{rid}/resend", json={"emails": ["bad"]})
        assert error_of(resp) == (422, "invalid_value", "emails[0]")


async def test_change_amount_pause_and_payments_show_in_get(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        rid = (await create(api))["id"]
        await until_status(api, rid, "sent")
        resp = await api.patch(f"{PR}/{rid}", json={"amount": 9000, "reminders_paused": True})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["amount_requested"], body["amount_remaining"]) == (9000, 9000)
        assert body["reminders_paused"] is True and body["next_reminder_at"] is None
        assert error_of(await api.patch(f"{PR}/{rid}", json={}))[:2] == (422, "invalid_value")
        resp = await api.patch(f"{PR}/{rid}", json={"amount": 9000.0})
        assert error_of(resp) == (422, "invalid_value", "amount")
        await pay(harness, rid, "pi_api_1", 5000)
        got = await until_status(api, rid, "partially_paid")
        assert (got["amount_paid"], got["amount_remaining"]) == (5000, 4000)
        [payment] = got["payments"]
        assert payment["id"] == "pi_api_1" and payment["status"] == "succeeded"
        assert payment["method"] == "visa •••• 4242" and payment["refunded_amount"] == 0
        assert "payment_succeeded" in [e["type"] for e in got["events"]]
        resp = await api.patch(f"{PR}/{rid}", json={"amount": 4000})
        assert error_of(resp)[:2] == (409, "amount_below_paid")
        resp = await api.patch(f"{PR}/{rid}", json={"amount": 5000})
        assert resp.json()["status"] == "paid" and resp.json()["pay_url"] is None
