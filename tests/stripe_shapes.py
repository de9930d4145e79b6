"""Stripe objects and events for tests, built from Stripe's published shapes: the `resources` of
`openapi/fixtures3.json` in github.com/stripe/openapi, vendored in tests/fixtures/stripe (the
source commit is in the file). Each builder starts from Stripe's own object and changes only
the fields a test is about, so a payload has every field real Stripe sends."""

from __future__ import annotations

import copy
import json
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from payreq.stripe.client import API_VERSION

FIXTURES = Path(__file__).parent / "fixtures" / "stripe" / "fixtures3.json"


@cache
def _resources() -> dict[str, dict[str, Any]]:
    return dict(json.loads(FIXTURES.read_text())["resources"])


def shape(kind: str, **fields: Any) -> dict[str, Any]:
    """Stripe's fixture of `kind` (payment_intent, charge, refund, dispute, event) with `fields`."""
    obj = copy.deepcopy(_resources()[kind])
    obj.update(fields)
    return obj


def event(
    kind: str, obj: dict[str, Any], event_id: str | None = None, account: str | None = None
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "type": kind,
        "created": int(time.time()),
        "api_version": API_VERSION,
        "data": {"object": obj},
    }
    if account:
        fields["account"] = account  # set by Stripe on events from a connected account
    return shape("event", **fields)


def payment_intent(
    payment_id: str, amount: int, metadata: dict[str, str], status: str = "succeeded"
) -> dict[str, Any]:
    return shape(
        "payment_intent",
        id=payment_id,
        amount=amount,
        amount_received=amount if status == "succeeded" else 0,
        status=status,
        payment_method="pm_card_visa",
        latest_charge="ch_" + payment_id[3:],
        metadata=metadata,
        last_payment_error=None,
        next_action=None,
        canceled_at=None,
        processing=None,
    )


def charge(
    payment_id: str, amount: int, refunded: int, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    return shape(
        "charge",
        id="ch_" + payment_id[3:],
        payment_intent=payment_id,
        amount=amount,
        amount_captured=amount,
        captured=True,
        amount_refunded=refunded,
        refunded=refunded >= amount,
        paid=True,
        status="succeeded",
        metadata=metadata or {},
    )


def dispute(payment_id: str, amount: int, status: str = "needs_response") -> dict[str, Any]:
    return shape(
        "dispute",
        id=f"dp_{payment_id[3:]}",
        charge="ch_" + payment_id[3:],
        payment_intent=payment_id,
        amount=amount,
        status=status,
        metadata={},
    )
