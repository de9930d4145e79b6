"""The events the fake Stripe emits beyond localstripe's own, the way Stripe's do (dev stack and
tests only): every event is stamped with the connected account it happened on, and the money
events localstripe never sends are emitted as Stripe's test cards make them happen:
`charge.refunded` for every refund; a card ending 0259 is disputed once charged
(`charge.dispute.created`; `POST /_config/shim/disputes/{id}/close` with `status` decides it:
`charge.dispute.closed`); a refund of a card ending 5126 fails (`refund.failed`,
`charge.refund.updated`; `POST /_config/shim/refunds/{id}/fail` fails any refund) and its money
is back on the charge.
"""

from __future__ import annotations

import contextvars
from typing import Any

from aiohttp import web
from localstripe import resources
from localstripe.webhooks import schedule_webhook

OWNERS: dict[str, str | None] = {}  # object id -> the account it was made on (None: platform)
DISPUTE_CARD, FAILING_REFUND_CARD = "0259", "5126"


class Dispute(resources.StripeObject):
    object = "dispute"
    _id_prefix = "dp_"

    def __init__(self, charge: Any) -> None:
        super().__init__()
        self.amount = charge.amount
        self.currency = charge.currency
        self.charge = charge.id
        self.payment_intent = charge.payment_intent
        self.reason = "fraudulent"
        self.status = "needs_response"
        self.metadata: dict[str, str] = {}


def install(app: web.Application, current: contextvars.ContextVar[str | None]) -> None:
    app.router.add_post("/_config/shim/disputes/{id}/close", _close_dispute)
    app.router.add_post("/_config/shim/refunds/{id}/fail", _fail_refund_route)
    _patch_localstripe(current)


def _patch_localstripe(current: contextvars.ContextVar[str | None]) -> None:
    original = resources.Event.__init__

    def stamped(self: Any, type: str, data: Any) -> None:  # noqa: A002 (localstripe's name)
        original(self, type, data)
        account = current.get() or OWNERS.get(getattr(data, "id", ""))
        if account:
            self.account = account

    resources.Event.__init__ = stamped
    # A failed refund's money is back on the charge, as on Stripe.
    resources.Charge.amount_refunded = property(
        lambda self: sum(r.amount for r in self.refunds._list if r.status != "failed")
    )


def _card_number(charge: Any) -> str:
    method = resources.store.get(f"payment_method:{charge.payment_method}")
    return str(getattr(method, "_card_number", ""))


def after_charge(intent: dict[str, Any]) -> None:
    latest = intent["latest_charge"]
    charge = resources.Charge._api_retrieve(latest["id"] if isinstance(latest, dict) else latest)
    if _card_number(charge).endswith(DISPUTE_CARD) and not getattr(charge, "_disputed", False):
        charge._disputed = True
        charge.payment_intent = intent["id"]
        dispute = Dispute(charge)
        OWNERS[dispute.id] = OWNERS.get(intent["id"])
        schedule_webhook(resources.Event("charge.dispute.created", dispute))


def after_refund(refund: Any) -> None:
    charge = resources.Charge._api_retrieve(refund.charge)
    schedule_webhook(resources.Event("charge.refunded", charge))
    if _card_number(charge).endswith(FAILING_REFUND_CARD):
        _fail_refund(refund)


def _fail_refund(refund: Any) -> None:
    refund.status = "failed"
    refund.failure_reason = "expired_or_canceled_card"
    for kind in ("refund.failed", "charge.refund.updated"):
        schedule_webhook(resources.Event(kind, refund))


async def _close_dispute(request: web.Request) -> web.Response:
    """Stripe decides a dispute (`{"status": "won" | "lost"}`): charge.dispute.closed."""
    dispute = resources.store[f"dispute:{request.match_info['id']}"]
    dispute.status = (await request.post()).get("status", "won")
    schedule_webhook(resources.Event("charge.dispute.closed", dispute))
    return web.json_response(dispute._export())


async def _fail_refund_route(request: web.Request) -> web.Response:
    refund = resources.Refund._api_retrieve(request.match_info["id"])
    _fail_refund(refund)
    return web.json_response(refund._export())
