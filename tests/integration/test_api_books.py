"""The practice's books: GET /v1/payments and /v1/payments.csv over payments made through the
workflow (signals, as the Stripe webhook sends them) and refunds recorded as the service and
Stripe's dashboard make them: date range in the practice's zone, facility, tenant isolation,
pagination, the CSV and its formula guard, and the index that keeps the export fast."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from api.books import books_query, local_range
from api.queries import Cursor
from api.routes.payments import CSV_COLUMNS, CSV_PAGE
from tests.integration.apihelp import create, create_body, error_of
from tests.support import Harness, eventually, seed_practice
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import PaymentReceived, RefundReceived, workflow_id

ZONE = "America/Los_Angeles"
LA = ZoneInfo(ZONE)
INJECTED = '=HYPERLINK("https://evil.example","x")'


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LA).astimezone(UTC)


async def _pay(h: Harness, request_id: str, pid: str, amount: int, at: datetime, **kw: Any) -> None:
    handle = h.client.get_workflow_handle(workflow_id(request_id))
    event = PaymentReceived(payment_id=pid, amount=amount, at=at, method=kw.get("method", "visa"))
    await handle.signal(PaymentRequestWorkflow.payment_received, event)
    await eventually(lambda: _paid(h, pid), timeout=20)


async def _paid(h: Harness, pid: str) -> bool:
    return bool(await h.pool.fetchval("SELECT paid_at IS NOT NULL FROM payments WHERE id=$1", pid))


async def _refund(h: Harness, request_id: str, pid: str, total: int, amount: int) -> None:
    """charge.refunded as the webhook signals it: Stripe's cumulative total for the charge."""
    handle = h.client.get_workflow_handle(workflow_id(request_id))
    event = RefundReceived(
        payment_id=pid, amount_refunded=total, payment_amount=amount, at=datetime.now(UTC)
    )
    await handle.signal(PaymentRequestWorkflow.refund_received, event)

    async def seen() -> bool:
        got = await h.pool.fetchval("SELECT refunded_amount FROM payments WHERE id=$1", pid)
        return bool(got == total)

    await eventually(seen, timeout=20)


async def _service_refund(h: Harness, request_id: str, pid: str, amount: int, at: datetime) -> None:
    """A refund the service made, as payreq/stripe/refunds.py records it."""
    await h.pool.execute(
        """INSERT INTO refunds (idempotency_key, payment_request_id, payment_id, amount, reason,
               stripe_refund_id, status, created_at, updated_at)
           VALUES ($1, $2, $3, $4, 'overpayment', $5, 'succeeded', $6, $6)""",
        f"{request_id}:overpayment:{pid}",
        request_id,
        pid,
        amount,
        f"re_{pid}",
        at,
    )


