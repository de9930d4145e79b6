"""A create retried after its request closed (the idempotency row expired, or the API died
before storing its answer) must not start a second run: on the real Temporal dev server,
whose id-reuse rules are the production server's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from payreq.smtp import SmtpConfig
from tests.integration.apihelp import create_body, until_status
from tests.support import Harness, RecordingHandler, make_app, practice_client
from tests.support import test_settings as settings_for
from workflows.types import workflow_id

PR = "/v1/payment-requests"


@pytest.fixture
async def dev_api(
    harness: Harness,
    dev_server: WorkflowEnvironment,
    database_url: str,
    fake_stripe: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
) -> AsyncIterator[tuple[httpx.AsyncClient, Harness]]:
    h = replace(harness, client=dev_server.client)
    app = make_app(h, settings_for(database_url, smtp_server[1], fake_stripe))
    async with practice_client(app, h.api_key) as c:
        yield c, h


async def test_a_create_retried_after_cancel_answers_cancelled_and_starts_nothing(
    dev_api: tuple[httpx.AsyncClient, Harness],
) -> None:
    api, h = dev_api
    key = {"Idempotency-Key": "create-then-cancel"}
    body = create_body(emails="once@example.com")
    async with h.worker():
        first = await api.post(PR, json=body, headers=key)
        assert first.status_code == 201, first.text
        rid = first.json()["id"]
        await until_status(api, rid, "sent")
        cancelled = await api.post(f"{PR}/{rid}/cancel", json={"reason": "entered in error"})
        assert cancelled.json()["status"] == "cancelled"
        await h.client.get_workflow_handle(workflow_id(rid)).result()
        # The stored answer is gone (expired, or never stored): the retry reaches Temporal.
        await h.pool.execute("DELETE FROM idempotency_keys")
        again = await api.post(PR, json=body, headers=key)
        assert again.status_code == 201, again.text
        got = again.json()
        assert (got["id"], got["status"], got["pay_url"]) == (rid, "cancelled", None)
        runs = [
            w.run_id async for w in h.client.list_workflows(f"WorkflowId = '{workflow_id(rid)}'")
        ]
        assert len(runs) == 1, runs
        assert (await until_status(api, rid, "cancelled"))["status"] == "cancelled"
        assert len(h.smtp.to("once@example.com")) == 1
