"""Every request sent to the fake Stripe, checked against the pinned SDK's own param types.

The shim (payreq/fakestripe_shim.py) records the parameter names of each /v1 request the
service makes (with its secret key). Each name, e.g. `metadata[payment_request_id]` or
`allowed_payment_method_types[0]`, is walked through the TypedDict stripe-python 16.1 defines
for that endpoint (`typing.get_type_hints`): a name the type does not define (say the dead
`payment_method_types`) is a request real Stripe at API_VERSION would refuse.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe.params
from stripe import RequestOptions
from typing_extensions import is_typeddict

_ID = r"[A-Za-z0-9_]+"
ENDPOINTS: tuple[tuple[str, str, str], ...] = (
    ("POST", r"/v1/payment_intents", "PaymentIntentCreateParams"),
    ("GET", rf"/v1/payment_intents/{_ID}", "PaymentIntentRetrieveParams"),
    ("GET", r"/v1/payment_intents", "PaymentIntentListParams"),
    ("POST", rf"/v1/payment_intents/{_ID}/confirm", "PaymentIntentConfirmParams"),
    ("POST", r"/v1/payment_methods", "PaymentMethodCreateParams"),
    ("GET", rf"/v1/payment_methods/{_ID}", "PaymentMethodRetrieveParams"),
    ("GET", rf"/v1/charges/{_ID}", "ChargeRetrieveParams"),
    ("POST", r"/v1/refunds", "RefundCreateParams"),
    ("GET", r"/v1/refunds", "RefundListParams"),
    ("GET", rf"/v1/refunds/{_ID}", "RefundRetrieveParams"),
    ("GET", r"/v1/events", "EventListParams"),
    ("POST", r"/v1/accounts", "AccountCreateParams"),
    ("POST", r"/v1/account_links", "AccountLinkCreateParams"),
    ("GET", rf"/v1/confirmation_tokens/{_ID}", "ConfirmationTokenRetrieveParams"),
    ("POST", r"/v1/test_helpers/confirmation_tokens", "test_helpers.ConfirmationTokenCreateParams"),
)


def hints(tp: Any) -> dict[str, Any]:
    """typing.get_type_hints, with names the SDK imports only for type checkers (such as
    StripeContext, never a form field) taken as a plain dict."""
    localns: dict[str, Any] = {}
    while True:
        try:
            return typing.get_type_hints(tp, localns=localns)
        except NameError as exc:
            localns[str(exc.name)] = dict  # subscriptable, and no field of ours


_OPTIONS = set(hints(RequestOptions))  # request options, never form fields


@dataclass
class Report:
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def params_type(method: str, path: str) -> Any:
    for m, pattern, name in ENDPOINTS:
        if m == method and re.fullmatch(pattern, path):
            found: Any = stripe.params
            for part in name.split("."):
                found = getattr(found, part)
            return found
    return None


def defined(tp: Any, path: list[str], top: bool = False) -> bool:
    """Whether the parameter path (["metadata", "x"]) is one `tp` defines."""
    if not path:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(defined(arg, path, top) for arg in typing.get_args(tp))
    if is_typeddict(tp):
        fields = hints(tp)
        if path[0] not in fields or (top and path[0] in _OPTIONS):
            return False
        return defined(fields[path[0]], path[1:])
    if origin in (list, tuple) or origin is list:
        return re.fullmatch(r"\d*", path[0]) is not None and defined(
            typing.get_args(tp)[0], path[1:]
        )
    if origin in (dict, dict) or (isinstance(tp, type) and issubclass(tp, dict)):
        return len(path) == 1  # a free-form map: any key, a plain value
    return False  # a scalar has no sub-fields


def split(name: str) -> list[str]:
    head, _, rest = name.partition("[")
    return [head, *re.findall(r"([^\[\]]*)\]", "[" + rest)] if rest else [head]


def check(requests: list[dict[str, Any]]) -> Report:
    report = Report()
    for req in requests:
        if not req.get("server"):
            continue
        report.checked += 1
        tp = params_type(req["method"], req["path"])
        if tp is None:
            report.problems.append(f"{req['method']} {req['path']}: no param type known")
            continue
        for name in req["params"]:
            if not defined(tp, split(name), top=True):
                report.problems.append(f"{req['method']} {req['path']}: {name}")
    return report


def recorded(stripe_base: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{stripe_base}/_config/shim/requests", timeout=10).json())
