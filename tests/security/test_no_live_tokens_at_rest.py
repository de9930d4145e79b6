"""Pay links are credentials: only their hash may be stored. Create requests every way the
service offers (API with and without an Idempotency-Key, replays, cancel/resend with keys, the
staff panel's create), then read EVERY text-like column of EVERY table and look for any live
token or pay URL. Idempotency rows also expire after their window."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx

from api import idempotency
from tests.integration.apihelp import create_body, until_status
from tests.integration.test_staff_panel_api import form, open_session, panel
from tests.support import PUBLIC_BASE_URL, Harness, eventually

PR = "/v1/payment-requests"
_TOKEN_IN_URL = re.compile(r"/pay/([A-Za-z0-9_-]{20,})")
_TEXTUAL = ("text", "character varying", "jsonb", "json", "bytea", "ARRAY")


async def _columns(pool: asyncpg.Pool) -> list[tuple[str, str, str]]:
    rows = await pool.fetch(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public' AND data_type = ANY($1::text[])""",
        list(_TEXTUAL),
    )
    return [(r["table_name"], r["column_name"], r["data_type"]) for r in rows]


async def _hits(pool: asyncpg.Pool, needle: str) -> list[str]:
    found = []
    for table, column, kind in await _columns(pool):
        as_text = f"encode({column}, 'escape')" if kind == "bytea" else f"{column}::text"
        n = await pool.fetchval(
            f'SELECT count(*) FROM "{table}" WHERE strpos({as_text}, $1) > 0', needle
        )
        if n:
            found.append(f"{table}.{column}")
    return found


async def test_no_table_holds_a_live_token_or_pay_url(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    h = harness
    urls: set[str] = set()
    async with h.worker():
        keyed = await api.post(PR, json=create_body(), headers={"Idempotency-Key": "k-1"})
        replay = await api.post(PR, json=create_body(), headers={"Idempotency-Key": "k-1"})
        assert replay.headers.get("Idempotent-Replayed") == "true"
        assert replay.json()["pay_url"] == keyed.json()["pay_url"]  # derived again, same link
        plain = await api.post(PR, json=create_body(emails="plain@example.com"))
        for resp in (keyed, plain):
            urls.add(resp.json()["pay_url"])
            rid = resp.json()["id"]
            await until_status(api, rid, "sent")
            resent = await api.post(f"{PR}/{rid}/resend", headers={"Idempotency-Key": f"r-{rid}"})
            assert resent.json()["pay_url"] in urls
        await api.patch("/v1/practice", json={"embed_origins": ["https://pms.example.com"]})
        secret = await open_session(api)
        async with panel(api, secret) as p:
            made = await p.post(
                "/embed/api/payment-requests", json=form(), headers={"Idempotency-Key": "p-1"}
            )
            again = await p.post(
                "/embed/api/payment-requests", json=form(), headers={"Idempotency-Key": "p-1"}
            )
        assert made.status_code == 201 and again.json()["pay_url"] == made.json()["pay_url"]
        urls.add(made.json()["pay_url"])
        await until_status(api, made.json()["id"], "sent")
        cancelled = await api.post(
            f"{PR}/{plain.json()['id']}/cancel", headers={"Idempotency-Key": "c-1"}
        )
        assert cancelled.json()["pay_url"] is None
        await eventually(lambda: len(h.smtp.messages) >= 5, timeout=20)
    for msg in h.smtp.messages:  # the links the patients got, too
        urls.update(
            f"{PUBLIC_BASE_URL}/pay/{t}" for t in _TOKEN_IN_URL.findall(msg.message.as_string())
        )
    tokens = {u.rsplit("/pay/", 1)[1] for u in urls}
    assert len(tokens) == 3, urls
    assert await h.pool.fetchval("SELECT count(*) FROM idempotency_keys") >= 4
    assert len(await _columns(h.pool)) > 40  # the scan really covers the schema
    for needle in (*tokens, "/pay/"):
        assert await _hits(h.pool, needle) == [], needle


async def test_idempotency_rows_expire_after_their_window(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    h = harness
    async with h.worker():
        first = await api.post(PR, json=create_body(), headers={"Idempotency-Key": "old"})
        await until_status(api, first.json()["id"], "sent")
        await h.pool.execute(
            "UPDATE idempotency_keys SET created_at = now() - $1::interval",
            idempotency.WINDOW + timedelta(minutes=1),
        )
        # Any later claim sweeps the expired rows of every practice.
        fresh = await api.post(
            PR, json=create_body(emails="n@example.com"), headers={"Idempotency-Key": "new"}
        )
        assert fresh.status_code == 201
    keys = [r["key"] for r in await h.pool.fetch("SELECT key FROM idempotency_keys")]
    assert keys == ["new"]
