"""What `payreq dev` sets up inside the running servers: the database and its migrations, the
demo practice, the schedules, the fake Stripe's webhook; and the probes it waits on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import asyncpg
import httpx

from payreq import db
from payreq.practices import create_practice

DEMO_PRACTICE = "Demo Clinic"
DATABASE = "payreq"
PROBE_TIMEOUT_SECONDS = 2.0


async def prepare_database(admin_uri: str) -> str:
    """The `payreq` database, made on first start and migrated on every start; its URL."""
    conn = await asyncpg.connect(admin_uri)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    url = admin_uri.replace("/postgres?", f"/{DATABASE}?", 1)
    await db.migrate_url(url)
    return url


async def demo_practice(database_url: str, saved: Mapping[str, Any]) -> tuple[str, str]:
    """The demo practice made on first start; reused after (its key is kept in stack.json)."""
    conn = await asyncpg.connect(database_url)
    try:
        known = saved.get("practice_id") and await conn.fetchval(
            "SELECT 1 FROM practices WHERE id = $1", saved["practice_id"]
        )
        if known and saved.get("api_key"):
            return str(saved["practice_id"]), str(saved["api_key"])
        return await create_practice(conn, DEMO_PRACTICE, reply_to="billing@demo-clinic.test")
    finally:
        await conn.close()


async def allow_embedding(database_url: str, practice_id: str, origin: str) -> None:
    """The demo practice lets the demo billing page frame its staff panel."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """UPDATE practices SET embed_origins = array_append(embed_origins, $2)
               WHERE id = $1 AND NOT $2 = ANY(embed_origins)""",
            practice_id,
            origin,
        )
    finally:
        await conn.close()


async def apply_schedules(cli: list[str], env: Mapping[str, str]) -> None:
    """`payreq schedules apply`, as a deploy runs it once (workers never do)."""
    proc = await asyncio.create_subprocess_exec(
        *cli, "schedules", "apply", env=dict(env), stdout=asyncio.subprocess.DEVNULL
    )
    if await proc.wait() != 0:
        raise RuntimeError("payreq schedules apply failed")


async def register_stripe_webhook(base: str, api_url: str, secret: str) -> bool:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
        resp = await http.post(
            f"{base}/_config/webhooks/payreq",
            data={"url": f"{api_url}/webhooks/stripe", "secret": secret},
        )
        return resp.status_code == 200


async def api_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
        return (await http.get(f"{url}/readyz")).status_code == 200


async def page_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as http:
        return (await http.get(f"{url}/static/billing.css")).status_code == 200
