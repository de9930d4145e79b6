"""Reminders on the time-skipping server, with the real worker, Postgres and aiosmtpd: days
3, 7, 14 and 30 at the practice's local send time, off weekends, then expiry on day 60;
payment, pause, resend and time zones. The expected instants are worked out here from the
calendar, independently of workflows/schedule.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.support import Harness, eventually, wait_idle
from worker import build_email_worker
from workflows.payment_request import PaymentRequestWorkflow
from workflows.schedule import REMINDER_SPREAD, reminder_spread
from workflows.types import (
    ChangeInput,
    PaymentReceived,
    ReminderPolicy,
    RequestState,
    ResendInput,
    Status,
    workflow_id,
)

MONDAY, WEDNESDAY = 0, 2
MARIA = "maria@example.com"
MINUTE = timedelta(minutes=1)


async def skip_to_weekday(env: WorkflowEnvironment, weekday: int, hour: int) -> datetime:
    """Moves the test server's clock to the next `weekday` at `hour`:00 UTC."""
    now = await env.get_current_time()
    target = datetime.combine(now.date() + timedelta(days=1), time(hour), tzinfo=UTC)
    while target.weekday() != weekday:
        target += timedelta(days=1)
    await env.sleep(target - now)
    return await env.get_current_time()


async def skip_to(env: WorkflowEnvironment, instant: datetime) -> None:
    await env.sleep(max(instant - await env.get_current_time(), timedelta(0)))


def expected(
    anchor: datetime,
    days: int,
    policy: ReminderPolicy,
    handle: WorkflowHandle[PaymentRequestWorkflow, RequestState],
) -> datetime:
    """`days` calendar days after the anchor's local date, at the local send time, with
    Saturday and Sunday moved to the Monday, plus the request's own offset (tests/unit)."""
    zone = ZoneInfo(policy.timezone)
    day: date = anchor.astimezone(zone).date() + timedelta(days=days)
    if not policy.weekends_allowed:
        day += timedelta(days={5: 2, 6: 1}.get(day.weekday(), 0))
    local = datetime(day.year, day.month, day.day, policy.send_hour, policy.send_minute)
    offset = reminder_spread(handle.id.removeprefix("payment-request-"))
    assert timedelta(0) <= offset < REMINDER_SPREAD
    return local.replace(tzinfo=zone).astimezone(UTC) + offset


async def state(handle: WorkflowHandle[PaymentRequestWorkflow, RequestState]) -> RequestState:
    st: RequestState = await handle.query(PaymentRequestWorkflow.state)
    return st


async def start(
    h: Harness, created_at: datetime, policy: ReminderPolicy
) -> WorkflowHandle[PaymentRequestWorkflow, RequestState]:
    inp = h.request_input(emails=(MARIA,), created_at=created_at, policy=policy)
    handle = await h.client.start_workflow(
        PaymentRequestWorkflow.run, inp, id=workflow_id(inp.request_id), task_queue=h.task_queue
    )

    async def sent() -> bool:
        return (await state(handle)).status == Status.SENT

    await eventually(sent, timeout=20)
    return handle


def reminders(h: Harness) -> list[str]:
    return [m["Subject"] for m in h.smtp.to(MARIA) if m["Subject"].startswith("Reminder")]


async def reminder_arrives_at(
    env: WorkflowEnvironment,
    h: Harness,
    handle: WorkflowHandle[PaymentRequestWorkflow, RequestState],
    at: datetime,
) -> None:
    """Nothing a minute before `at`; the reminder a minute after."""
    count = len(reminders(h))
    assert (await state(handle)).next_reminder_at == at
    await skip_to(env, at - MINUTE)
    assert len(reminders(h)) == count and (await state(handle)).reminders_sent == count
    await skip_to(env, at + MINUTE)
    await eventually(lambda: len(reminders(h)) == count + 1, timeout=20)


async def reminder_event_times(h: Harness, request_id: str) -> list[datetime]:
    rows = await h.pool.fetch(
        """SELECT at FROM request_events WHERE payment_request_id = $1
           AND type = 'email_accepted' AND detail LIKE 'reminder %' ORDER BY seq""",
        request_id,
    )
    return [r["at"] for r in rows]


