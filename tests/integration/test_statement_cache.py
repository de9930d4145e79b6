"""DATABASE_STATEMENT_CACHE_SIZE reaches asyncpg: with 0 (PgBouncer in transaction mode) the
pools keep no named prepared statement on the server, so the next transaction may run on any
server connection."""

from __future__ import annotations

import pytest

from payreq.components import create_pool
from payreq.smtp import SmtpConfig
from tests.support import RecordingHandler
from tests.support import test_settings as settings_for

QUERY = "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int%'"


@pytest.mark.parametrize(("size", "kept"), [(100, 1), (0, 0)])
async def test_the_statement_cache_setting_reaches_the_pool(
    database_url: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
    fake_stripe: str,
    size: int,
    kept: int,
) -> None:
    settings = settings_for(database_url, smtp_server[1], fake_stripe).model_copy(
        update={"database_statement_cache_size": size}
    )
    pool = await create_pool(settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT $1::int + 1", 1) == 2
            assert await conn.fetchval("SELECT $1::int + 1", 2) == 3
            assert await conn.fetchval(QUERY) == kept
    finally:
        await pool.close()
