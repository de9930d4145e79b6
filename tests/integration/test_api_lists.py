"""The patient's Payment Requests and Payments lists: filters, order, keyset pagination, and
the index that keeps one patient's list fast."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from api.queries import OPEN_FILTER, Cursor, requests_query
from tests.integration.apihelp import create, error_of, until_status
from tests.support import Harness
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, workflow_id

LIST = "/v1/patients/{}/payment-requests"


async def _ids(api: httpx.AsyncClient, patient: str, **params: Any) -> list[str]:
    resp = await api.get(LIST.format(patient), params=params)
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["data"]]


async def test_lists_show_open_requests_newest_first_and_filter_by_status(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        patient = {"id": "pt_9", "first_name": "Ana", "last_name": "Lopez"}
        a, b, c = [(await create(api, patient=patient, amount=1000 * n))["id"] for n in (1, 2, 3)]
        other = (await create(api))["id"]  # pt_123
        await until_status(api, a, "sent")
        await api.post(f"/v1/payment-requests/{b}/cancel")
        handle = harness.client.get_workflow_handle(workflow_id(c))
        await handle.signal(
            PaymentRequestWorkflow.payment_received,
            PaymentReceived(payment_id="pi_l1", amount=1500, method="visa", at=datetime.now(UTC)),
        )
        await until_status(api, c, "partially_paid")
        assert await _ids(api, "pt_9") == [c, a]
        assert await _ids(api, "pt_9", status="all") == [c, b, a]
        assert await _ids(api, "pt_9", status="cancelled") == [b]
        assert await _ids(api, "pt_123") == [other]
        row = (await api.get(LIST.format("pt_9"))).json()["data"][0]
        assert set(row) >= {"id", "created_at", "full_name", "amount_remaining", "currency"}
        assert (row["full_name"], row["amount_remaining"], row["status"]) == (
            "Maria Lopez",
            1500,
            "partially_paid",
        )
        await handle.signal(
            PaymentRequestWorkflow.payment_received,
            PaymentReceived(payment_id="pi_l2", amount=1500, method="visa", at=datetime.now(UTC)),
        )
        await until_status(api, c, "paid")
        assert await _ids(api, "pt_9") == [a]  # paid in full: gone from the default list
        payments = (await api.get("/v1/patients/pt_9/payments")).json()
        assert [p["id"] for p in payments["data"]] == ["pi_l2", "pi_l1"]
        assert payments["data"][0]["payment_request_id"] == c
        assert payments["data"][0]["currency"] == "usd" and payments["next_cursor"] is None
        page = (await api.get("/v1/patients/pt_9/payments", params={"limit": 1})).json()
        rest = await api.get(
            "/v1/patients/pt_9/payments", params={"limit": 1, "cursor": page["next_cursor"]}
        )
        assert [p["id"] for p in page["data"] + rest.json()["data"]] == ["pi_l2", "pi_l1"]


async def test_cursor_pagination_walks_every_request_once(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    await _fill(harness, "pt_page", 45)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 20, "status": "all"}
        if cursor:
            params["cursor"] = cursor
        body = (await api.get(LIST.format("pt_page"), params=params)).json()
        seen += [r["id"] for r in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 45 and len(set(seen)) == 45
    assert seen == [f"pr_fill_{i:06d}" for i in reversed(range(45))]


async def test_bad_list_parameters_are_422(api: httpx.AsyncClient, harness: Harness) -> None:
    for params, field in (
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"status": "bogus"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W251bGwsICJ4Il0"}, "cursor"),  # [null, "x"]
    ):
        resp = await api.get(LIST.format("pt_1"), params=params)
        assert error_of(resp)[0::2] == (422, field), params
    assert error_of(await api.get("/v1/patients/pt_1/payments", params={"cursor": "%%"}))[0] == 422


async def test_one_patient_list_uses_the_patient_index(harness: Harness) -> None:
    await _fill(harness, None, 20_000)
    await harness.pool.execute("ANALYZE payment_requests")
    for status, cursor in (
        (OPEN_FILTER, None),
        ("all", Cursor(datetime.now(UTC), "pr_z")),
        ("paid", None),
    ):
        sql, args = requests_query(harness.practice_id, "pt_00042", status, cursor, 20)
        plan = json.dumps(
            await harness.pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)  # noqa: S608
        )
        assert "payment_requests_patient_idx" in plan, plan
        assert "Seq Scan" not in plan and '"Sort"' not in plan, plan


async def _fill(harness: Harness, patient: str | None, n: int) -> None:
    """Rows straight into the read model (as the activity writes them)."""
    await harness.pool.execute(
        """INSERT INTO payment_requests (id, practice_id, patient_id, version, status, first_name,
               last_name, facility_id, facility_name, emails, currency, amount_requested,
               amount_remaining, expires_at, created_at, updated_at)
           SELECT 'pr_fill_' || lpad(i::text, 6, '0'), $1,
                  coalesce($2, 'pt_' || lpad((i % 5000)::text, 5, '0')), 1,
                  (ARRAY['sent','paid','cancelled','partially_paid'])[1 + i % 4], 'Ana', 'Lopez',
                  'fac_1', 'Downtown', ARRAY['a@example.com'], 'usd', 1000, 1000,
                  now() + interval '60 days', now() - (($3 - i) || ' seconds')::interval, now()
           FROM generate_series(0, $3 - 1) AS i""",
        harness.practice_id,
        patient,
        n,
    )
