"""Text messages as the workflow sees them: the values crossing Temporal, and the quiet hours
(no text before 08:00 or after 21:00 in the practice's time zone). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from workflows.types import EmailKind, EventType

TEXT_WINDOW_START = time(8, 0)
TEXT_WINDOW_END = time(21, 0)  # exclusive: a text due at 21:00 waits for 08:00


class TextOutcome(StrEnum):
    QUEUED = "queued"  # Twilio took it; the status callback tells the rest
    REJECTED = "rejected"  # Twilio refused the number for good (invalid, not a mobile)
    OPTED_OUT = "opted_out"  # the number texted STOP to this practice


TEXT_EVENTS = {
    TextOutcome.QUEUED: EventType.TEXT_QUEUED,
    TextOutcome.REJECTED: EventType.TEXT_REJECTED,
    TextOutcome.OPTED_OUT: EventType.TEXT_OPTED_OUT,
}


@dataclass(frozen=True, kw_only=True)
class TextInput:
    request_id: str
    practice_id: str
    kind: EmailKind
    sequence: int
    phones: tuple[str, ...]
    body: str


@dataclass(frozen=True, kw_only=True)
class PhoneResult:
    phone: str
    outcome: TextOutcome
    error_code: str = ""


@dataclass(frozen=True, kw_only=True)
class TextResult:
    phones: tuple[PhoneResult, ...]

    def with_outcome(self, outcome: TextOutcome) -> tuple[str, ...]:
        return tuple(p.phone for p in self.phones if p.outcome == outcome)


def next_text_window(at: datetime, timezone: str) -> datetime:
    """`at` itself when it falls inside the practice's texting hours, else the next 08:00 there
    (an aware UTC instant either way)."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    if TEXT_WINDOW_START <= local.time() < TEXT_WINDOW_END:
        return at
    day = local.date() if local.time() < TEXT_WINDOW_START else local.date() + timedelta(days=1)
    opens = datetime.combine(day, TEXT_WINDOW_START, tzinfo=zone)
    return opens.astimezone(at.tzinfo) if at.tzinfo else opens


@dataclass(frozen=True, kw_only=True)
class TextRenderInput:
    """What a text may say: the practice (looked up by id), the amounts and the link. Never a
    patient's name or anything clinical."""

    practice_id: str
    kind: EmailKind
    language: str = "en"
    currency: str
    amount_due: int
    amount_paid: int
    pay_url: str
