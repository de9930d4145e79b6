"""Open requests at scale: N requests created through the API and left waiting on their
timers; the worker's and the Temporal server's resident memory, the time to create them, and
the patient list endpoint's p95 once the read model holds 100,000 rows (the rest filled from
SQL exactly as tests/bench/list_latency.py does)."""

from __future__ import annotations

import time
from typing import Any

import psutil

from tests.bench.lifecycle import bounded, pct, until
from tests.bench.list_latency import _FILL, HOT_PATIENT, HOT_ROWS, PATIENTS
from tests.reliability.stack import Stack, create_request

AMOUNT = 18_500
LIST_CALLS = 500


def rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        total += child.memory_info().rss
    return round(total / 2**20, 1)


async def run_open_requests(stack: Stack, n: int, rows: int) -> dict[str, Any]:
    pool = stack.pool
    assert pool is not None and stack.worker_proc and stack.temporal_proc
    worker_before = rss_mb(stack.worker_proc.pid)
    sent_before = len(stack.smtp.messages)
    async with stack.http() as http:
        t0 = time.perf_counter()
        await bounded(n, lambda i: create_request(http, i, AMOUNT, f"open{i}@example.com"))
        created = time.perf_counter() - t0
        await until(lambda: len(stack.smtp.messages) >= sent_before + n, timeout=1800)
        settled = time.perf_counter() - t0
        worker_rss = rss_mb(stack.worker_proc.pid)
        server_rss = rss_mb(stack.temporal_proc.pid)
        have = await pool.fetchval("SELECT count(*) FROM payment_requests")
        other = await pool.fetchval(
            "INSERT INTO practices (id, name) VALUES ('prc_other_bench', 'Other') "
            "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name RETURNING id"
        )
        if rows > have:
            await pool.execute(_FILL, stack.practice_id, other, rows - have, PATIENTS, HOT_ROWS)
        await pool.execute("ANALYZE payment_requests")
        total = await pool.fetchval("SELECT count(*) FROM payment_requests")
        path = f"/v1/patients/{HOT_PATIENT}/payment-requests"
        samples: list[float] = []
        for _ in range(LIST_CALLS):
            t1 = time.perf_counter()
            resp = await http.get(path)
            samples.append((time.perf_counter() - t1) * 1000)
            assert resp.status_code == 200, resp.text
    return {
        "open_requests": n,
        "create_s": round(created, 2),
        "create_per_s": round(n / created, 2),
        "all_first_emails_s": round(settled, 2),
        "worker_rss_mb": worker_rss,
        "worker_rss_before_mb": worker_before,
        "server_rss_mb": server_rss,
        "read_model_rows": total,
        "list_p50_ms": round(pct(samples, 50), 2),
        "list_p95_ms": round(pct(samples, 95), 2),
    }
