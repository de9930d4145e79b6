"""Shared pieces of the test harness: real servers on loopback, started once per session."""

from __future__ import annotations

import asyncio
import base64
import compileall
import email
import email.policy
import functools
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import stripe
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.sms import SmsActivities
from api.app import create_app
from api.deps import AppDeps
from payreq.codec import Keyring
from payreq.dev.servers import fake_stripe_argv
from payreq.egress import safe_client
from payreq.pay_links import PayLinks
from payreq.practices import create_practice
from payreq.settings import Settings
from payreq.smtp import SmtpConfig
from payreq.stripe.client import make_client
from worker import build_email_worker, build_outbound_worker, build_worker
from workflows.types import PaymentRequestInput, ReminderPolicy

BIN_DIR = Path(sys.executable).parent
# The SDK waits 5 s for the dev server by default: too little beside a loaded suite on 2 cores.
DEV_SERVER_STARTUP = timedelta(seconds=30)
PUBLIC_BASE_URL = "http://127.0.0.1:8000"
STRIPE_KEY = "sk_test_payreq"


REPO = Path(__file__).resolve().parents[1]
CODE_DIRS = ("workflows", "activities", "api", "payreq", "tests")


def compile_bytecode() -> None:
    """Write current bytecode for the repository's code, as deploy/Dockerfile does at build.
    The workflow sandbox imports the workflow modules afresh for every run; without a current
    .pyc (a fresh clone, or an edited file under PYTHONDONTWRITEBYTECODE, which this machine
    sets) each run compiles them from source (importlib's source_to_code in py-spy): 9.2 against
    2.9 ms of CPU per PaymentRequestWorkflow instance (tests/bench/sandbox.py). compileall
    writes whatever that variable says."""
    for name in CODE_DIRS:
        compileall.compile_dir(REPO / name, quiet=1, workers=1)
    compileall.compile_file(REPO / "worker.py", quiet=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    """A message as the SMTP server accepted it, parsed only when something reads it (a load
    driver that only counts messages never pays for parsing them)."""

    envelope_from: str
    rcpt_tos: list[str]
    raw: bytes
    at: float = field(default_factory=time.monotonic)  # when the server accepted it

    @functools.cached_property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    """An aiosmtpd handler that keeps every message and can be told to refuse addresses."""

    messages: list[Received] = field(default_factory=list)
    # address -> SMTP codes to answer RCPT with, one per attempt; empty means accept
    scripted: dict[str, list[int]] = field(default_factory=dict)
    # cleared: every RCPT waits for an answer until it is set again (an SMTP server that hangs)
    answering: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.answering.is_set():
            await asyncio.to_thread(self.answering.wait)
        with self.lock:
            codes = self.scripted.get(address)
            code = codes.pop(0) if codes else 250
        if code >= 400:
            return f"{code} {'4.4.1 try again later' if code < 500 else '5.1.1 no such user'}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        with self.lock:
            self.messages.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 Message accepted for delivery"

    def __post_init__(self) -> None:
        self.answering.set()

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.messages if address in r.rcpt_tos]

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.scripted.clear()
            self.answering.set()


def start_smtp() -> tuple[Controller, RecordingHandler]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller, handler


@contextmanager
def local_smtp() -> Iterator[tuple[RecordingHandler, SmtpConfig]]:
    """A recording aiosmtpd server and the config that sends to it, stopped on exit."""
    controller, handler = start_smtp()
    try:
        yield (
            handler,
            SmtpConfig(
                host="127.0.0.1",
                port=controller.port,
                mail_from="billing@payreq.test",
                timeout_seconds=10,
            ),
        )
    finally:
        controller.stop()


