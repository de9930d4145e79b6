"""Helpers for the pay-link, Stripe webhook and reconciliation tests: requests started on the
real workflow, Stripe events signed exactly as Stripe signs them, and the app served over real
HTTP when localstripe or a browser must reach it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from tests import stripe_shapes as shapes
from tests.support import WEBHOOK_SECRET, Harness, free_port
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import Empty, RequestState, workflow_id

LOCALSTRIPE_WEBHOOK_ID = "payreq-tests"


async def start_request(h: Harness, **overrides: object) -> tuple[str, str]:
    """A request created through its workflow; returns (request id, pay token)."""
    inp = h.request_input(**overrides)
    op = WithStartWorkflowOperation(
        PaymentRequestWorkflow.run,
        inp,
        id=workflow_id(inp.request_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=h.task_queue,
    )
    state: RequestState = await h.client.execute_update_with_start_workflow(
        PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
    )
    return inp.request_id, state.pay_url.rsplit("/", 1)[1]


async def state_of(h: Harness, request_id: str) -> RequestState:
    handle = h.client.get_workflow_handle(workflow_id(request_id))
    return await handle.query(PaymentRequestWorkflow.state)


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(
    kind: str, obj: dict[str, Any], event_id: str | None = None, account: str | None = None
) -> bytes:
    """A Stripe event of Stripe's published shape (tests/stripe_shapes.py), as bytes to sign."""
    return json.dumps(shapes.event(kind, obj, event_id, account)).encode()


def intent_object(
    payment_id: str,
    amount: int,
    request_id: str,
    practice_id: str,
    status: str = "succeeded",
    card_label: str | None = "visa •••• 4242",
) -> dict[str, Any]:
    """A PaymentIntent as the pay endpoint makes it (the card's label in its metadata);
    `card_label=None` for one made elsewhere."""
    metadata = {"payment_request_id": request_id, "practice_id": practice_id}
    if card_label:
        metadata["card"] = card_label
    return shapes.payment_intent(payment_id, amount, metadata, status)


async def post_event(
    client: httpx.AsyncClient, body: bytes, header: str | None = None
) -> httpx.Response:
    return await client.post(
        "/webhooks/stripe",
        content=body,
        headers={"Stripe-Signature": header or sign(body), "Content-Type": "application/json"},
    )


async def payment_rows(h: Harness, request_id: str) -> list[dict[str, Any]]:
    rows = await h.pool.fetch(
        "SELECT id, amount, applied_amount, status, method, refunded_amount FROM payments"
        " WHERE payment_request_id = $1 ORDER BY id",
        request_id,
    )
    return [dict(r) for r in rows]


async def read_model(h: Harness, request_id: str) -> dict[str, Any]:
    row = await h.pool.fetchrow("SELECT * FROM payment_requests WHERE id = $1", request_id)
    assert row is not None
    return dict(row)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """The app on real HTTP (127.0.0.1, a free port) in this event loop; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def register_webhook(
    stripe_base: str, url: str, events: list[str] | None = None, secret: str = WEBHOOK_SECRET
) -> None:
    """Point localstripe's (session-wide) webhook at `url`; `events=["none"]` silences it."""
    data: dict[str, Any] = {"url": url, "secret": secret}
    if events is not None:
        data["events"] = events
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{stripe_base}/_config/webhooks/{LOCALSTRIPE_WEBHOOK_ID}", json=data)
        r.raise_for_status()


async def silence_webhook(stripe_base: str) -> None:
    await register_webhook(stripe_base, "http://127.0.0.1:9/unused", events=["none"])