async def test_unpaid_request_is_reminded_on_days_3_7_14_30_and_expires_on_day_60(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    policy = ReminderPolicy()  # UTC, 10:00, no weekends, days 3/7/14/30, expires after 60
    async with h.worker():
        created = await skip_to_weekday(ts_env, WEDNESDAY, 15)
        handle = await start(h, created, policy)
        instants = [expected(created, d, policy, handle) for d in (3, 7, 14, 30)]
        # day 3 is a Saturday: the Monday, day 5; day 30 is a Friday
        assert [(i - created).days for i in instants] == [4, 6, 13, 29]
        assert instants[0].weekday() == MONDAY
        for at in instants:
            await reminder_arrives_at(ts_env, h, handle, at)
        st = await state(handle)
        assert st.reminders_sent == 4 and st.next_reminder_at is None
        request_id = st.request_id
        for at, recorded in zip(instants, await reminder_event_times(h, request_id), strict=True):
            assert at <= recorded < at + MINUTE

        assert st.expires_at == created + timedelta(days=60)
        await skip_to(ts_env, st.expires_at - MINUTE)
        assert (await state(handle)).status == Status.SENT
        result: RequestState = await handle.result()  # the server skips to the next timer
        assert result.status == Status.EXPIRED and result.reminders_sent == 4
        assert len(reminders(h)) == 4
        closed_at = await h.pool.fetchval(
            "SELECT closed_at FROM payment_requests WHERE id = $1", request_id
        )
        assert st.expires_at <= closed_at < st.expires_at + MINUTE


async def test_paid_on_day_5_gets_exactly_one_reminder_and_a_receipt(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    policy = ReminderPolicy()
    async with h.worker():
        created = await skip_to_weekday(ts_env, MONDAY, 15)
        handle = await start(h, created, policy)
        await reminder_arrives_at(
            ts_env, h, handle, expected(created, 3, policy, handle)
        )  # Thursday
        await skip_to(ts_env, created + timedelta(days=5))
        await handle.signal(PaymentRequestWorkflow.payment_received, paid(12000))
        result: RequestState = await handle.result()
        assert result.status == Status.PAID and result.reminders_sent == 1
        subjects = [m["Subject"] for m in h.smtp.to(MARIA)]
        assert subjects == [
            "Sunrise Therapy: payment request for $120.00",
            "Reminder from Sunrise Therapy: $120.00 due",
            "Sunrise Therapy: receipt for $120.00, paid in full",
        ]


def paid(amount: int) -> PaymentReceived:
    return PaymentReceived(payment_id="pi_day5", amount=amount, at=datetime.now(UTC))


async def test_a_paused_request_gets_no_reminder_until_resumed(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    policy = ReminderPolicy()
    async with h.worker():
        created = await skip_to_weekday(ts_env, MONDAY, 15)
        handle = await start(h, created, policy)
        paused = await handle.execute_update(
            PaymentRequestWorkflow.change, ChangeInput(reminders_paused=True)
        )
        assert paused.reminders_paused and paused.next_reminder_at is None
        await skip_to(ts_env, created + timedelta(days=20))
        assert reminders(h) == [] and (await state(handle)).reminders_sent == 0

        resumed = await handle.execute_update(
            PaymentRequestWorkflow.change, ChangeInput(reminders_paused=False)
        )
        resumed_at = await ts_env.get_current_time()
        # The schedule starts over from the resume: its first step is 3 days later.
        at = expected(resumed_at, 3, policy, handle)
        assert resumed.next_reminder_at == at
        await reminder_arrives_at(ts_env, h, handle, at)
        await handle.cancel()


@pytest.mark.parametrize(
    ("zone", "hour", "minute"), [("America/Los_Angeles", 10, 0), ("Asia/Tokyo", 9, 30)]
)
async def test_reminders_go_out_at_the_practices_local_send_time(
    harness: Harness, ts_env: WorkflowEnvironment, zone: str, hour: int, minute: int
) -> None:
    h = harness
    policy = ReminderPolicy(timezone=zone, send_hour=hour, send_minute=minute)
    async with h.worker():
        created = await skip_to_weekday(ts_env, WEDNESDAY, 15)
        handle = await start(h, created, policy)
        for days in (3, 7):
            at = expected(created, days, policy, handle)
            local = at.astimezone(ZoneInfo(zone))
            send_time = local.replace(hour=hour, minute=minute, second=0)
            assert send_time <= local < send_time + REMINDER_SPREAD and local.weekday() < 5
            await reminder_arrives_at(ts_env, h, handle, at)
        await handle.cancel()


async def test_resend_sends_now_and_the_schedule_continues_from_the_resend(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    h = harness
    policy = ReminderPolicy()
    async with h.worker():
        created = await skip_to_weekday(ts_env, WEDNESDAY, 15)
        handle = await start(h, created, policy)
        await reminder_arrives_at(ts_env, h, handle, expected(created, 3, policy, handle))
        await skip_to(ts_env, created + timedelta(days=6))
        resent = await handle.execute_update(PaymentRequestWorkflow.resend, ResendInput())
        resent_at = await ts_env.get_current_time()
        # request, reminder, request again (resend answers first; the workflow then sends)
        await eventually(lambda: len(h.smtp.to(MARIA)) == 3)
        await wait_idle(handle)
        # Day 3 of the schedule was reached; day 7 comes 4 days after the resend.
        at = expected(resent_at, 7 - 3, policy, handle)
        assert resent.next_reminder_at == at
        await reminder_arrives_at(ts_env, h, handle, at)
        await handle.cancel()


@asynccontextmanager
async def uncached_worker(h: Harness) -> AsyncIterator[None]:
    """The real worker without a workflow cache, so no task waits on a sticky queue of a
    worker that has stopped: the next worker picks the workflow up at once."""
    async with h.worker() as real:
        config = real.config()
    config["max_cached_workflows"] = 0
    emails = build_email_worker(h.client, task_queue=h.task_queue, pool=h.pool, smtp=h.smtp_config)
    async with Worker(**config), emails:
        yield


async def test_no_reminder_when_the_payment_lands_in_the_same_instant_as_the_timer(
    harness: Harness, ts_env: WorkflowEnvironment
) -> None:
    """The timer fires and the payment arrives while no worker runs, so the workflow sees
    both in one activation: the payment wins, and no reminder goes out after it."""
    h = harness
    policy = ReminderPolicy()
    async with uncached_worker(h):
        created = await skip_to_weekday(ts_env, MONDAY, 15)
        handle = await start(h, created, policy)
    # Once the timer fires with no worker to run the task, the server's clock only moves in
    # real time: stop just past the instant.
    await skip_to(ts_env, expected(created, 3, policy, handle) + timedelta(seconds=1))
    await handle.signal(PaymentRequestWorkflow.payment_received, paid(12000))
    # A cached worker now: the first one kept no sticky queue, so this one gets the task at
    # once. (An uncached one sometimes never polled the task after the receipt's activity.)
    async with h.worker():
        result: RequestState = await handle.result()
    assert result.status == Status.PAID and result.reminders_sent == 0
    assert reminders(h) == []
