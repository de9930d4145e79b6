"""What the Payment Element needs from the fake Stripe (dev stack and tests only).

localstripe knows neither ConfirmationTokens nor the publishable-key calls Stripe.js makes, so
this adds them in front of it, shaped as real Stripe answers:

- `POST /v1/confirmation_tokens` (publishable key, what Stripe.js's createConfirmationToken
  calls) and `POST /v1/test_helpers/confirmation_tokens` (secret key, the SDK's test helper)
  mint a `ctoken_...` naming a PaymentMethod that localstripe makes from the card;
  `GET /v1/confirmation_tokens/{id}` shows its `payment_method_preview`.
- PaymentIntent create takes `confirmation_token` (used once) as that PaymentMethod.
- A token belongs to the account it was made on (Stripe.js's `_stripe_account`, or the
  `Stripe-Account` header): on another account it is "No such confirmation_token", as on Stripe.
- `GET /v1/payment_intents/{id}` with the publishable key and the client secret (handleNextAction).
- A failed 3-D Secure challenge sends `payment_intent.payment_failed`, and 4000 0000 0000 0002
  is declined when charged, as on Stripe (localstripe sends nothing, and declines that card only
  when it is attached to a customer).
- The dev Stripe.js stand-in (static/stripe.js) is served from here, so its calls to this
  origin are what the pay page's CSP already allows for Stripe.js's own origin.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError

TOKEN_PREFIX = "ctoken_"
TOKEN_TTL_SECONDS = 12 * 3600  # Stripe's: a ConfirmationToken expires after 12 hours
STAND_IN = Path(__file__).resolve().parent / "static" / "stripe.js"
# Under /js.stripe.com/, which localstripe serves without a key.
STAND_IN_PATH = "/js.stripe.com/payreq/stripe.js"
GENERIC_DECLINE_CARD = "4000000000000002"
_INTENT = re.compile(r"^/v1/payment_intents/(pi_\w+)$")
_AUTHENTICATE = re.compile(r"^/v1/payment_intents/(pi_\w+)/_authenticate$")
_EXCLUSIVE_WITH_ALLOWED = frozenset(
    {"excluded_payment_method_types", "automatic_payment_methods", "payment_method_configuration"}
)
# The connected account the request in hand acts on (None: the platform).
_ACCOUNT: ContextVar[str | None] = ContextVar("stripe_account", default=None)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(app: web.Application) -> None:
    """Before the app starts: the routes, the publishable-key middleware and the patches."""
    app.router.add_post("/v1/confirmation_tokens", _create_token)
    app.router.add_post("/v1/test_helpers/confirmation_tokens", _create_token)
    app.router.add_get("/v1/confirmation_tokens/{id}", _retrieve_token)
    app.router.add_get(STAND_IN_PATH, _stand_in)
    # After localstripe's error middleware (which turns UserError into Stripe's error shape),
    # before its auth middleware (which only knows secret keys on these paths).
    app.middlewares.insert(1, _publishable_key)
    app.middlewares.insert(1, _account_scope)
    _accept_confirmation_token()
    _accept_allowed_payment_method_types()
    _decline_like_stripe()


def mint_token(
    payment_method: str | None = None,
    payment_method_data: dict[str, Any] | None = None,
    _stripe_account: str | None = None,
    **unexpected: Any,
) -> dict[str, Any]:
    if unexpected:
        raise UserError(400, "Unexpected " + ", ".join(unexpected))
    if (payment_method is None) == (payment_method_data is None):
        raise UserError(400, "Pass exactly one of payment_method and payment_method_data")
    if payment_method is not None:
        method = resources.PaymentMethod._api_retrieve(payment_method)
    else:
        method = resources.PaymentMethod._api_create(**(payment_method_data or {}))
    now = int(time.time())
    token_id = TOKEN_PREFIX + resources.random_id(24)
    token = {
        "id": token_id,
        "object": "confirmation_token",
        "created": now,
        "expires_at": now + TOKEN_TTL_SECONDS,
        "livemode": False,
        "mandate_data": None,
        "payment_intent": None,
        "payment_method_options": None,
        "payment_method_preview": _preview(method._export()),
        "return_url": None,
        "setup_future_usage": None,
        "setup_intent": None,
        "shipping": None,
        "use_stripe_sdk": True,
    }
    account = _stripe_account or _ACCOUNT.get()
    record = {"token": token, "payment_method": method.id, "used": False, "account": account}
    resources.store[_key(token_id)] = record
    return token


def _preview(method: dict[str, Any]) -> dict[str, Any]:
    preview = {k: method.get(k) for k in ("type", "billing_details", "customer")}
    preview[method["type"]] = method.get(method["type"])
    preview["allow_redisplay"] = "unspecified"
    return preview


def _key(token_id: str) -> str:
    return f"confirmation_token:{token_id}"


def _record(token_id: str) -> dict[str, Any]:
    record = resources.store.get(_key(token_id))
    if record is None or record.get("account") != _ACCOUNT.get():
        raise UserError(404, f"No such confirmation_token: '{token_id}'")
    return dict(record)


async def _create_token(request: web.Request) -> web.Response:
    data = await server.get_post_data(request) or {}
    response: web.Response = server.json_response(mint_token(**data))
    return response


async def _retrieve_token(request: web.Request) -> web.Response:
    response: web.Response = server.json_response(_record(request.match_info["id"])["token"])
    return response


async def _stand_in(_: web.Request) -> web.FileResponse:
    return web.FileResponse(STAND_IN, headers={"Content-Type": "application/javascript"})


def _use_token(token_id: str) -> str:
    """The token's PaymentMethod; a token confirms one intent, once, before it expires."""
    record = _record(token_id)
    token = record["token"]
    if record["used"]:
        raise UserError(400, "This ConfirmationToken has already been used.")
    if token["expires_at"] <= time.time():
        raise UserError(400, "This ConfirmationToken has expired.")
    resources.store[_key(token_id)] = {**record, "used": True}
    return str(record["payment_method"])


