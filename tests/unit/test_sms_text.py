"""Quiet hours and message length, the pure parts of text messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from payreq.sms_text import fits_one_gsm7_message, segments
from workflows.sms import next_text_window

NY = "America/New_York"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_inside_the_window_a_text_goes_at_once() -> None:
    at = utc("2026-12-02T13:00:00")  # 08:00 in New York (EST, UTC-5): the first minute allowed
    assert next_text_window(at, NY) == at
    assert next_text_window(utc("2026-12-03T01:59:59"), NY) == utc("2026-12-03T01:59:59")


def test_before_eight_and_from_nine_pm_a_text_waits_for_eight() -> None:
    assert next_text_window(utc("2026-12-02T12:59:00"), NY) == utc("2026-12-02T13:00:00")
    assert next_text_window(utc("2026-12-03T02:00:00"), NY) == utc("2026-12-03T13:00:00")
    # Across the spring-forward night, 08:00 local is 12:00 UTC.
    assert next_text_window(utc("2026-03-08T05:00:00"), NY) == utc("2026-03-08T12:00:00")


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1)))
def test_the_window_is_never_left_and_never_waits_a_day(naive: datetime) -> None:
    at = naive.replace(tzinfo=UTC)
    sent = next_text_window(at, "America/Los_Angeles")
    local = sent.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert at <= sent < at + timedelta(hours=12)
    assert 8 <= local.hour < 21


def test_message_length_counts_gsm7_septets_and_falls_back_to_ucs2() -> None:
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2  # escape + septet each
    assert segments("ç" * 70) == 1 and segments("ç" * 71) == 2  # not in GSM-7: UCS-2
    assert fits_one_gsm7_message("Sunrise Therapy: $120.00 due. Pay: https://pay.example/p/x")
    assert not fits_one_gsm7_message("Pagar ahora: 120,00 US$ — gracias")
