"""Front-desk payments (issue 16.2) on the real workflow, Postgres and localstripe: money taken
at the desk changes the balance exactly as a card payment does, and is told apart by source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.apihelp import create, error_of, until_status
from tests.integration.pay_helpers import register_webhook, serve, start_request
from tests.integration.test_api_webhook_endpoint import SECRET, Receiver, receiving
from tests.integration.test_pay_payments import pay
from tests.integration.test_staff_panel_api import open_session, panel, session_body
from tests.support import Harness, eventually, seed_practice


async def desk(
    api: httpx.AsyncClient, request_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await api.post(f"/v1/payment-requests/{request_id}/payments", json=body, headers=headers)


async def test_a_desk_payment_then_the_rest_by_card(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    async with harness.worker(), serve(app) as base:
        await register_webhook(fake_stripe, f"{base}/webhooks/stripe")
        request_id, token = await start_request(harness, amount=12000)
        resp = await desk(
            api, request_id, "desk-1", amount=5000, method="cash", reference="drawer 2"
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert (body["status"], body["amount_paid"], body["amount_remaining"]) == (
            "partially_paid",
            5000,
            7000,
        )
        (offline,) = body["payments"]
        assert offline["id"].startswith("off_")
        assert (offline["method"], offline["source"], offline["reference"]) == (
            "cash",
            "offline",
            "drawer 2",
        )
        status = (await api.get(f"/pay/{token}/status")).json()
        assert status["amount_remaining"] == 7000  # the patient's link knows at once

        card = await pay(api, token, 7000, attempt="attempt-after-desk")
        assert card.status_code == 200, card.text
        paid = await until_status(api, request_id, "paid")
    assert paid["amount_remaining"] == 0 and paid["amount_paid"] == 12000
    sources = sorted((p["source"], p["amount"]) for p in paid["payments"])
    assert sources == [("link", 7000), ("offline", 5000)]
    listed = (await api.get(f"/v1/patients/{paid['patient_id']}/payments")).json()["data"]
    assert sorted((p["source"], p["method"]) for p in listed) == [
        ("link", "visa •••• 4242"),
        ("offline", "cash"),
    ]
    ours = {p["id"] for p in paid["payments"]}
    refunds = await harness.stripe.v1.refunds.list_async({"limit": 100})
    assert [r for r in refunds.data if r.payment_intent in ours] == []  # nothing refunded


async def test_over_what_remains_and_closed_are_409_and_a_retry_records_one_payment(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        rid = (await create(api, amount=12000))["id"]
        over = await desk(api, rid, "over", amount=12001, method="check")
        assert error_of(over) == (409, "amount_exceeds_remaining", None)
        first = await desk(api, rid, "chk-1042", amount=4000, method="check", reference="chk 1042")
        again = await desk(api, rid, "chk-1042", amount=4000, method="check", reference="chk 1042")
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        rows = await harness.pool.fetch(
            "SELECT amount, method, source FROM payments WHERE payment_request_id = $1", rid
        )
        assert [tuple(r) for r in rows] == [(4000, "check", "offline")]
        over = await desk(api, rid, "over-2", amount=8001, method="other")
        assert error_of(over) == (409, "amount_exceeds_remaining", None)
        dust = await desk(api, rid, "dust", amount=7990, method="cash")  # 10 cents would remain
        assert error_of(dust) == (422, "remainder_below_minimum", None)
        rest = await desk(api, rid, "transfer", amount=8000, method="bank_transfer")
        assert rest.status_code == 201 and rest.json()["status"] == "paid", rest.text
        closed = await desk(api, rid, "late", amount=100, method="cash")
        assert error_of(closed) == (409, "request_closed", None)
        count = await harness.pool.fetchval(
            "SELECT count(*) FROM payments WHERE payment_request_id = $1", rid
        )
        assert count == 2
        await eventually(lambda: _receipt_sent(harness, rid), timeout=20)


async def _receipt_sent(harness: Harness, rid: str) -> bool:
    found = await harness.pool.fetchval(
        "SELECT count(*) FROM request_events WHERE payment_request_id = $1"
        " AND type = 'email_accepted' AND detail LIKE 'receipt to %'",
        rid,
    )
    return bool(found)


async def test_a_bad_body_is_422_and_records_nothing(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        rid = (await create(api, amount=12000))["id"]
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        bad: list[tuple[dict[str, Any], str]] = [
            ({"amount": 0, "method": "cash"}, "amount"),
            ({"amount": -500, "method": "cash"}, "amount"),
            ({"amount": 10.5, "method": "cash"}, "amount"),
            ({"amount": 500, "method": "bitcoin"}, "method"),
            ({"amount": 500, "method": "cash", "reference": "x" * 201}, "reference"),
            ({"amount": 500, "method": "cash", "received_at": future}, "received_at"),
            (
                {"amount": 500, "method": "cash", "received_at": "2026-12-01T10:00:00"},
                "received_at",
            ),
            ({"amount": 500}, "method"),
        ]
        for body, field in bad:
            status, _, got = error_of(await desk(api, rid, **body))
            assert (status, got) == (422, field), body
        earlier = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
        ok = await desk(
            api, rid, amount=500, method="card_present", received_at=earlier.isoformat()
        )
        assert ok.status_code == 201, ok.text
        (payment,) = ok.json()["payments"]
        assert datetime.fromisoformat(payment["paid_at"]) == earlier
    assert await harness.pool.fetchval("SELECT count(*) FROM payments") == 1


async def test_the_practice_hears_of_a_desk_payment_with_source_offline(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with receiving(Receiver()) as receiver, harness.worker():
        put = {"url": receiver.url, "secret": SECRET}
        assert (await api.put("/v1/webhook-endpoint", json=put)).status_code == 200
        rid = (await create(api, amount=12000))["id"]
        resp = await desk(api, rid, "desk-full", amount=12000, method="check", reference="chk 7")
        assert resp.status_code == 201, resp.text
        await harness.client.get_workflow_handle(f"payment-request-{rid}").result()
    delivered = {str(b["type"]): b for s, b, sig in receiver.seen if s == 200 and sig == "valid"}
    assert sorted(delivered) == ["payment.succeeded", "payment_request.paid"]
    payment = delivered["payment.succeeded"]["data"]["payment"]  # type: ignore[index]
    assert payment["source"] == "offline" and payment["amount"] == 12000
    assert payment["id"] == resp.json()["payments"][0]["id"]


async def test_a_panel_session_records_only_on_its_own_patients_requests(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    """The attack: a panel session (or another practice's) records a payment, which would
    close someone else's balance, on a request that is not its patient's."""
    async with harness.worker():
        mine = await create(api, patient={"id": "pt_A", "first_name": "Ana", "last_name": "L"})
        theirs = await create(api, patient={"id": "pt_B", "first_name": "Bo", "last_name": "M"})
        secret = await open_session(
            api, patient={"id": "pt_A", "first_name": "A", "last_name": "L"}
        )
        _, other_key = await seed_practice(harness.pool, "Other Practice")
        other = await api.post(
            "/v1/staff-sessions",
            json=session_body(patient={"id": "pt_A", "first_name": "A", "last_name": "L"}),
            headers={"Authorization": f"Bearer {other_key}"},
        )
        cash: dict[str, Any] = {"amount": 12000, "method": "cash"}
        async with panel(api, secret) as p:
            resp = await p.post(f"/embed/api/payment-requests/{theirs['id']}/payments", json=cash)
            assert error_of(resp)[:2] == (404, "not_found")
            resp = await p.post(f"/v1/payment-requests/{mine['id']}/payments", json=cash)
            assert resp.status_code == 401  # the secret is not a practice key
            ok = await p.post(
                f"/embed/api/payment-requests/{mine['id']}/payments",
                json={"amount": 2000, "method": "card_present"},
                headers={"Idempotency-Key": "k1"},
            )
            assert ok.status_code == 201 and ok.json()["amount_remaining"] == 10000, ok.text
        async with panel(api, other.json()["client_secret"]) as p:
            resp = await p.post(f"/embed/api/payment-requests/{mine['id']}/payments", json=cash)
            assert error_of(resp)[0] == 404
        other_api = httpx.AsyncClient(
            transport=api._transport,
            base_url=str(api.base_url),
            headers={"Authorization": f"Bearer {other_key}"},
        )
        async with other_api:
            resp = await desk(other_api, mine["id"], **cash)
            assert error_of(resp)[0] == 404
    amounts = await harness.pool.fetch(
        "SELECT payment_request_id, amount FROM payments ORDER BY payment_request_id"
    )
    assert [tuple(r) for r in amounts] == [(mine["id"], 2000)]
