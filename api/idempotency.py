"""`Idempotency-Key` on the practice API's POSTs: the same key and body answer the same response
and create nothing new; the same key with another body (or on another endpoint) is a 409.

A key is claimed in `idempotency_keys` before the work and its response stored after. Creates
also derive the request id from the key, so duplicates arriving at the same instant, or a retry
after the API died mid-request, land on the same workflow; other POSTs answer 409 to a
duplicate that arrives while the first is still in flight.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import asyncpg
from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.errors import ApiError
from payreq.digest import sha256, sha256_hex

MAX_KEY_LENGTH = 255
REPLAY_HEADER = "Idempotent-Replayed"
STALE_CLAIM_SECONDS = 60  # a claim unanswered this long belonged to a process that died
# A key is remembered this long, then forgotten: its row is deleted by a later claim (below),
# and a retry after that reaches the workflow, which answers for a request that exists.
WINDOW = timedelta(hours=24)
SWEEP_BATCH = 100  # expired rows removed per claim: bounded work, and it keeps up
# Never stored: a live pay link is a credential. Stored responses drop it; `present` adds the
# current one back when answering.
SECRET_FIELDS = ("pay_url",)
Present = Callable[[dict[str, object]], Awaitable[dict[str, object]]]

# One statement: sweep a batch of other expired keys (bounded work that keeps up), claim this
# key (new, or expired: taken over afresh), and read what an earlier claim stored. The final
# SELECT sees the rows as they were before the statement: when the conflict was with a claim
# committed meanwhile, it finds no row and the caller claims again.
_CLAIM = f"""
WITH sweep AS (
    DELETE FROM idempotency_keys
    WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM idempotency_keys
        WHERE created_at < now() - $4::interval AND NOT (practice_id = $1 AND key = $2)
        ORDER BY created_at LIMIT $5))
),
claimed AS (
    INSERT INTO idempotency_keys AS k (practice_id, key, request_hash) VALUES ($1, $2, $3)
    ON CONFLICT (practice_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
            created_at = now()
    WHERE k.created_at < now() - $4::interval
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM claimed) AS fresh, k.key IS NOT NULL AS found, k.request_hash,
       k.status_code, k.response,
       k.created_at < now() - interval '{STALE_CLAIM_SECONDS} seconds' AS stale
FROM (VALUES (1)) AS one (x)
LEFT JOIN idempotency_keys k ON k.practice_id = $1 AND k.key = $2
"""

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key (printable ASCII, at most 255 characters): the same key "
        "and body return the first response; the same key with another body is a 409.",
    ),
]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: either a stored response to replay, or the go-ahead."""

    key: str
    fresh: bool  # this call inserted the key: nobody else is (or was) working on it
    stale: bool = False  # claimed long ago and never answered: its caller died mid-request
    status_code: int | None = None
    response: dict[str, object] | None = None

    @property
    def replay(self) -> bool:
        return self.response is not None


def fingerprint(method: str, route: str, body: BaseModel | None) -> bytes:
    payload = {"route": f"{method} {route}", "body": body.model_dump(mode="json") if body else None}
    return sha256(json.dumps(payload, sort_keys=True))


def derived_id(prefix: str, practice_id: str, key: str) -> str:
    """A deterministic id from (practice, key): every retry of one create names one request."""
    digest = sha256_hex(f"{practice_id}\x00{key}")
    return f"{prefix}_{digest[:24]}"


async def claim(pool: asyncpg.Pool, practice_id: str, key: str, request_hash: bytes) -> Claim:
    stored = await pool.fetchrow(_CLAIM, practice_id, key, request_hash, WINDOW, SWEEP_BATCH)
    assert stored is not None  # the final SELECT returns one row
    if stored["fresh"]:
        return Claim(key=key, fresh=True)
    if not stored["found"]:  # claimed by another call committed meanwhile: read it again
        return await claim(pool, practice_id, key, request_hash)
    if bytes(stored["request_hash"]) != request_hash:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request.",
            None,
        )
    response = json.loads(stored["response"]) if stored["response"] is not None else None
    return Claim(
        key=key,
        fresh=False,
        stale=bool(stored["stale"]),
        status_code=stored["status_code"],
        response=response,
    )


async def store(
    pool: asyncpg.Pool, practice_id: str, key: str, status_code: int, response: dict[str, object]
) -> Claim:
    """Record the response (without its secrets); the first stored response wins and is what
    every caller gets."""
    response = _without_secrets(response)
    row = await pool.fetchrow(
        """UPDATE idempotency_keys SET status_code = coalesce(status_code, $3),
               response = coalesce(response, $4::jsonb)
           WHERE practice_id = $1 AND key = $2 RETURNING status_code, response""",
        practice_id,
        key,
        status_code,
        json.dumps(response),
    )
    if row is None:
        return Claim(key=key, fresh=True, status_code=status_code, response=response)
    return Claim(
        key=key, fresh=False, status_code=row["status_code"], response=json.loads(row["response"])
    )


def _without_secrets(response: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in response.items() if k not in SECRET_FIELDS}


async def release(pool: asyncpg.Pool, practice_id: str, key: str) -> None:
    """Forget a claim whose work failed on our side, so a retry with the key can go ahead."""
    await pool.execute(
        "DELETE FROM idempotency_keys WHERE practice_id = $1 AND key = $2 AND response IS NULL",
        practice_id,
        key,
    )


Work = Callable[[bool], Awaitable[tuple[int, BaseModel]]]


async def once(
    pool: asyncpg.Pool,
    practice_id: str,
    key: str | None,
    request_hash: bytes,
    work: Work,
    *,
    join_in_flight: bool,
    present: Present | None = None,
) -> JSONResponse:
    """Run `work` at most once per key and answer every caller with the first response.

    `work(first)` learns whether this call claimed the key first. With `join_in_flight`, a
    duplicate arriving while the first is still working runs `work` too (creates: the request
    id derived from the key makes that harmless); otherwise it gets a 409."""
    if key is None:
        status, model = await work(True)
        return JSONResponse(model.model_dump(mode="json"), status_code=status)
    c = await claim(pool, practice_id, key, request_hash)
    if not c.replay and not (c.fresh or c.stale or join_in_flight):
        raise ApiError(
            409, "idempotency_key_in_use", "A request with this Idempotency-Key is in progress."
        )
    replayed = c.replay
    ours: dict[str, object] | None = None
    if not c.replay:
        try:
            status, model = await work(c.fresh)
        except Exception:
            if not join_in_flight:
                await release(pool, practice_id, key)
            raise
        ours = model.model_dump(mode="json")
        c = await store(pool, practice_id, key, status, ours)
    assert c.status_code is not None and c.response is not None
    headers = {REPLAY_HEADER: "true"} if replayed else None
    if ours is not None and c.response == _without_secrets(ours):
        body = ours  # the stored response is this call's own: its secrets are current
    else:
        body = await present(c.response) if present else c.response
    return JSONResponse(body, status_code=c.status_code, headers=headers)
