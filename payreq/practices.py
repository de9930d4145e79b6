"""Practices and their API keys. A key is shown once at creation; only its sha256 is stored."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from payreq.digest import sha256
from payreq.tables import Conn

KEY_PREFIX = "prk_"


def hash_api_key(key: str) -> bytes:
    return sha256(key)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


async def create_practice(
    conn: Conn,
    name: str,
    *,
    reply_to: str | None = None,
    timezone: str = "UTC",
) -> tuple[str, str]:
    """Create a practice and its first API key; returns (practice id, API key)."""
    practice_id = new_id("prc")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO practices (id, name, reply_to, timezone) VALUES ($1, $2, $3, $4)",
            practice_id,
            name,
            reply_to,
            timezone,
        )
        await _insert_key(conn, practice_id, key)
    return practice_id, key


@dataclass(frozen=True)
class ApiKeyInfo:
    id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class LastKeyError(Exception):
    """Revoking it would leave the practice with no valid key."""


async def _insert_key(conn: Conn, practice_id: str, key: str) -> ApiKeyInfo:
    row = await conn.fetchrow(
        """INSERT INTO api_keys (id, key_hash, practice_id, key_prefix) VALUES ($1, $2, $3, $4)
           RETURNING id, key_prefix, created_at, revoked_at""",
        new_id("key"),
        hash_api_key(key),
        practice_id,
        key[: len(KEY_PREFIX) + 6],
    )
    assert row is not None  # INSERT ... RETURNING
    return _info(row)


def _info(row: asyncpg.Record) -> ApiKeyInfo:
    return ApiKeyInfo(row["id"], row["key_prefix"], row["created_at"], row["revoked_at"])


async def create_api_key(conn: Conn, practice_id: str) -> tuple[ApiKeyInfo, str]:
    """Another valid key (for a rotation: both work until the old one is revoked)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return await _insert_key(conn, practice_id, key), key


async def list_api_keys(conn: Conn, practice_id: str) -> list[ApiKeyInfo]:
    rows = await conn.fetch(
        """SELECT id, key_prefix, created_at, revoked_at FROM api_keys
           WHERE practice_id = $1 ORDER BY created_at, id""",
        practice_id,
    )
    return [_info(r) for r in rows]


async def revoke_api_key(conn: Conn, practice_id: str, key_id: str) -> ApiKeyInfo | None:
    """Revoke the key and end the staff sessions it minted; None when there is no such key.
    LastKeyError rather than leave the practice with none."""
    async with conn.transaction():
        live = await conn.fetch(
            "SELECT id FROM api_keys WHERE practice_id = $1 AND revoked_at IS NULL FOR UPDATE",
            practice_id,
        )
        if key_id in {r["id"] for r in live} and len(live) == 1:
            raise LastKeyError(key_id)
        row = await conn.fetchrow(
            """UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
               WHERE practice_id = $1 AND id = $2
               RETURNING id, key_prefix, created_at, revoked_at, key_hash""",
            practice_id,
            key_id,
        )
        if row is None:
            return None
        await conn.execute("DELETE FROM staff_sessions WHERE api_key_hash = $1", row["key_hash"])
    return _info(row)
