"""Rate limits on the patient's pay link (/pay/*), shared by every API process.

Counters live in Postgres (`rate_limit_counters`, fixed windows, one statement per step), so
N API replicas enforce the same figures as one. The client address comes from
api/client_address.py (X-Forwarded-For only from TRUSTED_PROXIES). Keys are hashes.

Before the link is looked up (see PayLimits for the figures):
- every /pay/* request counts against its address;
- an address that has guessed wrong too often gets no lookup; once unknown-token lookups
  across all addresses pass the global cap, one wrong guess is enough.
After the lookup, only a request that reached a valid link counts against that link, and per
address: someone else's traffic or card testing never spends a patient's budget. Payment
attempts also count per link across addresses (only the link's holders can make them), so
rotating addresses on one link does not multiply the attempts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from fastapi import Request
from limits import parse

from api.client_address import Network, client_address, parse_networks
from api.errors import ApiError
from api.pay_tokens import PayLink, find_pay_link
from payreq.digest import sha256_hex

CLEANUP_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class PayLimits:
    per_address: str = "120/minute"  # any /pay/* request
    failures_per_address: str = "30/10 minutes"  # unknown or revoked tokens
    unknown_tokens_global: str = "600/minute"  # across all addresses: then 1 failure blocks
    per_token: str = "60/minute"  # per link and address, requests that reached the link
    payments_per_token: str = "10/10 minutes"  # per link and address
    payments_per_address: str = "20/10 minutes"  # across links (card testing)
    # Across addresses: only holders of the link reach it, so no outsider can spend it, and a
    # card tester rotating addresses on one link stops here.
    payments_per_link: str = "30/hour"


PAY_LIMITS = PayLimits()


@dataclass(frozen=True)
class Limit:
    name: str
    amount: int
    seconds: int

    @classmethod
    def of(cls, name: str, text: str) -> Limit:
        item = parse(text)
        return cls(name, item.amount, item.get_expiry())


_HIT = """
WITH hit AS (
    INSERT INTO rate_limit_counters AS c (key, window_start, hits)
    SELECT k, to_timestamp(floor(extract(epoch FROM now()) / p) * p), 1
    FROM unnest($1::text[], $2::int[]) AS t(k, p)
    ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + 1
    RETURNING c.key, c.hits, c.window_start)
SELECT key, hits, extract(epoch FROM window_start)::float8 AS started FROM hit
UNION ALL
SELECT c.key, c.hits, extract(epoch FROM c.window_start)::float8 FROM rate_limit_counters c
JOIN unnest($3::text[], $4::int[]) AS t(k, p) ON c.key = t.k
 AND c.window_start = to_timestamp(floor(extract(epoch FROM now()) / t.p) * t.p)
"""


def _key(*parts: str) -> str:
    return sha256_hex("\x1f".join(parts))[:32]


Counts = dict[str, tuple[int, float]]  # key -> (hits in its window, window start, epoch s)


class PayRateLimiter:
    def __init__(
        self, pool: asyncpg.Pool, proxies: Sequence[Network] = (), limits: PayLimits = PAY_LIMITS
    ) -> None:
        self._pool = pool
        self._proxies = tuple(proxies)
        self._address = Limit.of("addr", limits.per_address)
        self._failures = Limit.of("fail", limits.failures_per_address)
        self._global = Limit.of("fail-all", limits.unknown_tokens_global)
        self._token = Limit.of("link", limits.per_token)
        self._payments = Limit.of("pay", limits.payments_per_token)
        self._payments_addr = Limit.of("pay-addr", limits.payments_per_address)
        self._payments_link = Limit.of("pay-link", limits.payments_per_link)
        self._cleaned = time.monotonic()

    async def check(self, request: Request, token: str, *, payment: bool = False) -> PayLink:
        """The valid link, counted; 404 for an unknown one; 429 with Retry-After when over."""
        peer = request.client.host if request.client else "unknown"
        addr = client_address(peer, request.headers.getlist("x-forwarded-for"), self._proxies)
        seen = (self._address, _key("addr", addr))
        failures = [(self._failures, _key("fail", addr)), (self._global, _key("fail-all"))]
        counts = await self._hit([seen], failures)
        _refuse_over(counts, [seen], allowed=lambda limit: limit.amount)
        lockdown = counts.get(failures[1][1], (0, 0.0))[0] >= self._global.amount
        # Failures are only read here (counted after the lookup): at the limit means refused.
        failure_cap = 0 if lockdown else self._failures.amount - 1
        _refuse_over(counts, failures[:1], allowed=lambda _: failure_cap)
        link = await find_pay_link(self._pool, token, datetime.now(UTC))
        if link is None:
            await self._hit(failures, [])
            raise ApiError(404, "not_found", "This payment link is not valid.")
        token_key = sha256_hex(token)[:32]
        hits = [(self._token, _key("link", token_key, addr))]
        if payment:
            hits.append((self._payments, _key("pay", token_key, addr)))
            hits.append((self._payments_addr, _key("pay-addr", addr)))
            hits.append((self._payments_link, _key("pay-link", token_key)))
        _refuse_over(await self._hit(hits, []), hits, allowed=lambda limit: limit.amount)
        return link

    async def _hit(self, hits: list[tuple[Limit, str]], peeks: list[tuple[Limit, str]]) -> Counts:
        """Count `hits` and read `peeks`, in one statement."""
        rows = await self._pool.fetch(
            _HIT,
            [k for _, k in hits],
            [limit.seconds for limit, _ in hits],
            [k for _, k in peeks],
            [limit.seconds for limit, _ in peeks],
        )
        if time.monotonic() - self._cleaned > CLEANUP_EVERY_SECONDS:
            self._cleaned = time.monotonic()
            await self._pool.execute(
                "DELETE FROM rate_limit_counters WHERE window_start < now() - interval '1 day'"
            )
        return {r["key"]: (r["hits"], r["started"]) for r in rows}


def _refuse_over(
    counts: Counts, checks: list[tuple[Limit, str]], allowed: Callable[[Limit], int]
) -> None:
    for limit, key in checks:
        hits, started = counts.get(key, (0, 0.0))
        if hits > allowed(limit):
            retry_after = max(1, math.ceil(started + limit.seconds - time.time()))
            raise ApiError(
                429,
                "rate_limited",
                "Too many requests for this payment link; try again shortly.",
                headers={"Retry-After": str(retry_after)},
            )


async def pay_rate_limiter(request: Request) -> PayRateLimiter:
    state = request.app.state
    limiter: PayRateLimiter | None = getattr(state, "pay_rate_limiter", None)
    if limiter is None:
        deps = state.deps
        proxies = parse_networks(deps.settings.trusted_proxies)
        limiter = PayRateLimiter(deps.pool, proxies, getattr(state, "pay_limits", PAY_LIMITS))
        state.pay_rate_limiter = limiter
    return limiter
