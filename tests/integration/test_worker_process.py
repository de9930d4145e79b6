"""The worker as an operator runs it: a process that refuses bad configuration in one line and
shuts down cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support import TEST_PAYLOAD_KEY, Harness, eventually

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    env.update(values)
    return env


@pytest.mark.parametrize(
    ("missing", "bad", "expected"),
    [
        ("DATABASE_URL", {}, "configuration error: DATABASE_URL: Field required"),
        ("", {"SMTP_PORT": "not-a-port"}, "configuration error: SMTP_PORT:"),
        ("", {"PAYLOAD_ENCRYPTION_KEY": "garbage"}, "PAYLOAD_ENCRYPTION_KEY"),
    ],
)
async def test_bad_configuration_stops_the_worker_with_one_line(
    missing: str, bad: dict[str, str], expected: str
) -> None:
    values = {
        "DATABASE_URL": "postgresql://localhost/none",
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "SMTP_HOST": "127.0.0.1",
        "MAIL_FROM": "a@b.example",
        "PUBLIC_BASE_URL": "http://x",
        "PAYLOAD_ENCRYPTION_KEY": TEST_PAYLOAD_KEY,
        "STRIPE_SECRET_KEY": "sk_test_x",
    }
    values.pop(missing, None)
    values.update(bad)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env=worker_env(**values),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1 and expected in lines[0], lines


async def test_sigterm_stops_the_worker_gracefully(
    harness: Harness, database_url: str, dev_server: WorkflowEnvironment
) -> None:
    target = dev_server.client.service_client.config.target_host
    smtp = harness.smtp_config
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        cwd=ROOT,
        env=worker_env(
            DATABASE_URL=database_url,
            TEMPORAL_ADDRESS=target,
            SMTP_HOST=smtp.host,
            SMTP_PORT=str(smtp.port),
            MAIL_FROM=smtp.mail_from,
            PUBLIC_BASE_URL="http://x",
            PAYLOAD_ENCRYPTION_KEY=TEST_PAYLOAD_KEY,
            STRIPE_SECRET_KEY="sk_test_x",
            TEMPORAL_TASK_QUEUE=harness.task_queue,
            LOG_FORMAT="text",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            seen.append(line.decode())

    reader = asyncio.create_task(read())
    await eventually(lambda: any("worker running" in line for line in seen), timeout=30)
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(proc.wait(), 40)
    await reader
    assert code == 0, "".join(seen)
    assert any("shutting down" in line for line in seen)
