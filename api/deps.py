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
from payreq.rendering.locale import Language, language
from payreq.settings import Settings
from workflows.types import ReminderPolicy


@dataclass
class AppDeps:
    settings: Settings
    pool: asyncpg.Pool
    temporal: Client
    stripe: stripe.StripeClient | None
    task_queue: str


@dataclass(frozen=True, kw_only=True)
class PracticeDefaults:
    """What a new request takes from its practice when the create does not say."""

    policy: ReminderPolicy
    language: Language


# The practice's defaults, read by the same statement that finds the caller's practice
# (`p` is `practices`), so a create costs no statement of its own for them.
DEFAULTS_COLUMNS = """p.timezone AS d_timezone, p.reminder_send_time AS d_send_time,
    p.reminders_on_weekends AS d_weekends, p.default_reminder_days AS d_reminder_days,
    p.default_expires_in_days AS d_expires_in_days, p.default_language AS d_language"""


def defaults_of(row: asyncpg.Record) -> PracticeDefaults:
    policy = ReminderPolicy(
        reminder_days=tuple(row["d_reminder_days"]),
        expires_in_days=row["d_expires_in_days"],
        timezone=row["d_timezone"],
        send_hour=row["d_send_time"].hour,
        send_minute=row["d_send_time"].minute,
        weekends_allowed=row["d_weekends"],
    )
    return PracticeDefaults(policy=policy, language=language(row["d_language"]))


@dataclass(frozen=True)
class Practice:
    id: str
    name: str
    # The API key this call came with (its sha256): staff sessions remember it, so revoking
    # the key ends them. Empty for a practice reached through a staff session.
    key_hash: bytes = b""
    # As read with the practice (None: read them on demand, `service.practice_defaults`).
    defaults: PracticeDefaults | None = None


async def get_deps(request: Request) -> AppDeps:
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
        f"""SELECT p.id, p.name, {DEFAULTS_COLUMNS}
            FROM api_keys k JOIN practices p ON p.id = k.practice_id
            WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        key_hash,
    )
    if row is None:
        raise ApiError(401, "unauthorized", "Unknown or revoked API key.")
    return Practice(id=row["id"], name=row["name"], key_hash=key_hash, defaults=defaults_of(row))


CurrentPractice = Annotated[Practice, Depends(current_practice)]
