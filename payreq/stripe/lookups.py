"""What the inbox asks Stripe about an event's objects, always on the event's own account."""

from __future__ import annotations

import asyncio
from typing import Any

import stripe

from payreq.stripe.client import log_failure, options

METHOD_LOOKUP_TIMEOUT_SECONDS = 5.0
FAILED_REFUND_STATUSES = ("failed", "canceled")
REFUNDS_PAGE = 100


class StripeLookups:
    def __init__(self, client: stripe.StripeClient | None) -> None:
        self._stripe = client

    async def charge_of(self, obj: dict[str, Any], account: str | None) -> dict[str, Any]:
        """The charge an event is about: the object itself, or a refund's charge."""
        if obj.get("object") != "refund":
            return obj
        charge = obj.get("charge")
        if isinstance(charge, dict):
            return charge
        if not isinstance(charge, str) or self._stripe is None:
            return {"payment_intent": obj.get("payment_intent"), "amount": 0}
        try:
            found = await self._stripe.v1.charges.retrieve_async(charge, {}, options(account))
        except stripe.StripeError as exc:
            log_failure("charge lookup", exc, account)
            raise
        return found.to_dict()

    async def refund_totals(self, charge: dict[str, Any], account: str | None) -> tuple[int, int]:
        """(every refund made, those that failed) on the charge: both only ever grow. From the
        event's charge alone (Stripe's `amount_refunded`, net of failures) when the charge is
        not one Stripe knows, e.g. an event replayed from a fixture."""
        charge_id = charge.get("id")
        fallback = (int(charge.get("amount_refunded") or 0), 0)
        if not isinstance(charge_id, str) or self._stripe is None:
            return fallback
        try:
            page = await self._stripe.v1.refunds.list_async(
                {"charge": charge_id, "limit": REFUNDS_PAGE}, options(account)
            )
            refunds = [r.to_dict() async for r in page.auto_paging_iter()]
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing" and exc.http_status != 404:
                log_failure("refund list", exc, account)
                raise
            return fallback
        made = sum(int(r["amount"]) for r in refunds)
        failed = sum(int(r["amount"]) for r in refunds if r.get("status") in FAILED_REFUND_STATUSES)
        return max(made, fallback[0]), failed

    async def charge_intent(self, dispute: dict[str, Any], account: str | None) -> str | None:
        charge = dispute.get("charge")
        if not isinstance(charge, str) or self._stripe is None:
            return None
        try:
            found = await self._stripe.v1.charges.retrieve_async(charge, {}, options(account))
        except stripe.StripeError as exc:
            log_failure("charge lookup", exc, account)
            raise
        intent = found.to_dict().get("payment_intent")
        return str(intent) if intent else None

    async def intent_metadata(self, payment_id: str, account: str | None) -> dict[str, Any] | None:
        if self._stripe is None:
            return None
        try:
            intent = await self._stripe.v1.payment_intents.retrieve_async(
                payment_id, {}, options(account)
            )
        except stripe.StripeError as exc:
            log_failure("payment intent lookup", exc, account)
            raise
        metadata = intent.to_dict().get("metadata")
        return dict(metadata) if isinstance(metadata, dict) else None

    async def card(self, payment_method: str, account: str | None) -> dict[str, Any] | None:
        if self._stripe is None:
            return None
        try:
            found = await asyncio.wait_for(
                self._stripe.v1.payment_methods.retrieve_async(
                    payment_method, {}, options(account)
                ),
                METHOD_LOOKUP_TIMEOUT_SECONDS,
            )
        except stripe.StripeError as exc:
            log_failure("payment method lookup", exc, account)
            return None  # never fatal: the payment counts whether or not we can name the card
        except TimeoutError:
            return None
        card = found.to_dict().get("card")
        return dict(card) if isinstance(card, dict) else None
