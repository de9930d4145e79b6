"""Stripe Connect per practice: the settings' rules, and onboarding through an Account Link."""

from __future__ import annotations

import re
from typing import Literal

import asyncpg
import stripe

from payreq.stripe.accounts import practice_account
from payreq.stripe.client import log_failure, options

ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]{1,64}$")
MAX_SUFFIX_CHARS = 22
_SUFFIX_FORBIDDEN = set("<>\\'\"*")
MAX_FEE_BPS = 10_000
AccountType = Literal["standard", "express"]


def account_id(value: str | None) -> str | None:
    if value is not None and not ACCOUNT_ID.match(value):
        raise ValueError("must be a Stripe account id, acct_ followed by letters and digits")
    return value


def descriptor_suffix(value: str | None) -> str | None:
    """Stripe's rules for a statement descriptor suffix: at most 22 characters of printable
    Latin text, none of < > \\ ' " *, and at least one letter."""
    if value is None:
        return None
    value = value.strip()
    if not 1 <= len(value) <= MAX_SUFFIX_CHARS:
        raise ValueError(f"must be 1 to {MAX_SUFFIX_CHARS} characters")
    if any(c in _SUFFIX_FORBIDDEN or not (" " <= c <= "~") for c in value):
        raise ValueError("may not contain < > \\ ' \" * or characters outside printable ASCII")
    if not any(c.isalpha() for c in value):
        raise ValueError("must contain at least one letter")
    return value


async def onboarding_url(
    pool: asyncpg.Pool,
    client: stripe.StripeClient,
    practice_id: str,
    account_type: AccountType,
    return_url: str,
    refresh_url: str,
) -> str:
    """An Account Link for the practice's connected account, creating the account first if it
    has none (once: under a lock per practice, with an idempotency key)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"connect:{practice_id}")
        account = await practice_account(conn, practice_id)
        if account is None:
            account = await _create_account(client, practice_id, account_type)
            await conn.execute(
                "UPDATE practices SET stripe_account_id = $2 WHERE id = $1", practice_id, account
            )
    try:
        link = await client.v1.account_links.create_async(
            {
                "account": account,
                "type": "account_onboarding",
                "return_url": return_url,
                "refresh_url": refresh_url,
            }
        )
    except stripe.StripeError as exc:
        log_failure("account link", exc, account)
        raise
    return link.url


async def _create_account(
    client: stripe.StripeClient, practice_id: str, account_type: AccountType
) -> str:
    try:
        created = await client.v1.accounts.create_async(
            {"type": account_type, "metadata": {"practice_id": practice_id}},
            options(None, f"{practice_id}:connect-account"),
        )
    except stripe.StripeError as exc:
        log_failure("account create", exc, None)
        raise
    return created.id
