"""GETs serve the pay link from stored state (re-derived from the request id and the key id in
Postgres), never by querying the workflow: no query per GET, and no replay of an uncached
workflow. Proven by answering with no worker running at all."""

from __future__ import annotations

import time

import httpx

from tests.integration.apihelp import create_body, until_status
from tests.support import Harness

PR = "/v1/payment-requests"


async def test_get_shows_the_pay_link_with_no_worker_running(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        created = (await api.post(PR, json=create_body())).json()
        await until_status(api, created["id"], "sent")
    started = time.monotonic()  # the worker is gone: a workflow query could not be answered
    got = await api.get(f"{PR}/{created['id']}")
    elapsed = time.monotonic() - started
    assert got.status_code == 200 and got.json()["pay_url"] == created["pay_url"]
    assert created["pay_url"].startswith("http://127.0.0.1:8000/pay/")
    assert elapsed < 1.0, elapsed
