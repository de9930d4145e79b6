"""When reminders fall: pure calendar arithmetic in the practice's time zone, and each
request's own few minutes after the send time (so that every practice's 10:00 is not one
burst of emails and workflow tasks)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from payreq.digest import sha256

from workflows.types import ReminderPolicy

_SATURDAY = 5
REMINDER_SPREAD = timedelta(minutes=5)  # reminders fall in [send time, send time + this)


def reminder_spread(request_id: str) -> timedelta:
    """The request's offset after the send time: derived from its id, so the same on every
    replay and in every process, and uniform over the spread across requests."""
    digest = sha256(request_id)
    return timedelta(seconds=int.from_bytes(digest[:8]) % int(REMINDER_SPREAD.total_seconds()))


def reminder_at(anchor: datetime, days_after: int, policy: ReminderPolicy) -> datetime:
    """The instant `days_after` local days after `anchor`, at the practice's send time,
    moved to the next Monday when it falls on a weekend the practice does not send on."""
    zone = ZoneInfo(policy.timezone)
    local_day = anchor.astimezone(zone).date() + timedelta(days=days_after)
    if not policy.weekends_allowed and local_day.weekday() >= _SATURDAY:
        local_day += timedelta(days=7 - local_day.weekday())
    local = datetime.combine(local_day, time(policy.send_hour, policy.send_minute), tzinfo=zone)
    return local.astimezone(UTC)


def next_reminder(
    *,
    anchor: datetime,
    base_day: int,
    reminders_sent: int,
    policy: ReminderPolicy,
    expires_at: datetime,
    spread: timedelta = timedelta(0),
) -> datetime | None:
    """The next reminder after `reminders_sent` of them, counted from `anchor`, which stands
    for day `base_day` of the schedule (0 at first sending, later the day a resend replaced)."""
    days = sorted(policy.reminder_days)
    if reminders_sent >= len(days):
        return None
    at = reminder_at(anchor, days[reminders_sent] - base_day, policy) + spread
    return at if at < expires_at else None
