"""DATABASE_STATEMENT_CACHE_SIZE reaches asyncpg: with 0 (PgBouncer in transaction mode) the
pools keep no named prepared statement on the server, so the next transaction may run on any
server connection."""

from __future__ import annotations

import pytest

from payreq.components import create_pool
from payreq.settings import Settings

QUERY = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int%'"


@pytest.mark.parametrize(("size", "kept"), [(100, 1), (0, 0)])
async def test_the_statement_cache_setting_reaches_the_pool(
    database_url: str, size: int, kept: int
) -> None:
    settings = Settings(
        database_url=database_url,
        temporal_address="127.0.0.1:7233",
        smtp_host="127.0.0.1",
        mail_from="billing@example.com",
        public_base_url="https://pay.example.com",
        database_statement_cache_size=size,
    )
    pool = await create_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT $1::int + 1", 1) == 2
            assert await conn.fetchval("SELECT $1::int + 1", 2) == 3
            assert await conn.fetchval(QUERY) == kept
    finally:
        await pool.close()
