"""The pay page's charge: one PaymentIntent per pay attempt, created and confirmed on the server.

The browser makes an `attempt_id` once per attempt and keeps it across retries. The first POST
of an attempt records attempt -> PaymentIntent in Postgres (under a lock per attempt, so two
concurrent POSTs queue); every later POST of it gets that same intent back. Stripe's own
Idempotency-Key is sent as well, but is not trusted alone (localstripe ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import stripe
from stripe.params import PaymentIntentCreateParams

from payreq.digest import sha256_hex
from payreq.stripe.cards import CARD_LABEL_KEY, card_label
from payreq.stripe.client import log_failure, options
from payreq.tables import Conn

# Stripe's codes for "this payment method cannot pay this intent": the patient can pick another.
UNUSABLE_METHOD_CODES = frozenset(
    {
        "resource_missing",
        "payment_method_unactivated",
        "payment_method_unexpected_state",
        "payment_intent_incompatible_payment_method",
        "payment_method_not_available",
        "payment_method_invalid_parameter",
    }
)
BPS = 10_000
# What the Payment Element offers (and the intent allows): cards and Link. Neither redirects,
# so confirming on the server needs no return_url. Wallets (Apple Pay, Google Pay) are cards.
PAYMENT_ELEMENT_TYPES = ("card", "link")


@dataclass(frozen=True, kw_only=True)
class Charge:
    request_id: str
    practice_id: str
    amount: int
    currency: str
    payment_method: str | None = None  # a PaymentMethod id (older integrations), or
    confirmation_token: str | None = None  # what the Payment Element made
    attempt_id: str | None
    account: str | None  # the practice's connected account; None: the platform's
    platform_fee_bps: int = 0
    statement_descriptor_suffix: str | None = None

    @property
    def source(self) -> str:
        """What pays: the ConfirmationToken or the PaymentMethod (exactly one is set)."""
        return self.confirmation_token or self.payment_method or ""

    @property
    def attempt_key(self) -> str | None:
        return f"{self.request_id}:{self.attempt_id}" if self.attempt_id else None

    @property
    def idempotency_key(self) -> str:
        """Business ids only: a retried POST of the same attempt never charges twice."""
        attempt = self.attempt_id or "-"
        digest = sha256_hex(f"{attempt}|{self.source}|{self.amount}")
        return f"{self.request_id}:pay:{digest[:32]}"


class PaymentDeclined(Exception):
    """The card was declined; the message is Stripe's, for the patient."""


class PaymentMethodUnusable(Exception):
    """This payment method cannot pay (unknown, unusable, or not for this account)."""


class AttemptMismatch(Exception):
    """The attempt was already made with another amount or payment method."""


PAYMENT_PARAMS = frozenset({"payment_method", "confirmation_token"})


async def pay(pool: asyncpg.Pool, client: stripe.StripeClient, charge: Charge) -> dict[str, Any]:
    """The attempt's PaymentIntent (created and confirmed the first time). StripeError for
    anything else (logged with Stripe's code and request id): the caller answers 503."""
    key = charge.attempt_key
    if key is None:
        return await _create(client, charge)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        made = await conn.fetchrow(_FIND, key)
        if made is not None:
            return await _again(client, charge, made)
        intent = await _create(client, charge)
        await _remember(conn, key, charge, intent["id"])
        return intent


async def _again(client: stripe.StripeClient, charge: Charge, made: Any) -> dict[str, Any]:
    if (made["amount"], made["payment_method"]) != (charge.amount, charge.source):
        raise AttemptMismatch(charge.attempt_id)
    try:
        intent = await client.v1.payment_intents.retrieve_async(
            made["payment_intent_id"], {}, options(made["stripe_account_id"])
        )
    except stripe.StripeError as exc:
        log_failure("payment intent retrieve", exc, charge.account)
        raise
    return intent.to_dict()


async def _create(client: stripe.StripeClient, charge: Charge) -> dict[str, Any]:
    try:
        # The card's label goes into the intent's metadata, so the webhook names the payment
        # without calling Stripe. Looked up first, so a retry sends the same parameters.
        label = await _card_label(client, charge)
        intent = await client.v1.payment_intents.create_async(
            intent_params(charge, label), options(charge.account, charge.idempotency_key)
        )
    except stripe.CardError as exc:
        log_failure("payment", exc, charge.account)
        raise PaymentDeclined(exc.user_message or "Your card was declined.") from exc
    except stripe.InvalidRequestError as exc:
        log_failure("payment", exc, charge.account)
        if exc.code in UNUSABLE_METHOD_CODES or getattr(exc, "param", None) in PAYMENT_PARAMS:
            raise PaymentMethodUnusable(exc.code) from exc
        raise
    except stripe.StripeError as exc:
        log_failure("payment", exc, charge.account)
        raise
    return intent.to_dict()


async def _card_label(client: stripe.StripeClient, charge: Charge) -> str | None:
    """On the charge's account: Stripe.js made the token there (`stripeAccount`)."""
    opts = options(charge.account)
    if charge.confirmation_token:
        token = await client.v1.confirmation_tokens.retrieve_async(
            charge.confirmation_token, {}, opts
        )
        preview = token.to_dict().get("payment_method_preview") or {}
        return card_label(preview.get("card"))
    method = await client.v1.payment_methods.retrieve_async(charge.source, {}, opts)
    return card_label(method.to_dict().get("card"))


def intent_params(charge: Charge, label: str | None) -> PaymentIntentCreateParams:
    """Create and confirm in one call ("finalize payments on the server"); a card that needs
    3-D Secure comes back requires_action, for the page's handleNextAction."""
    metadata = {"payment_request_id": charge.request_id, "practice_id": charge.practice_id}
    if label:
        metadata[CARD_LABEL_KEY] = label
    params: PaymentIntentCreateParams = {
        "amount": charge.amount,
        "currency": charge.currency,
        "confirm": True,
        "metadata": metadata,
    }
    if charge.confirmation_token:
        params["confirmation_token"] = charge.confirmation_token
        params["allowed_payment_method_types"] = list(PAYMENT_ELEMENT_TYPES)
    else:
        params["payment_method"] = charge.source
        params["allowed_payment_method_types"] = ["card"]
    if charge.statement_descriptor_suffix:
        params["statement_descriptor_suffix"] = charge.statement_descriptor_suffix
    fee = platform_fee(charge)
    if fee:
        params["application_fee_amount"] = fee
    return params


def platform_fee(charge: Charge) -> int:
    """The platform's cut of a direct charge (rounded down); none on the platform's own."""
    if charge.account is None or charge.platform_fee_bps <= 0:
        return 0
    return charge.amount * charge.platform_fee_bps // BPS


async def _remember(conn: Conn, key: str, charge: Charge, intent_id: str) -> None:
    await conn.execute(
        """INSERT INTO stripe_payment_intents (attempt_key, payment_intent_id, payment_request_id,
               stripe_account_id, amount, payment_method) VALUES ($1, $2, $3, $4, $5, $6)""",
        key,
        intent_id,
        charge.request_id,
        charge.account,
        charge.amount,
        charge.source,
    )


_FIND = """SELECT payment_intent_id, stripe_account_id, amount, payment_method
           FROM stripe_payment_intents WHERE attempt_key = $1"""
