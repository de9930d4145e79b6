"""Postgres writes of the read model, one statement each. Every write is guarded by the
request's `version`, so a late or retried write never overwrites newer state; events and
payments are upserts."""

from __future__ import annotations

import json

import asyncpg
from temporalio import activity

from payreq.pay_links import PayLinks, hash_token
from payreq.tables import payments, request_events, stripe_events
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

# One statement per save: a transaction of several would cost a round trip each, plus BEGIN
# and COMMIT. Data-modifying CTEs all run, referenced or not, against one snapshot; the
# foreign keys are checked at the end of the statement, after the request row is in.
# - events and outbound events are append-only with stable keys: written even by a stale save,
#   so none is ever lost to a retry that lost the race to a newer version;
# - payments and the pay link's revocation only with the newer version (`req` has a row);
# - the pay link is issued by `record_request` only ($46 not null), which never revokes;
# - the Stripe events whose payments the workflow recorded are marked handled, stale or not.
_OUTBOUND = """
    INSERT INTO outbound_events (id, practice_id, type, payload, created_at)
    SELECT o.id, $2, o.type, o.payload::jsonb, o.created_at
    FROM unnest($32::text[], $33::text[], $34::text[], $35::timestamptz[])
        AS o (id, type, payload, created_at)
    ON CONFLICT (id) DO NOTHING"""

_LEDGER = payments.ledger_upsert(
    request="$1",
    practice="$2",
    patient="$3",
    currency="$12",
    at="$22",
    first=36,
    guard="EXISTS (SELECT 1 FROM req)",
)

_REVOKE = """
    UPDATE pay_tokens SET revoked_at = $22
    WHERE payment_request_id = $1 AND revoked_at IS NULL AND $45::boolean
      AND EXISTS (SELECT 1 FROM req)"""

_ISSUE = """
    INSERT INTO pay_tokens (token_hash, payment_request_id, expires_at, key_id)
    SELECT $46::bytea, $1, $20, $47::text WHERE $46::bytea IS NOT NULL
    ON CONFLICT (payment_request_id) DO UPDATE
        SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at,
            key_id = EXCLUDED.key_id, created_at = now()"""

_SAVE = f"""
WITH req AS ({_UPSERT_REQUEST}),
ev AS ({request_events.workflow_events_insert(request="$1", first=27)}),
ob AS ({_OUTBOUND}),
pay AS ({_LEDGER}),
revoke AS ({_REVOKE}),
link AS ({_ISSUE}),
handled AS ({stripe_events.mark_handled(request="$1", ids="$48")})
SELECT EXISTS (SELECT 1 FROM req) AS stored,
       cardinality($32::text[]) > 0
           AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE practice_id = $2) AS deliver
"""


class ReadModelActivities:
    def __init__(self, pool: asyncpg.Pool, links: PayLinks) -> None:
        self._pool = pool
        self._links = links

    @activity.defn(name="record_request")
    async def record_request(self, snap: RequestSnapshot) -> RecordRequestResult:
        """First write of a request, and its pay link (derived: a retry derives the same one).
        Only the token's hash and the id of the key that derived it are stored."""
        kid, token = self._links.issue(snap.request.request_id)
        await save_snapshot(self._pool, snap, link=(hash_token(token), kid))
        return RecordRequestResult(pay_url=self._links.url(token))

    @activity.defn(name="save_request")
    async def save_request(self, snap: RequestSnapshot) -> SaveResult:
        """`stored` is False when a newer version was already stored (the row left alone).
        `deliver_events` tells the workflow whether this save's outbound events have a webhook
        endpoint to go to, so no delivery workflow is started for a practice without one."""
        stored, deliver = await save_snapshot(self._pool, snap, link=None)
        return SaveResult(stored=stored, deliver_events=deliver)


async def save_snapshot(
    pool: asyncpg.Pool, snap: RequestSnapshot, *, link: tuple[bytes, str] | None
) -> tuple[bool, bool]:
    """The one write of a request's read model (the workflow's saves, and the email activity's
    save of an email every recipient accepted): (stored, deliver_events) as in SaveResult."""
    req, st = snap.request, snap.state
    events, outbound = snap.new_events, snap.outbound
    row = await pool.fetchrow(
        _SAVE,
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
        # $27-$31: the workflow's new events
        *request_events.workflow_event_arrays((e.seq, e.at, e.type, e.detail) for e in events),
        # $32-$35: outbound events
        [e.event_id for e in outbound],
        [str(e.type) for e in outbound],
        [json.dumps(outbound_payload(e)) for e in outbound],
        [e.occurred_at for e in outbound],
        # $36-$44: the ledger
        *payments.ledger_arrays(st.payments),
        # $45: revoke the pay link; $46, $47: issue it
        link is None and st.status in CLOSED_STATUSES,
        None if link is None else link[0],
        None if link is None else link[1],
        # $48: the Stripe events whose payments this save records
        list(snap.stripe_events),
    )
    assert row is not None  # the final SELECT always returns one row
    return bool(row["stored"]), bool(row["deliver"])


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
