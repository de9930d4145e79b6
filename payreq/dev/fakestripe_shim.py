"""A thin shim in front of localstripe, so production code can send what real Stripe accepts
at the pinned API version (dev stack and tests only; never imported in production).

- Translates what localstripe does not know: `automatic_payment_methods` becomes the allowed
  list (fakestripe_element.py maps that list, and refuses `payment_method_types` as Stripe
  does); `application_fee_amount` and
  `statement_descriptor_suffix` are kept on the side (localstripe refuses them).
- Connect: records the `Stripe-Account` of every request, scopes what is made on a connected
  account to it (anyone else gets Stripe's 404), stamps `account` on its events, serves
  `/v1/accounts` and `/v1/account_links`, and lists events per account (with `types`).
- Emits the money events localstripe never does (payreq/dev/fakestripe_events.py).
- Records every /v1 request (method, path, parameter names, Stripe-Account): GET
  /_config/shim/requests, so a test can check each one against the SDK's param types.
"""

from __future__ import annotations

import contextvars
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web
from aiohttp.typedefs import Handler
from localstripe import resources

from payreq.dev import fakestripe_events
from payreq.dev.fakestripe_events import OWNERS

_account: contextvars.ContextVar[str | None] = contextvars.ContextVar("account", default=None)
REQUESTS: list[dict[str, Any]] = []
ACCOUNTS: dict[str, dict[str, Any]] = {}
_OBJECT_PATH = re.compile(r"^/v1/[a-z_]+/((?:pi|pm|ch|re|cus|dp|acct)_[A-Za-z0-9_]+)")
# Real parameters localstripe refuses and has no use for: dropped after they are recorded.
_DROPPED = ("application_fee_amount", "statement_descriptor_suffix")


def install(app: web.Application) -> None:
    app.middlewares.insert(0, shim_middleware)
    app.router.add_get("/_config/shim/requests", _requests)
    app.router.add_delete("/_config/shim/requests/last", _forget_last)
    fakestripe_events.install(app, _account)


@web.middleware
async def shim_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    account = request.headers.get("Stripe-Account")
    form = parse_qsl((await request.read()).decode(), keep_blank_values=True)
    query = list(request.query.items())
    REQUESTS.append(
        {
            "method": request.method,
            "path": request.path,
            "params": [k for k, _ in form + query],
            "stripe_account": account,
            # The service's own calls carry the secret key; Stripe.js's carry the publishable one.
            "server": request.headers.get("Authorization", "").startswith("Bearer sk_"),
        }
    )
    match = _OBJECT_PATH.match(request.path)
    if match and OWNERS.get(match.group(1), account) != account:
        return _error(404, f"No such object: '{match.group(1)}'", "resource_missing")
    local = await _answer_locally(request, form, query, account)
    if local is not None:
        return local
    if request.method == "POST" and request.path.startswith("/v1/payment_intents"):
        form = _translate_intent(request, form)
    token = _account.set(account)
    try:
        response = await handler(request)
    finally:
        _account.reset(token)
    if request.method == "POST" and isinstance(response, web.Response) and response.status < 300:
        _after_create(request.path, json.loads(response.text or "{}"), account)
    if isinstance(response, web.Response) and response.status == 404:
        return _with_stripes_code(response)
    return response


def _with_stripes_code(response: web.Response) -> web.Response:
    """localstripe's 404 has no error code; Stripe's is `resource_missing`."""
    try:
        body = json.loads(response.text or "{}")
    except ValueError:
        return response
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get("code"):
        return response
    error["code"] = "resource_missing"
    error.setdefault("type", "invalid_request_error")
    return web.json_response(body, status=404)


