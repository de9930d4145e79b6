"""The Stripe inbox claims an event in one statement and holds no connection or row lock
across the signal: a claim whose holder died lapses, a live claim makes a second delivery
wait (never answered before the event is handed on), and the usual delivery is two
statements, counted by Postgres."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from payreq.components import connect_pool
from payreq.stripe import inbox as inbox_module
from payreq.stripe.inbox import StripeInbox, receive
from tests.bench.statements import counting_statements
from tests.integration.pay_helpers import intent_object, post_event, start_request, stripe_event
from tests.integration.test_stripe_webhook import _paid
from tests.support import Harness, eventually


def _payment(harness: Harness, request_id: str, amount: int) -> bytes:
    obj = intent_object(f"pi_{uuid.uuid4().hex[:14]}", amount, request_id, harness.practice_id)
    return stripe_event("payment_intent.succeeded", obj)


async def _claim(harness: Harness, body: bytes, lease: timedelta) -> str:
    """A claim another delivery took `lease` from now (negative: it lapsed)."""
    event = json.loads(body)
    await harness.pool.execute(
        "INSERT INTO stripe_events (id, type, claimed_until) VALUES ($1, $2, now() + $3)",
        event["id"],
        event["type"],
        lease,
    )
    return str(event["id"])


async def test_a_claim_whose_holder_died_lapses_and_the_next_delivery_hands_it_on(
    harness: Harness, api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        body = _payment(harness, request_id, 5000)
        event_id = await _claim(harness, body, timedelta(seconds=-1))  # its API process was killed
        resp = await post_event(api, body)
        assert resp.status_code == 200 and resp.json()["outcome"] == "signalled"
        await eventually(lambda: _paid(harness, request_id, 5000))
    row = await harness.pool.fetchrow(
        "SELECT handled_at, claimed_until FROM stripe_events WHERE id = $1", event_id
    )
    assert row is not None and row["handled_at"] is not None and row["claimed_until"] is None


async def test_a_delivery_waits_for_a_live_claim_and_is_not_answered_before_it_is_handled(
    harness: Harness, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox_module, "WAIT_FOR_CLAIM_S", 1.0)
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=12000)
        # The holder never finishes within the wait: retry later, nothing applied by this one.
        body = _payment(harness, request_id, 5000)
        event_id = await _claim(harness, body, timedelta(hours=1))
        resp = await post_event(api, body)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "temporarily_unavailable"
        # The holder finishes while the second delivery waits: "duplicate", after it.
        body2 = _payment(harness, request_id, 3000)
        event2 = await _claim(harness, body2, timedelta(hours=1))
        waiting = asyncio.create_task(post_event(api, body2))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await harness.pool.execute(
            "UPDATE stripe_events SET handled_at = now(), claimed_until = NULL WHERE id = $1",
            event2,
        )
        resp2 = await waiting
        assert resp2.status_code == 200 and resp2.json()["outcome"] == "duplicate"
    handled = await harness.pool.fetchval(
        "SELECT handled_at FROM stripe_events WHERE id = $1", event_id
    )
    assert handled is None  # still the first holder's to finish (or to lapse)


async def test_a_payment_delivery_is_one_statement_and_the_workflow_marks_it(
    harness: Harness, database_url: str
) -> None:
    admin = await asyncpg.connect(database_url)
    log = Path(await admin.fetchval("SHOW data_directory")) / "log"
    pool = await connect_pool(database_url, max_size=1, application_name="payreq-api")
    inbox = StripeInbox(harness.client, harness.stripe)
    try:
        async with harness.worker():
            request_id, _ = await start_request(harness, amount=12000)
            warm = json.loads(_payment(harness, request_id, 1000))
            await receive(pool, inbox, warm)  # asyncpg introspects types once per connection
            event = json.loads(_payment(harness, request_id, 2000))
            async with counting_statements(database_url, log) as count:
                first = await receive(pool, inbox, event)
                again = await receive(pool, inbox, event)
            await eventually(lambda: _paid(harness, request_id, 3000))
    finally:
        await pool.close()
        await admin.close()
    assert (first.outcome, again.outcome) == ("signalled", "duplicate")
    # the claim (with the request's owner and account); the duplicate's claim, and its polls
    # while the workflow's save (the worker's statement) had not yet marked it handled
    assert count.by_process["payreq-api"] >= 2, count.by_kind
    assert set(count.by_kind) == {"payreq-api: WITH"}, count.by_kind
