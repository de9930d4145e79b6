"""Which Stripe account a practice, a payment or an event belongs to (None: the platform's)."""

from __future__ import annotations

import asyncpg

from payreq.tables import Conn


async def practice_account(conn: Conn | asyncpg.Pool, practice_id: str) -> str | None:
    account = await conn.fetchval(
        "SELECT stripe_account_id FROM practices WHERE id = $1", practice_id
    )
    return str(account) if account else None


async def payment_account(
    conn: Conn | asyncpg.Pool, payment_id: str, request_id: str
) -> str | None:
    """The account the PaymentIntent was made on: recorded when the pay page made it (a
    practice may connect an account later), else the request's practice's account now."""
    row = await conn.fetchrow(
        """SELECT (SELECT stripe_account_id FROM stripe_payment_intents
                   WHERE payment_intent_id = $1) AS made_on,
                  (SELECT 1 FROM stripe_payment_intents WHERE payment_intent_id = $1) AS known,
                  p.stripe_account_id AS practice
           FROM payment_requests r JOIN practices p ON p.id = r.practice_id WHERE r.id = $2""",
        payment_id,
        request_id,
    )
    if row is None:
        return None
    return account_rule(bool(row["known"]), row["made_on"], row["practice"])


def account_rule(known: bool, made_on: str | None, practice: str | None) -> str | None:
    """The account a payment belongs to: the one the pay page made its PaymentIntent on when
    it is recorded (`known`), else the practice's account now; None for the platform's."""
    account = made_on if known else practice
    return str(account) if account else None
