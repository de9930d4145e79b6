"""Practices and their API keys. A key is shown once at creation; only its sha256 is stored."""

from __future__ import annotations

import hashlib
import secrets

import asyncpg

KEY_PREFIX = "prk_"


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


async def create_practice(
    conn: asyncpg.Connection,
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
        await conn.execute(
            "INSERT INTO api_keys (key_hash, practice_id, key_prefix) VALUES ($1, $2, $3)",
            hash_api_key(key),
            practice_id,
            key[: len(KEY_PREFIX) + 6],
        )
    return practice_id, key
