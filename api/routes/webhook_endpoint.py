"""Where the practice software receives outbound events (delivery: activities/webhooks.py)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter

from api.deps import CurrentPractice, Deps
from api.errors import ApiError
from api.resources import WebhookEndpointOut, error_responses
from api.schemas.webhook_endpoint import WebhookEndpointIn
from payreq.egress import UnsafeDestination, check_destination

router = APIRouter(prefix="/v1", tags=["webhooks"])

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


@router.put(
    "/webhook-endpoint",
    response_model=WebhookEndpointOut,
    responses=error_responses(400, 401, 413, 422),
    summary="Set the URL that receives signed payment events",
)
async def put_webhook_endpoint(
    body: WebhookEndpointIn, practice: CurrentPractice, deps: Deps
) -> WebhookEndpointOut:
    """Events are POSTed with `Payreq-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
    "<t>.<body>">` and retried with backoff until a 2xx (for four days). When no secret is
    given one is generated and returned in this response only."""
    try:
        await check_destination(body.url, allow_loopback=deps.settings.webhook_allow_loopback)
    except UnsafeDestination as exc:
        raise ApiError(422, "invalid_value", f"url: {exc}.", "url") from None
    generated = body.secret is None
    secret = body.secret or SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    updated_at = await deps.pool.fetchval(
        """INSERT INTO webhook_endpoints (practice_id, url, secret) VALUES ($1, $2, $3)
           ON CONFLICT (practice_id) DO UPDATE
               SET url = EXCLUDED.url, secret = EXCLUDED.secret, updated_at = now()
           RETURNING updated_at""",
        practice.id,
        body.url,
        secret,
    )
    return WebhookEndpointOut(
        url=body.url, secret=secret if generated else None, updated_at=updated_at
    )
