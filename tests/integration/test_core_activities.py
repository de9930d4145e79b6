"""The workflow's activities against real Postgres and localstripe: every one safe to retry."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.read_model import ReadModelActivities
from activities.stripe import StripeActivities
from payreq import db
from payreq.codec import Keyring
from payreq.pay_links import PayLinks, hash_token
from tests.support import Harness, create_succeeded_intent
from tests.support import test_links as links_for_tests
from workflows.types import (
    ChargeStatus,
    EventType,
    PaymentRecord,
    RefundInput,
    RefundReason,
    RequestEvent,
    RequestSnapshot,
    RequestState,
    Status,
)


def snapshot(
    h: Harness, version: int, status: Status, paid: int, request_id: str = "pr_core"
) -> RequestSnapshot:
    inp = h.request_input(request_id=request_id, amount=10000)
    now = datetime.now(UTC)
    state = RequestState(
        request_id=inp.request_id,
        practice_id=inp.practice_id,
        status=status,
        currency="usd",
        amount_requested=10000,
        amount_paid=paid,
        amount_remaining=10000 - paid,
        amount_overpaid=0,
        pay_url="",
        emails=inp.emails,
        rejected_emails=(),
        reminders_sent=0,
        reminders_paused=False,
        next_reminder_at=None,
        expires_at=now + timedelta(days=60),
        payments=(
            PaymentRecord(
                payment_id="pi_1",
                amount=paid,
                charge_status=ChargeStatus.SUCCEEDED,
                applied=paid,
                paid_at=now,
            ),
        )
        if paid
        else (),
        version=version,
    )
    return RequestSnapshot(
        request=inp,
        state=state,
        updated_at=now,
        new_events=(
            RequestEvent(seq=version, at=now, type=EventType.CREATED, detail=f"v{version}"),
        ),
    )


async def test_a_late_write_never_overwrites_a_newer_version(harness: Harness) -> None:
    acts = ReadModelActivities(harness.pool, links_for_tests())
    env = ActivityEnvironment()
    await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0))
    assert (
        await env.run(acts.save_request, snapshot(harness, 3, Status.PARTIALLY_PAID, 4000))
    ).stored
    # Version 2 arrives late (a retry after a timeout): none of its state is written; its event,
    # append-only under a stable key, is kept (an event is never lost to a lost race).
    assert not (await env.run(acts.save_request, snapshot(harness, 2, Status.SENT, 0))).stored
    row = await harness.pool.fetchrow(
        "SELECT version, status, amount_paid FROM payment_requests WHERE id='pr_core'"
    )
    assert row is not None
    assert tuple(row) == (3, "partially_paid", 4000)
    # A retry of the same version is harmless too.
    again = await env.run(acts.save_request, snapshot(harness, 3, Status.PARTIALLY_PAID, 4000))
    assert not again.stored
    details = [
        r["detail"]
        for r in await harness.pool.fetch(
            "SELECT detail FROM request_events WHERE payment_request_id='pr_core' ORDER BY seq"
        )
    ]
    assert details == ["v1", "v2", "v3"]


async def test_pay_token_is_derived_stored_hashed_and_the_same_on_retry(
    harness: Harness,
) -> None:
    links = links_for_tests()
    acts = ReadModelActivities(harness.pool, links)
    env = ActivityEnvironment()
    first = await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0))
    token = first.pay_url.rsplit("/", 1)[1]
    assert len(token) == 32  # 192 bits, URL-safe base64
    row = await harness.pool.fetchrow(
        "SELECT token_hash, key_id FROM pay_tokens WHERE payment_request_id='pr_core'"
    )
    assert row is not None
    assert row["token_hash"] == hash_token(token) and row["key_id"] == links.ring.active
    assert token not in str(await harness.pool.fetch("SELECT * FROM pay_tokens"))
    # A retried activity (its first result lost) derives the same link: nothing to revoke.
    second = await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0))
    assert second.pay_url == first.pay_url
    # Derivable only with the key: another key, or another request, gives another token.
    other_ring = Keyring.parse("x:" + base64.b64encode(b"k" * 32).decode())
    assert PayLinks(other_ring, "http://h").token("x", "pr_core") != token
    assert links.token(links.ring.active, "pr_other") != token
    # After a rotation (a new key first), the link is re-derived from the key id it names.
    rotated = Keyring(keys={"new": b"n" * 32, **links.ring.keys}, active="new")
    assert row is not None
    assert PayLinks(rotated, "http://h").token(row["key_id"], "pr_core") == token


async def test_closing_a_request_revokes_its_link(harness: Harness) -> None:
    acts = ReadModelActivities(harness.pool, links_for_tests())
    env = ActivityEnvironment()
    await env.run(acts.record_request, snapshot(harness, 1, Status.PENDING, 0))
    await env.run(acts.save_request, snapshot(harness, 2, Status.CANCELLED, 0))
    assert await harness.pool.fetchval("SELECT revoked_at FROM pay_tokens") is not None


async def test_refund_is_made_once_however_often_the_activity_runs(harness: Harness) -> None:
    acts = StripeActivities(harness.pool, harness.stripe)
    env = ActivityEnvironment()
    intent = await create_succeeded_intent(harness.stripe, 8000, "pr_refund")
    inp = RefundInput(
        request_id="pr_refund", payment_id=intent, amount=3000, reason=RefundReason.OVERPAYMENT
    )
    results = await asyncio.gather(*(env.run(acts.refund_payment, inp) for _ in range(3)))
    again = await env.run(acts.refund_payment, inp)
    assert len({r.refund_id for r in results}) == 1
    assert again.refund_id == results[0].refund_id
    refunds = await harness.stripe.v1.refunds.list_async({"payment_intent": intent})
    assert [r.amount for r in refunds.data] == [3000]
    other = await env.run(acts.refund_payment, replace(inp, reason=RefundReason.CLOSED))
    assert other.refund_id != again.refund_id


async def test_migrations_run_safely_from_two_processes_at_once(database_url: str) -> None:
    # The fixture's database is already migrated: drop the record and re-run twice at once
    # on a fresh schema to see the advisory lock serialise them.
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await admin.close()
    applied = await asyncio.gather(db.migrate_url(database_url), db.migrate_url(database_url))
    names = [m.name for m in db.migration_files()]
    assert sorted(applied, key=len) == [[], names]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(names)
    finally:
        await conn.close()