def _translate_intent(request: web.Request, form: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    # Sent together, Stripe refuses the pair: left as they are for fakestripe_element to refuse.
    allowed = any(k.startswith("allowed_payment_method_types") for k, _ in form)
    for key, value in form:
        if key in _DROPPED:
            continue
        if key.startswith("automatic_payment_methods") and not allowed:
            if key == "automatic_payment_methods[enabled]" and value == "true":
                # the one kind localstripe can make; fakestripe_element maps the allowed list
                out.append(("allowed_payment_method_types[0]", "card"))
        else:
            out.append((key, value))
    request._read_bytes = urlencode(out).encode()  # what localstripe's handler reads
    return out


def _after_create(path: str, body: dict[str, Any], account: str | None) -> None:
    for key in ("id", "latest_charge", "charge"):
        value = body.get(key)
        value = value.get("id") if isinstance(value, dict) else value
        if isinstance(value, str) and value not in OWNERS:
            OWNERS[value] = account
    if path.startswith("/v1/payment_intents") and body.get("status") == "succeeded":
        fakestripe_events.after_charge(body)
    if path == "/v1/refunds" and body.get("id"):
        fakestripe_events.after_refund(resources.Refund._api_retrieve(body["id"]))


async def _answer_locally(
    request: web.Request,
    form: list[tuple[str, str]],
    query: list[tuple[str, str]],
    account: str | None,
) -> web.Response | None:
    """What localstripe has no route for: events by account and type, accounts, links."""
    if request.method == "GET" and request.path == "/v1/events":
        return web.json_response(_list_events(query, account))
    if request.method == "POST" and request.path == "/v1/accounts":
        return web.json_response(_create_account(dict(form)))
    if request.method == "POST" and request.path == "/v1/account_links":
        return _account_link(request, dict(form))
    return None


def _list_events(query: list[tuple[str, str]], account: str | None) -> dict[str, Any]:
    params = dict(query)
    types = {v for k, v in query if re.fullmatch(r"types\[\d*\]", k)} | (
        {params["type"]} if "type" in params else set()
    )
    bounds = {k[8:-1]: int(v) for k, v in query if k.startswith("created[")}
    if "created" in params:
        bounds["gte"] = bounds["lte"] = int(params["created"])
    ordered = [o for k, o in resources.store.items() if k.startswith("event:")]
    events = [
        e
        for e in reversed(ordered)  # newest first, as Stripe lists them
        if getattr(e, "account", None) == account
        and (not types or e.type in types)
        and _within(e.created, bounds)
    ]
    after = params.get("starting_after")
    if after:
        ids = [e.id for e in events]
        events = events[ids.index(after) + 1 :] if after in ids else []
    limit = int(params.get("limit", 10))
    return {
        "object": "list",
        "url": "/v1/events",
        "has_more": len(events) > limit,
        "data": [e._export() for e in events[:limit]],
    }


def _within(created: int, bounds: dict[str, int]) -> bool:
    checks = {
        "gt": lambda b: created > b,
        "gte": lambda b: created >= b,
        "lt": lambda b: created < b,
        "lte": lambda b: created <= b,
    }
    return all(checks[k](b) for k, b in bounds.items() if k in checks)


def _create_account(form: dict[str, str]) -> dict[str, Any]:
    account_id = "acct_" + resources.random_id(16)
    ACCOUNTS[account_id] = {
        "id": account_id,
        "object": "account",
        "type": form.get("type", "standard"),
        "country": form.get("country", "US"),
        "email": form.get("email"),
        "charges_enabled": False,
        "details_submitted": False,
        "created": int(time.time()),
        "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
    }
    return ACCOUNTS[account_id]


def _account_link(request: web.Request, form: dict[str, str]) -> web.Response:
    missing = [k for k in ("account", "type", "refresh_url", "return_url") if not form.get(k)]
    if missing:
        return _error(400, f"Missing required param: {missing[0]}.", "parameter_missing")
    if form["account"] not in ACCOUNTS and not form["account"].startswith("acct_"):
        return _error(400, "No such account.", "resource_missing")
    now = int(time.time())
    host = f"{request.scheme}://{request.host}"
    return web.json_response(
        {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"{host}/_config/shim/onboarding/{form['account']}",
        }
    )


async def _requests(request: web.Request) -> web.Response:
    return web.json_response(REQUESTS)


async def _forget_last(request: web.Request) -> web.Response:
    """A test that sends a bad request on purpose takes it back out of the record."""
    REQUESTS.pop()
    return web.json_response({})


def _error(status: int, message: str, code: str) -> web.Response:
    body = {"error": {"type": "invalid_request_error", "message": message, "code": code}}
    return web.json_response(body, status=status)
