"""The Stripe client, its pinned API version, per-account request options and failure logs."""

from __future__ import annotations

import logging

import stripe
from stripe import RequestOptions

# The API version every request is made at: the one stripe-python 16.1.0 is generated for, so
# the SDK's param types describe exactly what Stripe accepts. Upgrading: README, "Upgrading the
# Stripe API version".
API_VERSION = "2026-10-28.endive"

log = logging.getLogger("payreq.stripe")


def make_client(secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
    """One client for the platform and every connected account: the account is a per-request
    option (`stripe_account`), never a second key."""
    return stripe.StripeClient(
        secret_key,
        stripe_version=API_VERSION,
        base_addresses={"api": api_base} if api_base else {},
        http_client=stripe.HTTPXClient(),
        max_network_retries=2,
    )


def options(account: str | None, idempotency_key: str | None = None) -> RequestOptions:
    """Request options for a call made for `account` (None: the platform's own account)."""
    opts: RequestOptions = {}
    if account:
        opts["stripe_account"] = account
    if idempotency_key:
        opts["idempotency_key"] = idempotency_key
    return opts


def log_failure(operation: str, exc: stripe.StripeError, account: str | None) -> None:
    """What support needs to find the call in Stripe's dashboard, and nothing about the patient:
    Stripe's error code, the HTTP status and Stripe's request id."""
    log.warning(
        "stripe %s failed: status=%s code=%s param=%s request_id=%s account=%s",
        operation,
        exc.http_status,
        exc.code,
        getattr(exc, "param", None),
        exc.request_id,
        account or "platform",
    )
