"""Rate limits on the patient's pay link (/pay/*), by client address and by token.

Moving windows from the `limits` package, kept in this process's memory: each API process
enforces them on its own, so N processes allow up to N times these figures (still hopeless for
guessing a 192-bit token). The limiter lives on the app's state, so every app (and test) has
its own counters.

The limits (see PAY_LIMITS):
- per client address, any /pay/* request: 120 per minute (a patient polling their balance and
  paying uses far less; a scanner guessing tokens gets nowhere);
- per token, any /pay/{token}* request: 60 per minute (one link cannot be hammered);
- per token, payment attempts (POST /pay/{token}/payments): 10 per 10 minutes (card testing
  through one link stops after a few tries).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from api.errors import ApiError


@dataclass(frozen=True)
class PayLimits:
    per_address: str = "120/minute"
    per_token: str = "60/minute"
    payments_per_token: str = "10/10 minutes"


PAY_LIMITS = PayLimits()


class PayRateLimiter:
    def __init__(self, limits: PayLimits = PAY_LIMITS) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._address = parse(limits.per_address)
        self._token = parse(limits.per_token)
        self._payments = parse(limits.payments_per_token)

    async def check(self, request: Request, token: str, *, payment: bool = False) -> None:
        """Count this request against each limit; 429 with Retry-After on the first exceeded."""
        address = request.client.host if request.client else "unknown"
        # The token itself never sits in memory as a key: a short hash of it is enough.
        token_key = hashlib.sha256(token.encode()).hexdigest()[:32]
        checks: list[tuple[RateLimitItem, str]] = [
            (self._address, f"addr:{address}"),
            (self._token, f"token:{token_key}"),
        ]
        if payment:
            checks.append((self._payments, f"pay:{token_key}"))
        for item, key in checks:
            if not await self._limiter.hit(item, key):
                stats = await self._limiter.get_window_stats(item, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise ApiError(
                    429,
                    "rate_limited",
                    "Too many requests for this payment link; try again shortly.",
                    headers={"Retry-After": str(retry_after)},
                )


def pay_rate_limiter(request: Request) -> PayRateLimiter:
    state = request.app.state
    limiter: PayRateLimiter | None = getattr(state, "pay_rate_limiter", None)
    if limiter is None:
        limiter = PayRateLimiter(getattr(state, "pay_limits", PAY_LIMITS))
        state.pay_rate_limiter = limiter
    return limiter
