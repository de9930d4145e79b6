"""Delivery of outbound events to the practice's webhook endpoint, signed like Stripe signs:
`Payreq-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

import asyncpg
import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflows.types import DeliverEventsInput

SIGNATURE_HEADER = "Payreq-Signature"
# The whole attempt (resolve, connect, send, the response's status line), however slowly the
# endpoint trickles its answer; the body is never read.
DELIVERY_DEADLINE_SECONDS = 15.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


class WebhookActivities:
    def __init__(
        self,
        pool: asyncpg.Pool,
        http: httpx.AsyncClient,
        deadline_seconds: float = DELIVERY_DEADLINE_SECONDS,
    ) -> None:
        """`http` is payreq.egress.safe_client(): it refuses non-public destinations."""
        self._pool = pool
        self._http = http
        self._deadline = deadline_seconds

    @activity.defn(name="deliver_events")
    async def deliver_events(self, inp: DeliverEventsInput) -> None:
        """Every event of one save, in order; a retry sends only those not yet acknowledged."""
        failed = []
        for event_id in inp.event_ids:
            _, _, error = await self._deliver(event_id)
            if error:
                failed.append(f"{event_id}: {error}")
        if failed:
            raise ApplicationError(
                "delivery failed: " + "; ".join(failed), type="WebhookDeliveryFailed"
            )

    @activity.defn(name="mark_events_undeliverable")
    async def mark_events_undeliverable(self, inp: DeliverEventsInput) -> None:
        await self._pool.execute(
            "UPDATE outbound_events SET last_error = coalesce(last_error, '') || ' (gave up)'"
            " WHERE id = ANY($1) AND delivered_at IS NULL",
            list(inp.event_ids),
        )

    async def _deliver(self, event_id: str) -> tuple[str, int, str | None]:
        """(status, attempts so far, error of this attempt or None)."""
        row = await self._pool.fetchrow(
            """SELECT e.payload, e.delivered_at, e.attempts, w.url, w.secret
               FROM outbound_events e LEFT JOIN webhook_endpoints w USING (practice_id)
               WHERE e.id = $1""",
            event_id,
        )
        if row is None:
            raise ApplicationError(f"unknown event {event_id}", non_retryable=True)
        if row["delivered_at"] is not None:
            return "delivered", row["attempts"], None
        if row["url"] is None:
            return "no_endpoint", row["attempts"], None
        body = json.dumps(json.loads(row["payload"]), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(row["secret"], body, int(time.time())),
            "User-Agent": "payreq-webhooks/1",
        }
        error = await self._post(row["url"], body, headers)
        attempts = await self._pool.fetchval(
            """UPDATE outbound_events SET attempts = attempts + 1, last_error = $2,
                   delivered_at = CASE WHEN $2::text IS NULL THEN now() END
               WHERE id = $1 RETURNING attempts""",
            event_id,
            error,
        )
        return ("failed" if error else "delivered"), attempts, error

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """None when acknowledged (2xx; a redirect is not followed and counts as a failure)."""
        try:
            async with asyncio.timeout(self._deadline):
                async with self._http.stream("POST", url, content=body, headers=headers) as resp:
                    if 200 <= resp.status_code < 300:
                        return None
                    return f"HTTP {resp.status_code}"
        except TimeoutError:
            return "timed out"
        except httpx.InvalidURL as exc:  # httpx's own parser refusing the host
            return f"refused destination: {exc}"
        except httpx.HTTPError as exc:
            refused = str(exc) if str(exc).startswith("refused destination") else ""
            return refused or type(exc).__name__
