"""Reminder instants: calendar arithmetic in the practice's zone, off weekends, before expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from workflows.schedule import next_reminder, reminder_at
from workflows.types import ReminderPolicy

WEDNESDAY = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # a Wednesday afternoon, UTC


def test_reminder_falls_on_the_local_send_time_n_days_later() -> None:
    at = reminder_at(WEDNESDAY, 7, ReminderPolicy())
    assert at == datetime(2026, 12, 9, 10, 0, tzinfo=UTC)


def test_weekend_reminder_moves_to_monday_unless_weekends_are_allowed() -> None:
    assert reminder_at(WEDNESDAY, 3, ReminderPolicy()) == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert reminder_at(WEDNESDAY, 4, ReminderPolicy()) == datetime(2026, 12, 7, 10, tzinfo=UTC)
    weekends = ReminderPolicy(weekends_allowed=True)
    assert reminder_at(WEDNESDAY, 3, weekends) == datetime(2026, 12, 5, 10, tzinfo=UTC)


def test_local_day_and_time_follow_the_practice_time_zone() -> None:
    tokyo = ReminderPolicy(timezone="Asia/Tokyo", send_hour=9, send_minute=30)
    # 15:30 UTC Wednesday is already Thursday 00:30 in Tokyo: day 7 is the next Thursday
    at = reminder_at(WEDNESDAY, 7, tokyo)
    assert at.astimezone(ZoneInfo("Asia/Tokyo")) == datetime(
        2026, 12, 10, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo")
    )
    la = ReminderPolicy(timezone="America/Los_Angeles")
    assert reminder_at(WEDNESDAY, 7, la) == datetime(2026, 12, 9, 18, 0, tzinfo=UTC)


def test_send_time_is_kept_across_a_daylight_saving_change() -> None:
    la = ReminderPolicy(timezone="America/Los_Angeles")
    before = datetime(2027, 3, 10, 20, 0, tzinfo=UTC)  # Wednesday, PST (UTC-8)
    at = reminder_at(before, 7, la)  # Wednesday March 17, PDT (UTC-7) since the 14th
    assert at == datetime(2027, 3, 17, 17, 0, tzinfo=UTC)


def test_next_reminder_walks_the_schedule_and_stops_before_expiry() -> None:
    policy = ReminderPolicy()
    expires = WEDNESDAY + timedelta(days=60)
    got = [
        next_reminder(
            anchor=WEDNESDAY, base_day=0, reminders_sent=n, policy=policy, expires_at=expires
        )
        for n in range(5)
    ]
    assert got == [
        datetime(2026, 12, 7, 10, tzinfo=UTC),  # day 3 is a Saturday: Monday
        datetime(2026, 12, 9, 10, tzinfo=UTC),
        datetime(2026, 12, 16, 10, tzinfo=UTC),
        datetime(2027, 1, 1, 10, tzinfo=UTC),  # day 30, a Friday
        None,
    ]
    short = datetime(2026, 12, 16, 10, tzinfo=UTC)  # nothing at or after the expiry
    assert (
        next_reminder(
            anchor=WEDNESDAY, base_day=0, reminders_sent=2, policy=policy, expires_at=short
        )
        is None
    )


def test_after_a_resend_the_schedule_counts_from_the_resend() -> None:
    resent = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # day 6, after the day-3 reminder
    at = next_reminder(
        anchor=resent,
        base_day=3,
        reminders_sent=1,
        policy=ReminderPolicy(),
        expires_at=WEDNESDAY + timedelta(days=60),
    )
    assert at == datetime(
        2026, 12, 14, 10, tzinfo=UTC
    )  # 4 days (day 7 - day 3) after: a Saturday, so Monday


def test_each_request_gets_its_own_stable_offset_within_the_spread() -> None:
    """Every practice sends at 10:00: each request's reminder falls a few minutes after,
    at an offset derived from its id, so they do not all fire at the same instant."""
    from workflows.schedule import REMINDER_SPREAD, reminder_spread

    ids = [f"pr_{n:024x}" for n in range(200)]
    offsets = [reminder_spread(i) for i in ids]
    assert all(timedelta(0) <= o < REMINDER_SPREAD for o in offsets)
    assert timedelta(minutes=10) >= REMINDER_SPREAD
    # spread, not bunched: 200 ids over 300 one-second slots fill about 146 of them
    assert len(set(offsets)) > 120
    assert min(offsets) < timedelta(seconds=30) and max(offsets) > REMINDER_SPREAD * 0.9
    assert reminder_spread("pr_a") != reminder_spread("pr_b")
    assert reminder_spread("pr_a") == reminder_spread("pr_a")  # stable (no randomness)
    # pinned: the same id gets the same instant on every run, in every process
    assert reminder_spread("pr_8f14e45fceea167a5a36dedd") == timedelta(seconds=165)
    policy, expires = ReminderPolicy(), WEDNESDAY + timedelta(days=60)
    a, b = (
        next_reminder(
            anchor=WEDNESDAY,
            base_day=0,
            reminders_sent=0,
            policy=policy,
            expires_at=expires,
            spread=reminder_spread(i),
        )
        for i in ("pr_a", "pr_b")
    )
    monday_ten = datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert a is not None and b is not None and a != b
    assert monday_ten <= a < monday_ten + REMINDER_SPREAD
    assert monday_ten <= b < monday_ten + REMINDER_SPREAD
