"""POST /webhooks/stripe with events signed exactly as Stripe signs them (and for the types
localstripe never sends: refunds, disputes, processing)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import asyncpg
import httpx
from temporalio.client import Client

from api.metrics import app_metrics
from tests import stripe_shapes as shapes
from tests.integration.pay_helpers import (
    intent_object,
    payment_rows,
    post_event,
    read_model,
    sign,
    start_request,
    state_of,
    stripe_event,
)
from tests.support import Harness, create_succeeded_intent, eventually, free_port
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import CancelInput, workflow_id


def pi_id() -> str:
    return f"pi_{uuid.uuid4().hex[:14]}"


async def stripe_event_count(h: Harness) -> int:
    return int(await h.pool.fetchval("SELECT count(*) FROM stripe_events"))


async def test_forged_stale_and_altered_signatures_are_400_and_write_nothing(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object(pi_id(), 5000, request_id, harness.practice_id),
        )
        altered = body.replace(b"5000", b"9000")
        answers = [
            await post_event(api, body, sign(body, secret="whsec_forged")),
            await post_event(api, body, sign(body, at=int(time.time()) - 3600)),
            await post_event(api, altered, sign(body)),
            await post_event(api, body, "garbage"),
            await api.post("/webhooks/stripe", content=body),
        ]
        await asyncio.sleep(0.3)
        assert [r.status_code for r in answers] == [400] * 5
        assert answers[0].json()["error"]["code"] == "invalid_signature"
        assert await stripe_event_count(harness) == 0
        assert (await state_of(harness, request_id)).amount_paid == 0


async def test_a_signature_during_a_secret_roll_is_accepted(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object(pi_id(), 5000, request_id, harness.practice_id),
        )
        t = int(time.time())
        old = sign(body, secret="whsec_old_secret", at=t).split(",")[1]
        header = f"t={t},{old},{sign(body, at=t).split(',')[1]}"
        resp = await post_event(api, body, header)
        assert resp.status_code == 200, resp.text
        await eventually(lambda: _paid(harness, request_id, 5000))


async def test_the_card_is_named_from_the_intents_metadata_else_from_stripe(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        labelled = intent_object(
            pi_id(), 2000, request_id, harness.practice_id, card_label="mastercard •••• 4444"
        )
        labelled["payment_method"] = "pm_that_stripe_does_not_know"  # never asked
        unlabelled = intent_object(pi_id(), 3000, request_id, harness.practice_id, card_label=None)
        for obj in (labelled, unlabelled):
            resp = await post_event(api, stripe_event("payment_intent.succeeded", obj))
            assert resp.status_code == 200, resp.text
        await eventually(lambda: _paid(harness, request_id, 5000))
        rows = {r["id"]: r["method"] for r in await payment_rows(harness, request_id)}
        assert rows == {labelled["id"]: "mastercard •••• 4444", unlabelled["id"]: "visa •••• 4242"}


async def test_fifty_deliveries_of_one_event_at_once_apply_it_once(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object(pi_id(), 5000, request_id, harness.practice_id),
        )
        answers = await asyncio.gather(*(post_event(api, body) for _ in range(50)))
        assert {r.status_code for r in answers} == {200}
        outcomes = [r.json()["outcome"] for r in answers]
        assert outcomes.count("signalled") == 1 and outcomes.count("duplicate") == 49
        await eventually(lambda: _paid(harness, request_id, 5000))
        await asyncio.sleep(0.5)
        state = await state_of(harness, request_id)
    assert (state.amount_paid, state.amount_remaining, len(state.payments)) == (5000, 7000, 1)
    assert await stripe_event_count(harness) == 1
    metrics = app_metrics(api._transport.app)  # type: ignore[attr-defined]
    assert metrics.registry.get_sample_value("payreq_payments_applied_total") == 1
    events = await harness.pool.fetch(
        "SELECT type FROM request_events WHERE payment_request_id = $1"
        " AND type = 'payment_succeeded'",
        request_id,
    )
    assert len(events) == 1


async def test_refunds_in_any_order_and_disputes_change_the_request(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        payment = pi_id()
        await post_event(
            api,
            stripe_event(
                "payment_intent.succeeded",
                intent_object(payment, 8000, request_id, harness.practice_id),
            ),
        )
        await eventually(lambda: _paid(harness, request_id, 8000))

        def charge(refunded: int) -> dict[str, object]:
            # no metadata on the charge: the service finds the request by its payment
            return shapes.charge(payment, 8000, refunded)

        later, earlier = (
            stripe_event("charge.refunded", charge(3000)),
            stripe_event("charge.refunded", charge(1000)),
        )
        assert (await post_event(api, later)).status_code == 200
        assert (await post_event(api, earlier)).status_code == 200
        await eventually(lambda: _paid(harness, request_id, 5000))
        await eventually(lambda: _payment_status(harness, payment, "partially_refunded"))

        dispute = shapes.dispute(payment, 5000)
        assert (
            await post_event(api, stripe_event("charge.dispute.created", dispute))
        ).status_code == 200
        await eventually(lambda: _payment_status(harness, payment, "disputed"))
        won = dict(dispute, status="won")
        assert (
            await post_event(api, stripe_event("charge.dispute.closed", won))
        ).status_code == 200
        await eventually(lambda: _payment_status(harness, payment, "partially_refunded"))
        state = await state_of(harness, request_id)
    assert (state.amount_paid, state.amount_remaining) == (5000, 7000)


async def test_processing_is_pending_until_it_succeeds_and_failures_are_recorded(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        slow, bad = pi_id(), pi_id()
        obj = intent_object(slow, 4000, request_id, harness.practice_id, status="processing")
        assert (
            await post_event(api, stripe_event("payment_intent.processing", obj))
        ).status_code == 200
        await eventually(lambda: _payment_status(harness, slow, "pending"))
        assert (await read_model(harness, request_id))["amount_remaining"] == 12000
        failed = intent_object(
            bad, 3000, request_id, harness.practice_id, status="requires_payment_method"
        )
        assert (
            await post_event(api, stripe_event("payment_intent.payment_failed", failed))
        ).status_code == 200
        await eventually(lambda: _payment_status(harness, bad, "failed"))
        done = intent_object(slow, 4000, request_id, harness.practice_id)
        assert (
            await post_event(api, stripe_event("payment_intent.succeeded", done))
        ).status_code == 200
        await eventually(lambda: _paid(harness, request_id, 4000))
        other = await post_event(api, stripe_event("customer.created", shapes.shape("charge")))
    assert other.status_code == 200 and other.json()["outcome"] == "ignored"
    types = [
        r["type"]
        for r in await harness.pool.fetch(
            "SELECT type FROM request_events WHERE payment_request_id = $1", request_id
        )
    ]
    assert "payment_pending" in types and "payment_failed" in types


async def test_a_payment_after_cancel_is_refunded_and_recorded(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        handle = harness.client.get_workflow_handle(workflow_id(request_id))
        await handle.execute_update(
            PaymentRequestWorkflow.cancel, CancelInput(reason="paid at desk")
        )
        await handle.result()
        payment = await create_succeeded_intent(harness.stripe, 6000, request_id)
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object(payment, 6000, request_id, harness.practice_id),
        )
        first = await post_event(api, body)
        again = await post_event(
            api,
            stripe_event(
                "payment_intent.succeeded",
                intent_object(payment, 6000, request_id, harness.practice_id),
            ),
        )
    assert first.status_code == 200 and first.json()["outcome"] == "refunded_after_close"
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    refund = await harness.pool.fetchrow("SELECT * FROM refunds WHERE payment_id = $1", payment)
    assert refund is not None
    assert refund["idempotency_key"] == f"{request_id}:closed:{payment}"
    assert refund["stripe_refund_id"] and refund["amount"] == 6000
    assert await harness.pool.fetchval("SELECT count(*) FROM refunds") == 1
    rows = await payment_rows(harness, request_id)
    assert [(r["id"], r["status"], r["refunded_amount"]) for r in rows] == [
        (payment, "refunded", 6000)
    ]
    events = await harness.pool.fetch(
        "SELECT key, type, detail FROM request_events"
        " WHERE payment_request_id = $1 AND seq IS NULL",
        request_id,
    )
    assert [e["type"] for e in events] == ["refund_issued"]
    assert events[0]["key"] == f"service:refund_issued:{events[0]['detail']}"


async def test_events_for_requests_that_are_not_ours_are_acknowledged(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    body = stripe_event(
        "payment_intent.succeeded", intent_object(pi_id(), 100, "pr_elsewhere", "prc_x")
    )
    resp = await post_event(api, body)
    assert resp.status_code == 200 and resp.json()["outcome"] == "not_ours"


async def test_postgres_unreachable_is_a_5xx(harness: Harness, api: httpx.AsyncClient) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    deps = app.state.deps
    saved = deps.pool
    deps.pool = await asyncpg.create_pool(
        f"postgresql://nobody@127.0.0.1:{free_port()}/none", min_size=0, max_size=1
    )
    try:
        body = stripe_event(
            "payment_intent.succeeded", intent_object(pi_id(), 100, "pr_x", "prc_x")
        )
        resp = await post_event(api, body)
    finally:
        await deps.pool.close()
        deps.pool = saved
    assert resp.status_code == 503
    assert json.loads(resp.text)["error"]["code"] == "temporarily_unavailable"


async def test_temporal_unreachable_is_a_5xx_and_records_nothing(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    deps = app.state.deps
    saved = deps.temporal
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
    deps.temporal = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    try:
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object(pi_id(), 5000, request_id, harness.practice_id),
        )
        resp = await post_event(api, body)
    finally:
        deps.temporal = saved
    assert resp.status_code == 503
    assert await stripe_event_count(harness) == 0
    assert (await read_model(harness, request_id))["amount_paid"] == 0


async def _paid(h: Harness, request_id: str, amount: int) -> bool:
    return bool((await read_model(h, request_id))["amount_paid"] == amount)


async def _payment_status(h: Harness, payment_id: str, status: str) -> bool:
    found = await h.pool.fetchval("SELECT status FROM payments WHERE id = $1", payment_id)
    return bool(found == status)


async def test_a_refund_stripe_refuses_after_close_is_recorded_and_acknowledged(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        handle = harness.client.get_workflow_handle(workflow_id(request_id))
        await handle.execute_update(PaymentRequestWorkflow.cancel, CancelInput())
        await handle.result()
        unknown = pi_id()  # Stripe has no such PaymentIntent: it refuses the refund
        body = stripe_event(
            "payment_intent.succeeded",
            intent_object(unknown, 6000, request_id, harness.practice_id),
        )
        resp = await post_event(api, body)
    assert resp.status_code == 200 and resp.json()["outcome"] == "refund_refused"
    refund = await harness.pool.fetchrow("SELECT * FROM refunds WHERE payment_id = $1", unknown)
    assert refund is not None
    assert refund["status"] == "failed" and refund["stripe_refund_id"] is None
    types = await harness.pool.fetch(
        "SELECT type FROM request_events WHERE payment_request_id = $1 AND seq IS NULL",
        request_id,
    )
    assert [t["type"] for t in types] == ["refund_failed"]
