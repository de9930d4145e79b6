"""The worker's composition root: settings in, a running Temporal worker out."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

import asyncpg
import httpx
import stripe
from temporalio.client import Client
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.email import EmailActivities
from activities.read_model import ReadModelActivities
from activities.reconcile import ReconcileActivities
from activities.sms import SmsActivities
from activities.stripe import StripeActivities
from activities.webhooks import WebhookActivities
from payreq import db
from payreq.codec import Keyring
from payreq.components import create_pool, smtp_config, stripe_client, twilio_gateway
from payreq.egress import safe_client
from payreq.health import database_and_temporal, health_server
from payreq.logs import ActivityLogInterceptor, setup_logging
from payreq.pay_links import PayLinks
from payreq.settings import ConfigError, Settings, load_settings
from payreq.smtp import SmtpConfig
from payreq.temporal import connect_temporal, keyring, workflow_runner
from workflows.outbound import outbound_task_queue
from workflows.payment_request import PaymentRequestWorkflow, email_task_queue
from workflows.reconcile import ReconcileWorkflow

GRACEFUL_SHUTDOWN = timedelta(seconds=30)
WEBHOOK_TIMEOUT_SECONDS = 15.0
# How long a workflow task waits on this worker's sticky queue before the server hands it to
# any worker (which replays the run from its full history). The SDK's 10 s expired under
# bursts on 2 cores (WORKFLOW_TASK_TIMED_OUT, then full replays that made the backlog worse).
# A worker that stops gracefully gives its sticky queue back at once; only a crashed one
# leaves its runs waiting this long.
STICKY_SCHEDULE_TO_START = timedelta(seconds=30)
log = logging.getLogger("payreq.worker")


def build_worker(
    client: Client,
    *,
    task_queue: str,
    pool: asyncpg.Pool,
    smtp: SmtpConfig,
    stripe: stripe.StripeClient,
    public_base_url: str,
    keyring: Keyring,
    http: httpx.AsyncClient,
    max_concurrent_activities: int = 100,  # the SDK's default
    max_concurrent_local_activities: int = 100,  # the SDK's default
    sms: SmsActivities | None = None,
    runner: WorkflowRunner | None = None,
) -> Worker:
    """The main task queue's worker; run build_email_worker and build_outbound_worker beside
    it. `sms` only when Twilio is configured: without it no request is created texting.
    `runner` defaults to the SDK's full sandbox (what the tests run); the process takes
    WORKFLOW_SANDBOX's (run())."""
    read_model = ReadModelActivities(pool, PayLinks(keyring, public_base_url))
    email = EmailActivities(pool, smtp)
    payments = StripeActivities(pool, stripe)
    webhooks = WebhookActivities(pool, http)
    reconcile = ReconcileActivities(pool, stripe)
    texts: list[Callable[..., object]] = [sms.render_text, sms.send_text] if sms else []
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[PaymentRequestWorkflow, ReconcileWorkflow],
        activities=[
            read_model.record_request,
            read_model.save_request,
            # Emails run on the email queue (build_email_worker); scheduled here only by
            # releases before it, whose pending attempts and retries still need a worker.
            email.send_email,
            email.give_up_email,
            payments.refund_payment,
            webhooks.mark_events_undeliverable,
            reconcile.reconcile_payments,
            *texts,
        ],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        interceptors=[ActivityLogInterceptor()],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=max_concurrent_local_activities,
        workflow_runner=runner or SandboxedWorkflowRunner(),
        sticky_queue_schedule_to_start_timeout=STICKY_SCHEDULE_TO_START,
    )


def build_email_worker(
    client: Client,
    *,
    task_queue: str,
    pool: asyncpg.Pool,
    smtp: SmtpConfig,
    max_concurrent: int = 100,
    max_per_second: float | None = None,
) -> Worker:
    """`send_email` on its own task queue (email_task_queue(task_queue)). `max_per_second` is
    the server's limit for that queue, shared by every worker polling it (EMAIL_MAX_PER_SECOND):
    a per-worker limit would multiply with the fleet."""
    email = EmailActivities(pool, smtp)
    return _activity_worker(
        client,
        email_task_queue(task_queue),
        [email.send_email],
        max_concurrent=max_concurrent,
        max_per_second=max_per_second,
    )


def build_outbound_worker(
    client: Client,
    *,
    task_queue: str,
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    max_concurrent: int = 20,
) -> Worker:
    """`deliver_events` on its own task queue (outbound_task_queue(task_queue)): at most
    `max_concurrent` deliveries at once, none of them holding the main queue's slots."""
    webhooks = WebhookActivities(pool, http)
    return _activity_worker(
        client,
        outbound_task_queue(task_queue),
        [webhooks.deliver_events],
        max_concurrent=max_concurrent,
    )


def _activity_worker(
    client: Client,
    task_queue: str,
    activities: Sequence[Callable[..., object]],
    *,
    max_concurrent: int,
    max_per_second: float | None = None,
) -> Worker:
    """A worker of activities only, on a task queue of their own beside the main one."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=activities,
        max_concurrent_activities=max_concurrent,
        max_task_queue_activities_per_second=max_per_second,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        interceptors=[ActivityLogInterceptor()],
    )


async def run(settings: Settings, *, migrate: bool = False) -> None:
    client = await connect_temporal(settings)
    pool = await create_pool(
        settings, max_size=settings.worker_db_pool_size, application_name="payreq-worker"
    )
    http = safe_client(
        allow_loopback=settings.webhook_allow_loopback, timeout=WEBHOOK_TIMEOUT_SECONDS
    )
    try:
        if migrate:
            async with pool.acquire() as conn:
                await db.migrate(conn)
        worker = build_worker(
            client,
            task_queue=settings.temporal_task_queue,
            pool=pool,
            smtp=smtp_config(settings),
            stripe=stripe_client(settings),
            public_base_url=settings.public_base_url,
            keyring=keyring(settings),
            http=http,
            sms=_sms_activities(settings, pool),
            # one pool connection per read-model transaction: no more in flight than connections
            max_concurrent_local_activities=settings.worker_db_pool_size,
            runner=workflow_runner(settings.workflow_sandbox),
        )
        emails = build_email_worker(
            client,
            task_queue=settings.temporal_task_queue,
            pool=pool,
            smtp=smtp_config(settings),
            max_per_second=settings.email_max_per_second,
        )
        outbound = build_outbound_worker(
            client,
            task_queue=settings.temporal_task_queue,
            pool=pool,
            http=http,
            max_concurrent=settings.webhook_max_concurrent_deliveries,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        probes = database_and_temporal(pool, client)
        health = health_server(settings.worker_health_host, settings.worker_health_port, probes)
        async with worker, emails, outbound, health:
            log.info("worker running on task queue %s", settings.temporal_task_queue)
            await stop.wait()
            log.info("shutting down: finishing in-flight activities")
    finally:
        await http.aclose()
        await pool.close()


def _sms_activities(settings: Settings, pool: asyncpg.Pool) -> SmsActivities | None:
    gateway = twilio_gateway(settings)
    return SmsActivities(pool, gateway) if gateway else None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings()
        setup_logging(settings)
        asyncio.run(run(settings, migrate="--migrate" in (argv or sys.argv[1:])))
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