def start_fake_stripe(state_file: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    args = fake_stripe_argv(port, state_file)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/js.stripe.com/v3/", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("localstripe did not start")


def stripe_client(base: str) -> stripe.StripeClient:
    return make_client(STRIPE_KEY, base)


async def create_succeeded_intent(
    client: stripe.StripeClient, amount: int, request_id: str = ""
) -> str:
    """A real PaymentIntent in localstripe, charged with a test card."""
    intent = await client.v1.payment_intents.create_async(
        {
            "amount": amount,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "allowed_payment_method_types": ["card"],
            "metadata": {"payment_request_id": request_id},
        }
    )
    assert intent.status == "succeeded", intent.status
    return intent.id


@dataclass
class Harness:
    """What a test needs to run requests end to end on real components."""

    client: Client
    pool: asyncpg.Pool
    smtp: RecordingHandler
    smtp_config: SmtpConfig
    stripe: stripe.StripeClient
    practice_id: str
    api_key: str
    task_queue: str = field(default_factory=lambda: f"tq-{uuid.uuid4().hex[:8]}")

    @asynccontextmanager
    async def worker(
        self,
        max_concurrent_activities: int = 100,
        outbound_max_concurrent: int = 20,
        sms: SmsActivities | None = None,
        email_max_per_second: float | None = None,
        public_base_url: str = PUBLIC_BASE_URL,
    ) -> AsyncIterator[Worker]:
        """The main worker and, beside it, the email and outbound-deliveries workers (as
        worker.run)."""
        async with safe_client(allow_loopback=True, timeout=5) as http:
            w = build_worker(
                self.client,
                task_queue=self.task_queue,
                pool=self.pool,
                smtp=self.smtp_config,
                stripe=self.stripe,
                public_base_url=public_base_url,
                keyring=Keyring.parse(TEST_PAYLOAD_KEY),
                http=http,
                max_concurrent_activities=max_concurrent_activities,
                sms=sms,
            )
            emails = build_email_worker(
                self.client,
                task_queue=self.task_queue,
                pool=self.pool,
                smtp=self.smtp_config,
                max_per_second=email_max_per_second,
            )
            outbound = build_outbound_worker(
                self.client,
                task_queue=self.task_queue,
                pool=self.pool,
                http=http,
                max_concurrent=outbound_max_concurrent,
            )
            async with w, emails, outbound:
                yield w

    def request_input(self, **overrides: object) -> PaymentRequestInput:
        values: dict[str, object] = dict(
            request_id=f"pr_{uuid.uuid4().hex[:16]}",
            practice_id=self.practice_id,
            patient_id="pt_123",
            first_name="Maria",
            last_name="Lopez",
            facility_id="fac_1",
            facility_name="Downtown Clinic",
            emails=("maria@example.com",),
            note="For visits on Nov 3 and Nov 10.",
            currency="usd",
            amount=12000,
            created_at=datetime.now(UTC),
            policy=ReminderPolicy(),
        )
        values.update(overrides)
        return PaymentRequestInput(**values)  # type: ignore[arg-type]


def make_app(harness: Harness, settings: Settings, pool: asyncpg.Pool | None = None) -> FastAPI:
    """The real ASGI app on the harness's clients (its own pool when given: a second replica)."""
    deps = AppDeps(
        settings=settings,
        pool=pool or harness.pool,
        temporal=harness.client,
        stripe=harness.stripe,
        task_queue=harness.task_queue,
    )
    app = create_app(deps=deps)
    app.state.deps = deps
    return app


def practice_client(app: FastAPI, api_key: str) -> httpx.AsyncClient:
    """An in-process client of the app with the practice's key as its Authorization."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {api_key}"},
    )


async def seed_practice(pool: asyncpg.Pool, name: str = "Sunrise Therapy") -> tuple[str, str]:
    async with pool.acquire() as conn:
        return await create_practice(conn, name, reply_to="billing@sunrise.example")


async def eventually(check, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async or sync check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


WEBHOOK_SECRET = "whsec_payreq_test"
TWILIO_AUTH_TOKEN = "twilio-test-token"
# Every test runs with payload encryption on: a fixed two-key ring (newest first).
TEST_PAYLOAD_KEY = (
    "test2:"
    + base64.b64encode(b"payreq-test-key-2".ljust(32, b"2")).decode()
    + ",test1:"
    + base64.b64encode(b"payreq-test-key-1".ljust(32, b"1")).decode()
)


def test_links() -> PayLinks:
    """The pay links the test worker and API derive (the test keyring, the test base URL)."""
    return PayLinks(Keyring.parse(TEST_PAYLOAD_KEY), PUBLIC_BASE_URL)


def test_settings(database_url: str, smtp: SmtpConfig, stripe_base: str) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_address="127.0.0.1:0",  # unused: tests hand the app their own client
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        mail_from=smtp.mail_from,
        public_base_url=PUBLIC_BASE_URL,
        stripe_secret_key=STRIPE_KEY,  # type: ignore[arg-type]
        stripe_publishable_key="pk_test_payreq",
        stripe_webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
        twilio_auth_token=TWILIO_AUTH_TOKEN,  # type: ignore[arg-type]
        stripe_api_base=stripe_base,
        payload_encryption_key=TEST_PAYLOAD_KEY,  # type: ignore[arg-type]
        webhook_allow_loopback=True,  # the receivers in tests listen on 127.0.0.1
    )


_BUSY_EVENTS = {
    "workflow_task_scheduled_event_attributes",
    "workflow_task_started_event_attributes",
    "activity_task_scheduled_event_attributes",
    "activity_task_started_event_attributes",
}


async def wait_idle(handle: WorkflowHandle[Any, Any], timeout: float = 20.0) -> None:
    """Wait until the workflow has no task or activity in flight. Skipping time on the
    time-skipping server while an activity runs makes that activity time out, so tests call
    this before env.sleep()."""

    async def idle() -> bool:
        events = (await handle.fetch_history()).events
        open_activities: set[int] = set()
        for e in events:
            kind = e.WhichOneof("attributes")
            if kind == "activity_task_scheduled_event_attributes":
                open_activities.add(e.event_id)
            elif kind and kind.startswith("activity_task_") and kind not in _BUSY_EVENTS:
                attrs = getattr(e, kind)
                open_activities.discard(attrs.scheduled_event_id)
        last = events[-1].WhichOneof("attributes") if events else None
        return not open_activities and last not in _BUSY_EVENTS and not _open_children(events)

    await eventually(idle, timeout=timeout)


def _open_children(events: Sequence[HistoryEvent]) -> set[int]:
    pending: set[int] = set()
    for e in events:
        kind = e.WhichOneof("attributes")
        if kind == "start_child_workflow_execution_initiated_event_attributes":
            pending.add(e.event_id)
        elif kind in (
            "child_workflow_execution_started_event_attributes",
            "start_child_workflow_execution_failed_event_attributes",
        ):
            pending.discard(getattr(e, kind).initiated_event_id)
    return pending


HISTORIES_DIR = Path(__file__).resolve().parent / "histories"


async def keep_history(handle: WorkflowHandle[Any, Any], name: str) -> None:
    """With PAYREQ_RECORD_HISTORIES=1, save this run's history for the replay test. Histories
    are re-recorded only on purpose: replaying the old ones is what catches a change that
    breaks determinism for workflows already running in production."""
    if os.environ.get("PAYREQ_RECORD_HISTORIES") != "1":
        return
    HISTORIES_DIR.mkdir(exist_ok=True)
    history = await handle.fetch_history()
    (HISTORIES_DIR / f"{name}.json").write_text(history.to_json())
