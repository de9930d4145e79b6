"""The two baselines of the lifecycle benchmark, and their worker (run as its own process,
like the service's: `python -m tests.bench.bare ADDRESS TASK_QUEUE`).

(a) BareRequestWorkflow: the *same* sequence of activities, timers, signals and
    search-attribute upserts as PaymentRequestWorkflow for one request paid in two payments,
    with no-op bodies: what remains is the engine's cost of the service's shape. When the
    practice has a webhook endpoint (`BareInput.deliveries`), each save with events starts one
    delivery activity in the background and the workflow completes once they are done, as the
    service does.
(b) MinimalWorkflow: start, one no-op activity, two signals, complete.

Same Temporal server, same data converter (pydantic + AES-GCM codec), the worker options of
worker.py's build_worker, and the same workflow runner as the service's worker under test
(`python -m tests.bench.bare ADDRESS TASK_QUEUE [full|passthrough|off]`, WORKFLOW_SANDBOX's
values; the SDK's full sandbox when not given)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from workflows.types import SA_AMOUNT_REMAINING, SA_NEXT_ACTION_AT, SA_PRACTICE, SA_STATUS

TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Pay:
    amount: int


@dataclass(frozen=True)
class BareInput:
    amount: int
    deliveries: bool  # the practice has a webhook endpoint: one delivery activity per save


@activity.defn(name="bare_noop")
async def bare_noop(_: str) -> str:
    return ""


@workflow.defn
class BareRequestWorkflow:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._remaining = 0
        self._recorded = False
        self._sent = False
        self._wake = False
        self._deliveries: set[asyncio.Task[None]] = set()
        self._with_deliveries = False

    async def _save(self) -> None:
        await workflow.execute_local_activity(bare_noop, "save", start_to_close_timeout=TIMEOUT)
        workflow.upsert_search_attributes(
            [
                SA_STATUS.value_set("partially_paid"),
                SA_PRACTICE.value_set("prc_bench"),
                SA_AMOUNT_REMAINING.value_set(self._remaining),
                SA_NEXT_ACTION_AT.value_set(workflow.now() + timedelta(days=3)),
            ]
        )

    async def _email(self) -> None:
        await workflow.execute_activity(bare_noop, "email", start_to_close_timeout=TIMEOUT)
        async with self._lock:
            await self._save()

    def _deliver(self) -> None:
        if not self._with_deliveries:
            return
        task = asyncio.create_task(self._delivery())
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _delivery(self) -> None:
        await workflow.execute_activity(bare_noop, "deliver", start_to_close_timeout=TIMEOUT)

    @workflow.run
    async def run(self, inp: BareInput) -> int:
        self._remaining = inp.amount
        self._with_deliveries = inp.deliveries
        async with self._lock:  # record_request
            await workflow.execute_local_activity(
                bare_noop, "record", start_to_close_timeout=TIMEOUT
            )
            self._recorded = True
        await self._email()  # the request email
        self._sent = True
        while self._remaining > 0:
            self._wake = False
            with contextlib.suppress(TimeoutError):  # the reminder/expiry timer
                await workflow.wait_condition(
                    lambda: self._wake or self._remaining <= 0, timeout=timedelta(days=3)
                )
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._deliveries
        )
        return self._remaining

    @workflow.update
    async def await_created(self, _: str) -> int:
        await workflow.wait_condition(lambda: self._sent)  # returns once phase 1 is done
        return self._remaining

    @workflow.signal
    async def payment_received(self, pay: Pay) -> None:
        await workflow.wait_condition(lambda: self._recorded)
        async with self._lock:
            self._remaining -= pay.amount
            await self._save()
            self._deliver()  # payment.succeeded (and payment_request.paid: the same save)
        await self._email()  # "payment received" or the receipt
        self._wake = True


@workflow.defn
class MinimalWorkflow:
    def __init__(self) -> None:
        self._signals = 0

    @workflow.run
    async def run(self, _: str) -> int:
        await workflow.execute_activity(bare_noop, "one", start_to_close_timeout=TIMEOUT)
        await workflow.wait_condition(lambda: self._signals >= 2)
        return self._signals

    @workflow.signal
    def ping(self) -> None:
        self._signals += 1


async def main(address: str, task_queue: str, sandbox: str = "full") -> None:
    from payreq.codec import Keyring
    from payreq.temporal import converter_for, workflow_runner
    from tests.support import TEST_PAYLOAD_KEY
    from worker import STICKY_SCHEDULE_TO_START

    client = await Client.connect(
        address, data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY))
    )
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[BareRequestWorkflow, MinimalWorkflow],
        activities=[bare_noop],
        workflow_runner=workflow_runner(sandbox),
        sticky_queue_schedule_to_start_timeout=STICKY_SCHEDULE_TO_START,
    )
    async with worker:
        await asyncio.Event().wait()


if __name__ == "__main__":
    # The workflows from this module imported by its name, not as __main__: a sandbox passing
    # every module through (WORKFLOW_SANDBOX=passthrough) finds them in sys.modules.
    from tests.bench import bare

    asyncio.run(bare.main(*sys.argv[1:4]))
