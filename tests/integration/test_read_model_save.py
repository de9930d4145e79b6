"""A read-model save is one statement, counted by Postgres: the request row, its new events,
its outbound events, its ledger, the pay link's revocation and the endpoint lookup together,
each with the same guards a transaction of several statements had."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.read_model import ReadModelActivities
from payreq.components import connect_pool
from tests.bench.statements import counting_statements
from tests.integration.test_core_activities import snapshot
from tests.support import Harness
from tests.support import test_links as links_for_tests
from workflows.types import (
    EventType,
    OutboundEvent,
    OutboundEventType,
    RequestEvent,
    RequestSnapshot,
    Status,
)


def _outbound(snap: RequestSnapshot, n: int) -> OutboundEvent:
    st = snap.state
    return OutboundEvent(
        event_id=f"evt_{snap.request.request_id}_{n}",
        type=OutboundEventType.PAYMENT_SUCCEEDED,
        practice_id=snap.request.practice_id,
        request_id=snap.request.request_id,
        patient_id=snap.request.patient_id,
        occurred_at=datetime.now(UTC),
        status=st.status,
        currency=st.currency,
        amount_requested=st.amount_requested,
        amount_paid=st.amount_paid,
        amount_remaining=st.amount_remaining,
        payment_id="pi_1",
        payment_amount=st.amount_paid,
    )


def _with(snap: RequestSnapshot, seqs: range, outbound: int) -> RequestSnapshot:
    now = datetime.now(UTC)
    return replace(
        snap,
        new_events=tuple(
            RequestEvent(seq=s, at=now, type=EventType.EMAIL_ACCEPTED, detail=f"e{s}") for s in seqs
        ),
        outbound=tuple(_outbound(snap, n) for n in range(outbound)),
    )


async def test_each_save_is_one_statement_with_the_version_guard(
    harness: Harness, database_url: str
) -> None:
    admin = await asyncpg.connect(database_url)
    log = Path(await admin.fetchval("SHOW data_directory")) / "log"
    await admin.execute(
        "INSERT INTO webhook_endpoints (practice_id, url, secret) VALUES ($1, $2, 's')",
        harness.practice_id,
        "https://practice.example/hooks",
    )
    pool = await connect_pool(database_url, max_size=1, application_name="payreq-worker")
    acts = ReadModelActivities(pool, links_for_tests())
    env = ActivityEnvironment()
    rid = "pr_one"
    try:
        # asyncpg introspects the array types once per connection: not a save's cost
        await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0, "pr_warm"))
        async with counting_statements(database_url, log) as count:
            await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0, rid))
            paid = _with(snapshot(harness, 3, Status.PARTIALLY_PAID, 4000, rid), range(2, 5), 2)
            first = await env.run(acts.save_request, paid)
            # A late save of an older version, with a different ledger, its own events and
            # its own outbound event.
            late = _with(snapshot(harness, 2, Status.PARTIALLY_PAID, 9000, rid), range(5, 6), 3)
            stale = await env.run(acts.save_request, late)
            closed = await env.run(
                acts.save_request, snapshot(harness, 4, Status.CANCELLED, 4000, rid)
            )
        rows = await admin.fetch(
            "SELECT amount, applied_amount, status FROM payments WHERE payment_request_id = $1",
            rid,
        )
        seqs = await admin.fetch(
            "SELECT seq FROM request_events WHERE payment_request_id = $1 ORDER BY seq", rid
        )
        outbound = await admin.fetchval(
            "SELECT count(*) FROM outbound_events WHERE practice_id = $1", harness.practice_id
        )
        revoked = await admin.fetchval(
            "SELECT revoked_at FROM pay_tokens WHERE payment_request_id = $1", rid
        )
        version = await admin.fetchval("SELECT version FROM payment_requests WHERE id = $1", rid)
    finally:
        await pool.close()
        await admin.close()

    assert count.by_process["payreq-worker"] == 4, count.by_kind  # four saves, no BEGIN/COMMIT
    assert (first.stored, first.deliver_events) == (True, True)
    assert (stale.stored, stale.deliver_events) == (False, True)
    assert (closed.stored, closed.deliver_events) == (True, False)  # nothing to deliver
    assert [tuple(r) for r in rows] == [(4000, 4000, "succeeded")]  # the stale 9000 not written
    assert [r["seq"] for r in seqs] == [1, 2, 3, 4, 5]  # the stale save's event kept
    assert outbound == 3  # evt_..._0 and _1, then the stale save's _2 (its _0, _1 duplicates)
    assert version == 4 and revoked is not None


async def test_a_stale_closing_save_does_not_revoke_and_no_endpoint_means_no_delivery(
    harness: Harness,
) -> None:
    acts = ReadModelActivities(harness.pool, links_for_tests())
    env = ActivityEnvironment()
    await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0))
    await env.run(acts.save_request, snapshot(harness, 3, Status.PARTIALLY_PAID, 4000))
    late_close = _with(snapshot(harness, 2, Status.CANCELLED, 0), range(2, 3), 1)
    result = await env.run(acts.save_request, late_close)
    assert (result.stored, result.deliver_events) == (False, False)
    assert await harness.pool.fetchval("SELECT revoked_at FROM pay_tokens") is None
    assert await harness.pool.fetchval("SELECT count(*) FROM outbound_events") == 1
