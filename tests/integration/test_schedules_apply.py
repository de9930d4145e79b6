"""The reconciliation schedule is applied by `payreq migrate` (through `payreq schedules
apply`), once per deploy, not by every worker that starts: on the real dev server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment

from activities.reconcile import SCHEDULE_ID
from tests.integration.test_worker_process import worker_env
from tests.support import TEST_PAYLOAD_KEY, Harness, eventually

ROOT = Path(__file__).resolve().parents[2]


def _env(h: Harness, database_url: str, dev: WorkflowEnvironment) -> dict[str, str]:
    return worker_env(
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=dev.client.service_client.config.target_host,
        SMTP_HOST=h.smtp_config.host,
        SMTP_PORT=str(h.smtp_config.port),
        MAIL_FROM=h.smtp_config.mail_from,
        PUBLIC_BASE_URL="http://x",
        PAYLOAD_ENCRYPTION_KEY=TEST_PAYLOAD_KEY,
        STRIPE_SECRET_KEY="sk_test_x",
        TEMPORAL_TASK_QUEUE=h.task_queue,
        LOG_FORMAT="text",
    )


async def _schedules(dev: WorkflowEnvironment) -> list[str]:
    return [s.id async for s in await dev.client.list_schedules()]


async def test_a_worker_start_applies_no_schedule_and_migrate_applies_it_once(
    harness: Harness, database_url: str, dev_server: WorkflowEnvironment
) -> None:
    env = _env(harness, database_url, dev_server)
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert worker.stdout is not None
    try:
        line = b""
        while b"worker running" not in line:
            line = await asyncio.wait_for(worker.stdout.readline(), 30)
            assert line, "the worker exited"
        await asyncio.sleep(1)  # the list is eventually consistent
        assert SCHEDULE_ID not in await _schedules(dev_server)
        for _ in range(2):  # twice: a second deploy updates the schedule, adds none
            migrate = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "payreq"),
                "migrate",
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(migrate.communicate(), 60)
            assert migrate.returncode == 0, out.decode()
            assert f"schedule {SCHEDULE_ID}: applied" in out.decode(), out.decode()
        await eventually(lambda: _has_one(dev_server), timeout=10)
        desc = await dev_server.client.get_schedule_handle(SCHEDULE_ID).describe()
        assert isinstance(desc.schedule.action, ScheduleActionStartWorkflow)
        assert desc.schedule.action.task_queue == harness.task_queue
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 40)


async def _has_one(dev: WorkflowEnvironment) -> bool:
    return (await _schedules(dev)).count(SCHEDULE_ID) == 1
