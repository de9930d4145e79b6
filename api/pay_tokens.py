"""The patient's pay link: the token in the URL is the credential.

Only sha256(token) is stored, so a lookup is one indexed equality query on the hash joined to
the request and its practice; an unknown, tampered or revoked token costs the same query and
gets the same answer (None), with no comparison of secrets in Python to time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from payreq.pay_links import hash_token
from payreq.tables import request_events
from workflows.currencies import minimum_charge
from workflows.types import CLOSED_STATUSES, Status

MAX_TOKEN_LENGTH = 128

_LOOKUP = """
SELECT r.id, r.practice_id, p.name AS practice_name, r.facility_name, r.first_name,
       r.last_name, r.note, r.currency, r.status, r.amount_requested, r.amount_paid,
       r.amount_remaining, p.min_payment_amount, p.min_payment_percent, p.stripe_account_id,
       p.statement_descriptor_suffix, p.platform_fee_bps, r.language, t.expires_at, t.revoked_at
FROM pay_tokens t
JOIN payment_requests r ON r.id = t.payment_request_id
JOIN practices p ON p.id = r.practice_id
WHERE t.token_hash = $1
"""


@dataclass(frozen=True, kw_only=True)
class PayLink:
    request_id: str
    practice_id: str
    practice_name: str
    facility_name: str
    first_name: str
    last_name: str
    note: str
    currency: str
    status: Status
    amount_requested: int
    amount_paid: int
    amount_remaining: int
    min_payment_amount: int
    expired: bool
    # The practice's connected account (Stripe.js is initialised with it as `stripeAccount`,
    # and the charge is made on it); None: the platform's own account.
    stripe_account_id: str | None = None
    statement_descriptor_suffix: str | None = None
    platform_fee_bps: int = 0
    min_payment_percent: int = 0
    language: str = "en"  # the request's: the page's default

    @property
    def closed_as(self) -> Status | None:
        """Paid, cancelled or expired: the page says so and offers no form."""
        if self.status in CLOSED_STATUSES:
            return self.status
        return Status.EXPIRED if self.expired else None

    @property
    def min_amount(self) -> int:
        return self.minimum_for(self.amount_remaining)

    def minimum_for(self, remaining: int) -> int:
        """The practice minimum: the fixed amount or the percentage of what remains, whichever
        is more (never below Stripe's minimum charge), unless less than that remains: then
        exactly what remains (paying it all is always allowed)."""
        share = -(-self.min_payment_percent * remaining // 100)  # ceil, in integers
        floor = max(self.min_payment_amount, share, minimum_charge(self.currency))
        return min(floor, remaining)


async def find_pay_link(pool: asyncpg.Pool, token: str, now: datetime) -> PayLink | None:
    """The link's request, or None for an unknown, tampered or revoked token. A closed request
    revokes its token too; that link still finds its request, to say it is closed."""
    row = await pool.fetchrow(_LOOKUP, hash_token(token[:MAX_TOKEN_LENGTH]))
    if row is None:
        return None
    status = Status(row["status"])
    if row["revoked_at"] is not None and status not in CLOSED_STATUSES:
        return None
    return PayLink(
        request_id=row["id"],
        practice_id=row["practice_id"],
        practice_name=row["practice_name"],
        facility_name=row["facility_name"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        note=row["note"],
        currency=row["currency"],
        status=status,
        amount_requested=row["amount_requested"],
        amount_paid=row["amount_paid"],
        amount_remaining=row["amount_remaining"],
        min_payment_amount=row["min_payment_amount"],
        expired=row["expires_at"] <= now,
        stripe_account_id=row["stripe_account_id"],
        statement_descriptor_suffix=row["statement_descriptor_suffix"],
        platform_fee_bps=row["platform_fee_bps"],
        min_payment_percent=row["min_payment_percent"],
        language=row["language"],
    )


async def record_view(pool: asyncpg.Pool, request_id: str, now: datetime) -> None:
    """A "viewed" event at most once per UTC day."""
    async with pool.acquire() as conn:
        await request_events.record_view(conn, request_id, now)