async def _books(
    api: httpx.AsyncClient, key: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    """Every page, following next_cursor; `key`: another practice's API key."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params if cursor is None else {**params, "cursor": cursor}
        page = await api.get("/v1/payments", params=query, headers=headers)
        assert page.status_code == 200, page.text
        rows += page.json()["data"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return rows


async def test_the_books_list_every_payment_and_refund_in_the_practices_days(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    assert (await api.patch("/v1/practice", json={"timezone": ZONE})).status_code == 200
    today = datetime.now(LA).date()
    first, last = today - timedelta(days=20), today + timedelta(days=20)
    async with harness.worker():
        a, b, c = [
            (await create(api, amount=12_000, facility={"id": fac, "name": "Clinic"}))["id"]
            for fac in ("fac_1", "fac_2", "fac_1")
        ]
        await _pay(harness, a, "pi_a1", 5_000, _local(today - timedelta(days=5), 10))
        # 23:30 the evening before `from` there: 07:30 UTC of the first day, still outside.
        await _pay(harness, a, "pi_a2", 1_000, _local(first - timedelta(days=1), 23, 30))
        await _pay(harness, b, "pi_b1", 9_000, _local(today - timedelta(days=3), 9))
        await _refund(harness, b, "pi_b1", 3_000, 9_000)  # in Stripe's dashboard
        # 23:30 on the last day there, the next morning in UTC: inside.
        await _pay(harness, c, "pi_c1", 8_000, _local(last, 23, 30), method=INJECTED)
        await _service_refund(harness, c, "pi_c1", 2_000, _local(today - timedelta(days=1), 8))
        await _refund(harness, c, "pi_c1", 2_500, 8_000)  # the service's 2,000 and 500 more
        other = (await seed_practice(harness.pool, "Other Clinic"))[1]
        made = await api.post(
            "/v1/payment-requests",
            json=create_body(amount=7_000),
            headers={"Authorization": f"Bearer {other}"},
        )
        other_id = made.json()["id"]
        await _pay(harness, other_id, "pi_other", 7_000, _local(today, 8))

    span = {"from": str(first), "to": str(last)}
    rows = await _books(api, **span, limit=1)
    assert rows == await _books(api, **span, limit=100)  # pages: no duplicate, no gap
    got = [(r["kind"], r["stripe_payment_intent_id"], r["amount"], r["status"]) for r in rows]
    assert sorted(got) == sorted(
        [
            ("payment", "pi_a1", 5_000, "succeeded"),
            ("payment", "pi_b1", 9_000, "partially_refunded"),
            ("refund", "pi_b1", 3_000, "refund"),
            ("payment", "pi_c1", 8_000, "partially_refunded"),
            ("refund", "pi_c1", 2_000, "refund"),
            ("refund", "pi_c1", 500, "refund"),
        ]
    )
    assert [r["paid_at"] for r in rows] == sorted((r["paid_at"] for r in rows), reverse=True)
    assert rows[0]["stripe_payment_intent_id"] == "pi_c1" and rows[0]["kind"] == "payment"
    for pid, refunded in (("pi_b1", 3_000), ("pi_c1", 2_500)):
        refunds = [
            r for r in rows if r["kind"] == "refund" and r["stripe_payment_intent_id"] == pid
        ]
        assert sum(r["amount"] for r in refunds) == refunded  # the refund rows add up
    service = next(r for r in rows if r["kind"] == "refund" and r["amount"] == 2_000)
    assert service["paid_at"] == _local(today - timedelta(days=1), 8).isoformat().replace(
        "+00:00", "Z"
    )
    a1 = next(r for r in rows if r["stripe_payment_intent_id"] == "pi_a1")
    assert (a1["payment_request_id"], a1["patient_id"], a1["facility_id"]) == (a, "pt_123", "fac_1")
    assert (a1["currency"], a1["method"], a1["source"], a1["refunded_amount"]) == (
        "usd",
        "visa",
        "link",
        0,
    )
    fac_2 = await _books(api, **span, facility_id="fac_2")
    assert {(r["kind"], r["stripe_payment_intent_id"]) for r in fac_2} == {
        ("payment", "pi_b1"),
        ("refund", "pi_b1"),
    }
    assert all("pi_other" not in json.dumps(r) for r in rows)  # another practice's: never
    theirs = await _books(api, other, **span)
    assert [r["stripe_payment_intent_id"] for r in theirs] == ["pi_other"]
    assert await _books(api, other, **span, facility_id="fac_2") == []
    early = await _books(api, **{"from": str(first - timedelta(days=1)), "to": str(first)})
    assert [r["stripe_payment_intent_id"] for r in early] == ["pi_a2"]

    resp = await api.get("/v1/payments.csv", params=span)
    assert resp.status_code == 200 and resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="payments-{first}-{last}.csv"'
    )
    table = list(csv.reader(io.StringIO(resp.text)))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) - 1 == len(rows) == 6  # one row per payment (3) and refund (3)
    by_column = [dict(zip(CSV_COLUMNS, line, strict=True)) for line in table[1:]]
    assert [line["stripe_payment_intent_id"] for line in by_column] == [
        r["stripe_payment_intent_id"] for r in rows
    ]
    c_rows = [line for line in by_column if line["stripe_payment_intent_id"] == "pi_c1"]
    assert {line["method"] for line in c_rows} == {"'" + INJECTED}  # shown, never run
    assert sum(int(line["amount"]) for line in by_column if line["status"] == "refund") == 5_500


async def test_bad_export_parameters_are_422(api: httpx.AsyncClient) -> None:
    await api.patch("/v1/practice", json={"timezone": "Asia/Tokyo"})  # ahead of UTC
    ok: dict[str, str | int] = {"from": "2026-12-01", "to": "2026-12-31"}
    cases: tuple[tuple[dict[str, str | int], str, str], ...] = (
        ({"to": "2026-12-31"}, "invalid_value", "from"),
        ({**ok, "from": "2026-13-01"}, "invalid_value", "from"),
        ({**ok, "to": "yesterday"}, "invalid_value", "to"),
        ({"from": "2026-12-31", "to": "2026-12-01"}, "invalid_value", "from"),
        ({"from": "2026-12-01", "to": "9999-12-31"}, "invalid_value", "to"),
        ({"from": "0001-01-01", "to": "2026-12-31"}, "invalid_value", "from"),
        ({**ok, "limit": 101}, "invalid_value", "limit"),
        ({**ok, "limit": 0}, "invalid_value", "limit"),
        ({**ok, "cursor": "not-a-cursor"}, "invalid_cursor", "cursor"),
        ({**ok, "cursor": "W251bGwsICJ4Il0"}, "invalid_cursor", "cursor"),  # [null, "x"]
        ({**ok, "facility_id": "fac\x00"}, "invalid_value", "facility_id"),
    )
    for params, code, field in cases:
        resp = await api.get("/v1/payments", params=params)
        assert error_of(resp) == (422, code, field), (params, resp.text)
    bad_csv = await api.get("/v1/payments.csv", params={**ok, "from": "2027-01-01"})
    assert error_of(bad_csv)[0::2] == (422, "from")
    no_key = await api.get("/v1/payments.csv", params=ok, headers={"Authorization": ""})
    assert no_key.status_code == 401


async def test_the_export_walks_the_practice_index_without_duplicates(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    await _fill(harness, 20_000)
    await harness.pool.execute("ANALYZE payments")
    await harness.pool.execute("ANALYZE payment_requests")
    span = local_range(date(2026, 6, 1), date(2026, 6, 30), "UTC")
    for facility, cursor in (
        (None, None),
        ("fac_1", Cursor(datetime(2026, 6, 20, tzinfo=UTC), "x")),
    ):
        sql, args = books_query(harness.practice_id, span, facility, cursor, 100)
        plan = await harness.pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)  # noqa: S608
        assert "payments_practice_paid_idx" in plan, plan
        assert ("Seq Scan", "payments") not in set(_scans(json.loads(plan))), plan
    seen: list[str] = []
    cursor = None
    while True:
        sql, args = books_query(harness.practice_id, span, None, cursor, 100)
        rows = await harness.pool.fetch(sql, *args)
        seen += [r["key"] for r in rows[:100]]
        if len(rows) <= 100:
            break
        cursor = Cursor(rows[99]["at"], rows[99]["key"])
    expected = await harness.pool.fetchval(
        "SELECT count(*) FROM payments WHERE practice_id = $1 AND paid_at >= $2 AND paid_at < $3",
        harness.practice_id,
        span.start,
        span.end,
    )
    assert len(seen) == len(set(seen)) == expected > 2 * CSV_PAGE
    resp = await api.get("/v1/payments.csv", params={"from": "2026-06-01", "to": "2026-06-30"})
    lines = list(csv.reader(io.StringIO(resp.text)))[1:]  # streamed in pages of CSV_PAGE
    assert [line[-1] for line in lines] == seen


def _scans(node: Any) -> list[tuple[str, str]]:
    """(node type, table) of every scan in an EXPLAIN (FORMAT JSON) plan."""
    if isinstance(node, list):
        return [s for n in node for s in _scans(n)]
    if not isinstance(node, dict):
        return []
    here = [(node["Node Type"], node["Relation Name"])] if "Relation Name" in node else []
    return here + [s for v in node.values() for s in _scans(v)]


async def _fill(harness: Harness, n: int) -> None:
    """Requests and payments straight into the read model, as the activity writes them; three
    payments share each instant, so the keyset must break ties by id."""
    await harness.pool.execute(
        """INSERT INTO payment_requests (id, practice_id, patient_id, version, status, first_name,
               last_name, facility_id, facility_name, emails, currency, amount_requested,
               amount_remaining, expires_at, created_at, updated_at)
           SELECT 'pr_book_' || i, $1, 'pt_' || (i % 500), 1, 'partially_paid', 'Ana', 'Lopez',
                  'fac_' || (i % 3), 'Downtown', ARRAY['a@example.com'], 'usd', 2000, 1000,
                  now() + interval '60 days', now(), now()
           FROM generate_series(0, $2 - 1) AS i""",
        harness.practice_id,
        n,
    )
    await harness.pool.execute(
        """INSERT INTO payments (id, payment_request_id, practice_id, patient_id, amount,
               applied_amount, currency, status, method, paid_at, updated_at)
           SELECT 'pi_book_' || i, 'pr_book_' || i, $1, 'pt_' || (i % 500), 1000, 1000, 'usd',
                  'succeeded', 'visa', timestamptz '2026-01-01' + (i / 3) * interval '1 hour',
                  now()
           FROM generate_series(0, $2 - 1) AS i""",
        harness.practice_id,
        n,
    )
