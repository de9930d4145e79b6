"""EMAIL_MAX_PER_SECOND is the Temporal server's rate for the email task queue, shared by every
worker polling it: two worker processes (two workers on their own connections here) set to 2
per second deliver 12 request emails no faster than 2 per second together, not 4, where the
same two workers without the limit deliver them at once."""

from __future__ import annotations

import uuid
from dataclasses import replace

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support import Harness, eventually
from workflows.payment_request import PaymentRequestWorkflow, email_task_queue
from workflows.types import workflow_id

RATE = 2.0
EMAILS = 12


async def email_span(h: Harness, rate: float | None) -> float:
    """Seconds from the first to the last of EMAILS request emails, sent by two workers."""
    h.smtp.reset()
    h = replace(h, task_queue=f"tq-{uuid.uuid4().hex[:8]}")
    # a second process: its own connection (the SDK refuses two workers of one queue on one)
    second = await Client.connect(
        h.client.service_client.config.target_host,
        namespace=h.client.namespace,
        data_converter=h.client.data_converter,
    )
    other = replace(h, client=second)
    async with h.worker(email_max_per_second=rate), other.worker(email_max_per_second=rate):
        for n in range(EMAILS):
            inp = h.request_input(emails=(f"patient{n}@example.com",))
            await h.client.start_workflow(
                PaymentRequestWorkflow.run,
                inp,
                id=workflow_id(inp.request_id),
                task_queue=h.task_queue,
            )
        await eventually(lambda: len(h.smtp.messages) == EMAILS, timeout=60)
    times = sorted(m.at for m in h.smtp.messages)
    return times[-1] - times[0]


async def test_two_workers_share_one_email_rate(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    h = replace(harness, client=dev_server.client)
    assert email_task_queue(h.task_queue) == f"{h.task_queue}-email"
    unlimited = await email_span(h, None)
    limited = await email_span(h, RATE)
    # The server's token bucket lets a burst of up to RATE through at once; after it, at most
    # one email per 1/RATE seconds across both workers. Two per-worker limits would let twice
    # as many through.
    floor = (EMAILS - 1 - RATE) / RATE
    print(
        f"{EMAILS} emails over 2 workers: {unlimited:.2f} s unlimited, "
        f"{limited:.2f} s at {RATE}/s (floor {floor:.2f} s)"
    )
    assert unlimited < floor <= limited
