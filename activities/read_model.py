"""Postgres writes of the read model. Every write is guarded by the request's `version`, so a
late or retried write never overwrites newer state; events and payments are upserts."""

from __future__ import annotations

import json

import asyncpg
from temporalio import activity

from payreq.pay_links import PayLinks, hash_token
from payreq.tables import payments, request_events
from payreq.tables.payments import PaymentRow
from workflows.types import (
    CLOSED_STATUSES,
    OutboundEvent,
    RecordRequestResult,
    RequestSnapshot,
    SaveResult,
)

_UPSERT_REQUEST = """
INSERT INTO payment_requests AS r (
    id, practice_id, patient_id, version, status, first_name, last_name, facility_id,
    facility_name, emails, note, currency, amount_requested, amount_paid, amount_remaining,
    amount_overpaid, reminders_sent, reminders_paused, next_reminder_at, expires_at,
    created_at, updated_at, closed_at, phones, rejected_phones, language)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, $24, $25, $26)
ON CONFLICT (id) DO UPDATE SET
    rejected_phones = EXCLUDED.rejected_phones,
    version = EXCLUDED.version, status = EXCLUDED.status, emails = EXCLUDED.emails,
    amount_requested = EXCLUDED.amount_requested, amount_paid = EXCLUDED.amount_paid,
    amount_remaining = EXCLUDED.amount_remaining, amount_overpaid = EXCLUDED.amount_overpaid,
    reminders_sent = EXCLUDED.reminders_sent, reminders_paused = EXCLUDED.reminders_paused,
    next_reminder_at = EXCLUDED.next_reminder_at, expires_at = EXCLUDED.expires_at,
    updated_at = EXCLUDED.updated_at, closed_at = EXCLUDED.closed_at
WHERE r.version < EXCLUDED.version
RETURNING version
"""

_INSERT_OUTBOUND = """
INSERT INTO outbound_events (id, practice_id, type, payload, created_at)
VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (id) DO NOTHING
"""

_ISSUE_TOKEN = """
INSERT INTO pay_tokens (token_hash, payment_request_id, expires_at, key_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (payment_request_id) DO UPDATE
    SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at,
        key_id = EXCLUDED.key_id, created_at = now()
"""


class ReadModelActivities:
    def __init__(self, pool: asyncpg.Pool, links: PayLinks) -> None:
        self._pool = pool
        self._links = links

    @activity.defn(name="record_request")
    async def record_request(self, snap: RequestSnapshot) -> RecordRequestResult:
        """First write of a request, and its pay link (derived: a retry derives the same one).
        Only the token's hash and the id of the key that derived it are stored."""
        rid = snap.request.request_id
        kid, token = self._links.issue(rid)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._write(conn, snap)
            await conn.execute(_ISSUE_TOKEN, hash_token(token), rid, snap.state.expires_at, kid)
        return RecordRequestResult(pay_url=self._links.url(token))

    @activity.defn(name="save_request")
    async def save_request(self, snap: RequestSnapshot) -> SaveResult:
        """`stored` is False when a newer version was already stored (the row left alone).
        `deliver_events` tells the workflow whether this save's outbound events have a webhook
        endpoint to go to, so no delivery workflow is started for a practice without one."""
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._write(conn, snap)
            deliver = bool(snap.outbound) and await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE practice_id = $1)",
                snap.request.practice_id,
            )
        return SaveResult(stored=stored, deliver_events=deliver)

    async def _write(self, conn: asyncpg.pool.PoolConnectionProxy, snap: RequestSnapshot) -> bool:
        req, st = snap.request, snap.state
        stored = await conn.fetchval(
            _UPSERT_REQUEST,
            req.request_id,
            req.practice_id,
            req.patient_id,
            st.version,
            str(st.status),
            req.first_name,
            req.last_name,
            req.facility_id,
            req.facility_name,
            list(st.emails),
            req.note,
            req.currency,
            st.amount_requested,
            st.amount_paid,
            st.amount_remaining,
            st.amount_overpaid,
            st.reminders_sent,
            st.reminders_paused,
            st.next_reminder_at,
            st.expires_at,
            req.created_at,
            snap.updated_at,
            snap.closed_at,
            list(st.phones),
            list(st.rejected_phones),
            req.language,
        )
        # Events and outbound events are append-only with stable keys: written even by a stale
        # save, so none is ever lost to a retry that lost the race to a newer version.
        await request_events.record_workflow_events(
            conn, req.request_id, ((e.seq, e.at, e.type, e.detail) for e in snap.new_events)
        )
        if snap.outbound:
            await conn.executemany(
                _INSERT_OUTBOUND,
                [
                    (
                        e.event_id,
                        e.practice_id,
                        e.type,
                        json.dumps(outbound_payload(e)),
                        e.occurred_at,
                    )
                    for e in snap.outbound
                ],
            )
        if stored is None:
            return False
        await payments.upsert(
            conn,
            [
                PaymentRow(
                    p.payment_id,
                    req.request_id,
                    req.practice_id,
                    req.patient_id,
                    p.amount,
                    p.applied,
                    req.currency,
                    str(p.status),
                    p.method or None,
                    p.net_refunded,
                    p.paid_at,
                    snap.updated_at,
                    p.source,
                    p.reference,
                )
                for p in st.payments
            ],
        )
        if st.status in CLOSED_STATUSES:
            await conn.execute(
                "UPDATE pay_tokens SET revoked_at = $2 WHERE payment_request_id = $1"
                " AND revoked_at IS NULL",
                req.request_id,
                snap.updated_at,
            )
        return True


def outbound_payload(e: OutboundEvent) -> dict[str, object]:
    """The body the practice software receives; `id` is its de-duplication key."""
    payment = None
    if e.payment_id:
        payment = {
            "id": e.payment_id,
            "amount": e.payment_amount,
            "refunded_amount": e.refunded_amount,
            "source": e.payment_source or "link",
        }
    return {
        "id": e.event_id,
        "type": e.type,
        "created_at": e.occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {
            "payment_request_id": e.request_id,
            "patient_id": e.patient_id,
            "status": e.status,
            "currency": e.currency,
            "amount_requested": e.amount_requested,
            "amount_paid": e.amount_paid,
            "amount_remaining": e.amount_remaining,
            "payment": payment,
        },
    }
