"""POST /webhooks/stripe: Stripe's events, verified, then received once by the gateway
(payreq/stripe/inbox.py `receive`), which hands them to the request's workflow."""

from __future__ import annotations

import json
import logging
from typing import Any

import asyncpg
import stripe
from fastapi import APIRouter, Request
from temporalio.service import RPCError

from api.deps import Deps
from api.errors import ApiError, ErrorResponse
from api.metrics import app_metrics
from api.schemas.stripe_webhook import WebhookAck
from payreq.stripe.inbox import EventInFlight, StripeInbox, TemporalUnavailable, receive

SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's own default: older signatures are replays
log = logging.getLogger("payreq.api.stripe")

router = APIRouter(tags=["stripe"])


def verify_event(body: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """Stripe's scheme: t=<unix>,v1=<hex>[,v1=...] over f"{t}.{body}"; any v1 may match."""
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), header, secret, SIGNATURE_TOLERANCE_SECONDS
        )
        event = json.loads(body)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_signature", "The Stripe signature is not valid.") from exc
    if not isinstance(event, dict) or not {"id", "type", "created", "data"} <= event.keys():
        raise ApiError(400, "malformed_event", "The body is not a Stripe event.")
    return event


def verify_any(body: bytes, header: str | None, secrets: str) -> dict[str, Any]:
    """STRIPE_WEBHOOK_SECRET may list several secrets, comma-separated: the platform endpoint's
    and the Connect endpoint's (each Stripe endpoint signs with its own)."""
    *others, last = [s.strip() for s in secrets.split(",") if s.strip()] or [""]
    for secret in others:
        try:
            return verify_event(body, header, secret)
        except ApiError as exc:
            if exc.code != "invalid_signature":
                raise
    return verify_event(body, header, last)


@router.post(
    "/webhooks/stripe",
    response_model=WebhookAck,
    summary="Receive a Stripe event",
    description="The platform's endpoint and the Connect endpoint both point here. An event "
    "whose `account` is not the connected account of the payment's practice (or that has no "
    "`account` while the practice has one) changes nothing: it is recorded and answered 200 "
    "with outcome `account_mismatch`, so Stripe does not send it again.",
    responses={400: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def stripe_webhook(request: Request, deps: Deps) -> WebhookAck:
    secret = deps.settings.stripe_webhook_secret
    if secret is None:
        raise ApiError(503, "not_configured", "STRIPE_WEBHOOK_SECRET is not set.")
    event = verify_any(
        await request.body(), request.headers.get("stripe-signature"), secret.get_secret_value()
    )
    inbox = StripeInbox(deps.temporal, deps.stripe)
    try:
        handled = await receive(deps.pool, inbox, event)
    except (
        EventInFlight,
        TemporalUnavailable,
        RPCError,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        stripe.StripeError,
    ) as exc:
        log.warning("stripe event %s not handed on: %s", event["id"], type(exc).__name__)
        raise ApiError(
            503, "temporarily_unavailable", "The event could not be recorded; retry later."
        ) from exc
    if handled.outcome == "signalled" and event["type"] == "payment_intent.succeeded":
        app_metrics(request.app).payments_applied.inc()
    return WebhookAck(outcome=handled.outcome)
