"""The lifecycle benchmark's HTTP client for the load it sends to the API: creates, Stripe's
webhook deliveries and the practice's GETs, with what tests/reliability/stack.py's httpx
helpers send (create_body, the same Idempotency-Key retries, the signed event bodies).

aiohttp rather than httpx here because the driver shares the 2 cores with what it measures:
py-spy of the driver under the quick lifecycle put half its busy samples in httpx, most of
them httpcore's pool checking every connection's socket on each request."""

from __future__ import annotations

import asyncio
import uuid
from types import TracebackType
from typing import Any

import aiohttp

from tests.integration.pay_helpers import sign
from tests.reliability.stack import Stack, create_body

RETRY_PAUSE_SECONDS = 0.2
CREATE_ATTEMPTS = 600


class LoadClient:
    def __init__(self, stack: Stack, connections: int) -> None:
        self._base = stack.api_url
        self._key = stack.api_key
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadClient:
        self._session = aiohttp.ClientSession(
            base_url=self._base,
            headers={"Authorization": f"Bearer {self._key}"},
            connector=aiohttp.TCPConnector(limit=self._connections),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "use LoadClient as an async context manager"
        return self._session

    async def create(self, n: int, amount: int, emails: str) -> str:
        """POST /v1/payment-requests, retried with one Idempotency-Key (stack.create_request)."""
        key = f"create-{uuid.uuid4().hex}"
        body: dict[str, Any] = create_body(n, amount, emails)
        for _ in range(CREATE_ATTEMPTS):
            try:
                async with self.session.post(
                    "/v1/payment-requests", json=body, headers={"Idempotency-Key": key}
                ) as resp:
                    if resp.status == 201:  # noqa: PLR2004
                        return str((await resp.json())["id"])
                    if resp.status < 500 and resp.status != 409:  # noqa: PLR2004
                        raise AssertionError(f"create answered {resp.status}: {await resp.text()}")
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        raise AssertionError("create never succeeded")

    async def deliver(self, body: bytes) -> int:
        """One delivery of a signed event, as Stripe makes it (stack.deliver); 599 when the
        connection failed."""
        headers = {"Stripe-Signature": sign(body), "Content-Type": "application/json"}
        try:
            async with self.session.post("/webhooks/stripe", data=body, headers=headers) as resp:
                await resp.read()
                return resp.status
        except aiohttp.ClientConnectionError:
            return 599

    async def get(self, path: str) -> tuple[int, str]:
        async with self.session.get(path) as resp:
            return resp.status, await resp.text()
