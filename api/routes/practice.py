"""The calling practice's own settings: its name, time zone, when reminders go out, and the
Reply-To of its emails. New requests copy the reminder settings when they are created."""

from __future__ import annotations

from datetime import time
from typing import Any

import asyncpg
from fastapi import APIRouter

from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.resources import error_responses
from api.schemas.practice import PracticeOut, PracticePatch
from payreq.rendering.locale import language

router = APIRouter(prefix="/v1/practice", tags=["practice"])

_NOT_NULL = (
    "reminders_on_weekends",
    "embed_origins",
    "platform_fee_bps",
    "min_payment_amount",
    "min_payment_percent",
    "default_language",
)
_COLUMNS = (
    "id, name, timezone, reminder_send_time, reminders_on_weekends, reply_to, embed_origins,"
    " stripe_account_id, statement_descriptor_suffix, platform_fee_bps, min_payment_amount,"
    " min_payment_percent, default_language"
)


def _out(row: Any) -> PracticeOut:
    return PracticeOut(
        id=row["id"],
        name=row["name"],
        timezone=row["timezone"],
        reminder_send_time=row["reminder_send_time"].strftime("%H:%M"),
        reminders_on_weekends=row["reminders_on_weekends"],
        reply_to=row["reply_to"],
        embed_origins=list(row["embed_origins"]),
        stripe_account_id=row["stripe_account_id"],
        statement_descriptor_suffix=row["statement_descriptor_suffix"],
        platform_fee_bps=row["platform_fee_bps"],
        min_payment_amount=row["min_payment_amount"],
        min_payment_percent=row["min_payment_percent"],
        default_language=language(row["default_language"]),
    )


@router.get("", response_model=PracticeOut, responses=error_responses(401), summary="Read settings")
async def get_practice(practice: CurrentPractice, deps: Deps) -> PracticeOut:
    row = await deps.pool.fetchrow(f"SELECT {_COLUMNS} FROM practices WHERE id = $1", practice.id)
    return _out(row)


@router.patch(
    "",
    response_model=PracticeOut,
    responses=error_responses(400, 401, 409, 413, 422),
    summary="Change settings",
    description="Reminder settings apply to requests created afterwards; name and Reply-To "
    "apply to every email sent from now on.",
)
async def patch_practice(body: PracticePatch, practice: CurrentPractice, deps: Deps) -> PracticeOut:
    changes: dict[str, object] = {k: getattr(body, k) for k in body.model_fields_set}
    for key in ("name", "timezone", "reminder_send_time", *_NOT_NULL):
        if key in changes and changes[key] is None:
            raise ApiError(422, "invalid_value", f"{key} cannot be null.", key)
    if "reminder_send_time" in changes:
        hour, minute = str(changes["reminder_send_time"]).split(":")
        changes["reminder_send_time"] = time(int(hour), int(minute))
    assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
    if assignments:
        try:
            await deps.pool.execute(
                f"UPDATE practices SET {assignments} WHERE id = $1", practice.id, *changes.values()
            )
        except asyncpg.UniqueViolationError as exc:  # one account, one practice
            raise ApiError(
                409,
                "stripe_account_taken",
                "That Stripe account belongs to another practice.",
                "stripe_account_id",
            ) from exc
    return await get_practice(practice, deps)