def _accept_confirmation_token() -> None:
    create = resources.PaymentIntent._api_create

    def api_create(cls: type, /, confirmation_token: str | None = None, **data: Any) -> Any:
        if confirmation_token is None:
            return create(**data)
        # As on Stripe, the request's own payment_method wins over the token's.
        data.setdefault("payment_method", _use_token(confirmation_token))
        intent = create(**data)
        record = _record(confirmation_token)
        record["token"] = {**record["token"], "payment_intent": intent.id}
        resources.store[_key(confirmation_token)] = record
        return intent

    resources.PaymentIntent._api_create = classmethod(api_create)


def _accept_allowed_payment_method_types() -> None:
    """API 2026-09-30 replaced payment_method_types (now a 400) with allowed_payment_method_types,
    which excludes the other ways of choosing types; localstripe knows only the old name.
    The one translation of it (fakestripe_shim.py turns automatic_payment_methods into it)."""
    create = resources.PaymentIntent._api_create

    def api_create(cls: type, /, allowed_payment_method_types: Any = None, **data: Any) -> Any:
        if "payment_method_types" in data:
            raise UserError(
                400,
                "payment_method_types is no longer supported on this API version.",
                {"code": "payment_method_types_no_longer_supported"},
            )
        if allowed_payment_method_types is not None:
            clash = sorted(set(data) & _EXCLUSIVE_WITH_ALLOWED)
            if clash:
                raise UserError(400, "allowed_payment_method_types excludes " + ", ".join(clash))
            data["payment_method_types"] = allowed_payment_method_types
        return create(**data)

    resources.PaymentIntent._api_create = classmethod(api_create)


def _decline_like_stripe() -> None:
    declined = resources.PaymentMethod._charging_is_declined

    def charging_is_declined(self: Any) -> bool:
        if self.type == "card" and self._card_number == GENERIC_DECLINE_CARD:
            return True
        return bool(declined(self))

    resources.PaymentMethod._charging_is_declined = charging_is_declined


@web.middleware
async def _account_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
    scope = _ACCOUNT.set(request.headers.get("Stripe-Account"))
    try:
        return await handler(request)
    finally:
        _ACCOUNT.reset(scope)


@web.middleware
async def _publishable_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if request.method == "POST" and _AUTHENTICATE.match(path):
        return await _authenticate(request, handler)
    if request.method == "POST" and path == "/v1/confirmation_tokens":
        data = await server.get_post_data(request, remove_auth=False) or {}
        if str(data.get("key", "")).startswith("pk_"):
            response = await request.match_info.handler(request)
            return response
    intent = _INTENT.match(path)
    if request.method == "GET" and intent and request.query.get("key", "").startswith("pk_"):
        found = resources.PaymentIntent._api_retrieve(intent.group(1))
        if request.query.get("client_secret") != found.client_secret:
            raise UserError(401, "Unauthorized")
        exported: web.Response = server.json_response(found._export())
        return exported
    return await handler(request)


async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """localstripe's own challenge outcome, then the event Stripe sends when it failed."""
    response = await handler(request)
    match = _AUTHENTICATE.match(request.path)
    intent = resources.store.get(f"payment_intent:{match.group(1)}") if match else None
    if response.status == 200 and intent is not None and intent._authentication_failed:
        resources.schedule_webhook(resources.Event("payment_intent.payment_failed", intent))
    return response
