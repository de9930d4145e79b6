"""Reconciliation: a payment whose webhook never arrived still reaches its request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.reconcile import SCHEDULE_ID, ensure_reconcile_schedule
from payreq.codec import Keyring
from payreq.temporal import converter_for
from tests.integration.pay_helpers import read_model, silence_webhook, start_request
from tests.support import BIN_DIR, DEV_SERVER_STARTUP, TEST_PAYLOAD_KEY, Harness, eventually
from workflows.reconcile import ReconcileWorkflow
from workflows.types import SEARCH_ATTRIBUTES, ReconcileInput, ReconcileResult


async def reconcile(h: Harness) -> ReconcileResult:
    return await h.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileInput(),
        id=f"reconcile-test-{uuid.uuid4().hex[:8]}",
        task_queue=h.task_queue,
    )


async def test_reconcile_applies_a_payment_whose_webhook_never_came(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str
) -> None:
    await silence_webhook(fake_stripe)
    async with harness.worker():
        request_id, token = await start_request(harness, amount=12000)
        resp = await api.post(
            f"/pay/{token}/payments",
            json={"amount": 5000, "payment_method": "pm_card_visa", "attempt_id": "missed-hook-1"},
        )
        assert resp.status_code == 200, resp.text
        await asyncio.sleep(1.5)  # localstripe would have delivered by now
        assert (await read_model(harness, request_id))["amount_remaining"] == 12000

        first = await reconcile(harness)
        assert first.handed_on == 1
        await eventually(lambda: _remaining_is(harness, request_id, 7000), timeout=15)
        again = await reconcile(harness)
    assert again.handed_on == 0  # already applied: nothing handed twice
    assert again.watermark >= first.watermark
    stored = await harness.pool.fetchval("SELECT last_created FROM reconcile_watermarks")
    assert stored == again.watermark
    method = await harness.pool.fetchval(
        "SELECT method FROM payments WHERE id = $1", resp.json()["payment_intent_id"]
    )
    assert method == "visa •••• 4242"


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server: the time-skipping test server has no Schedules."""
    env = await WorkflowEnvironment.start_local(
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
        dev_server_existing_path=str(BIN_DIR / "temporal"),
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
        search_attributes=SEARCH_ATTRIBUTES,
        ui=False,
    )
    async with env:
        yield env


async def test_the_schedule_reconciles_a_missed_payment(
    harness: Harness, api: httpx.AsyncClient, fake_stripe: str, dev_env: WorkflowEnvironment
) -> None:
    await silence_webhook(fake_stripe)
    h = replace(harness, client=dev_env.client)
    deps = api._transport.app.state.deps  # type: ignore[attr-defined]
    deps.temporal = dev_env.client
    await ensure_reconcile_schedule(h.client, h.task_queue)
    await ensure_reconcile_schedule(h.client, h.task_queue, every=timedelta(minutes=5))
    schedule = h.client.get_schedule_handle(SCHEDULE_ID)
    try:
        desc = await schedule.describe()
        assert desc.schedule.spec.intervals[0].every == timedelta(minutes=5)
        async with h.worker():
            request_id, token = await start_request(h, amount=12000)
            resp = await api.post(
                f"/pay/{token}/payments",
                json={"amount": 3000, "payment_method": "pm_card_visa", "attempt_id": "sched-0001"},
            )
            assert resp.status_code == 200, resp.text
            await schedule.trigger()
            await eventually(lambda: _remaining_is(h, request_id, 9000), timeout=20)
    finally:
        await schedule.delete()


async def _remaining_is(h: Harness, request_id: str, amount: int) -> bool:
    return bool((await read_model(h, request_id))["amount_remaining"] == amount)
