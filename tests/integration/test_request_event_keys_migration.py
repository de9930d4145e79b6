"""Migration 0013 gives every existing timeline row the key its one writer now de-duplicates
by, and drops the seq ranges that kept three writers apart: a "viewed" row of a day already in
the table is not written again after the upgrade."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from payreq import db
from payreq.tables import request_events
from tests.conftest import db_url


async def test_upgrade_keys_old_rows_and_keeps_them_deduplicated(
    pg_server: str, tmp_path: Path
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in db.migration_files():
        if path.name < "0013":
            shutil.copy(path, before / path.name)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    conn = await asyncpg.connect(db_url(pg_server, name))
    try:
        await db.migrate(conn, before)
        viewed_on = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
        await conn.execute("SET session_replication_role = replica")  # no request row needed
        await conn.executemany(
            "INSERT INTO request_events (payment_request_id, seq, at, type, detail)"
            " VALUES ('pr_old', $1, $2, $3, $4)",
            [
                (1, viewed_on, "created", ""),
                (2, viewed_on, "email_accepted", "request to a@example.com"),
                (-viewed_on.date().toordinal(), viewed_on, "viewed", ""),
                (-1_000_001, viewed_on, "refund_issued", "pi_1 5000"),
            ],
        )
        applied = await db.migrate(conn)
        assert applied[0] == "0013_request_event_keys.sql"  # then any later ones
        rows = await conn.fetch("SELECT seq, key FROM request_events ORDER BY id")
        assert sorted((r["seq"], r["key"]) for r in rows if r["seq"]) == [
            (1, "workflow:1"),
            (2, "workflow:2"),
        ]
        assert {r["key"] for r in rows if r["seq"] is None} == {
            "viewed:2026-11-30",
            "service:refund_issued:pi_1 5000",
        }
        # The same day's view, the same service event, a replayed workflow save: all no-ops.
        await request_events.record_view(conn, "pr_old", viewed_on.replace(hour=20))
        await request_events.record_service_event(conn, "pr_old", "refund_issued", "pi_1 5000")
        await request_events.record_workflow_events(
            conn, "pr_old", [(2, viewed_on, "email_accepted", "request to a@example.com")]
        )
        assert await conn.fetchval("SELECT count(*) FROM request_events") == 4
        timeline = await conn.fetch(request_events.TIMELINE, "pr_old")
        # Within one instant the service's rows come first, then the workflow's in seq order.
        types = [r["type"] for r in timeline]
        assert types == ["viewed", "refund_issued", "created", "email_accepted"]
    finally:
        await conn.close()
