"""What handlers receive: the app's clients (built once in the lifespan) and the caller's
practice (from the API key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
import stripe
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.errors import ApiError
from payreq.practices import hash_api_key
from payreq.settings import Settings


@dataclass
class AppDeps:
    settings: Settings
    pool: asyncpg.Pool
    temporal: Client
    stripe: stripe.StripeClient | None
    task_queue: str


@dataclass(frozen=True)
class Practice:
    id: str
    name: str
    # The API key this call came with (its sha256): staff sessions remember it, so revoking
    # the key ends them. Empty for a practice reached through a staff session.
    key_hash: bytes = b""


def get_deps(request: Request) -> AppDeps:
    deps: AppDeps = request.app.state.deps
    return deps


Deps = Annotated[AppDeps, Depends(get_deps)]

_bearer = HTTPBearer(auto_error=False, description="The practice's API key.")


async def current_practice(
    deps: Deps,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Practice:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "Send the practice API key as a Bearer token.")
    key_hash = hash_api_key(credentials.credentials)
    row = await deps.pool.fetchrow(
        """SELECT p.id, p.name FROM api_keys k JOIN practices p ON p.id = k.practice_id
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        key_hash,
    )
    if row is None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    return Practice(id=row["id"], name=row["name"], key_hash=key_hash)


CurrentPractice = Annotated[Practice, Depends(current_practice)]
