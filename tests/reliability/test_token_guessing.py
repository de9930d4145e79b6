"""Token guessing: random and mutated pay-link tokens against the real app and Postgres.
0 hits; every miss gets the same 404 page as a revoked link (status, headers, body); one
address guessing fast is rate limited (429) long before it could matter."""

from __future__ import annotations

import asyncio
import re
import secrets
import statistics
import string
import time
from collections import Counter
from typing import Any

import httpx

from api.app import create_app
from api.deps import AppDeps
from tests import support
from tests.integration.pay_helpers import start_request
from tests.reliability.stack import size
from tests.support import Harness

ADDRESSES = 100  # guesses spread over this many client addresses stay under the per-address limit
ALPHABET = string.ascii_letters + string.digits + "-_"


def mutations(token: str, rng: secrets.SystemRandom) -> str:
    i = rng.randrange(len(token))
    choice = rng.randrange(5)
    if choice == 0:  # one character changed
        return token[:i] + rng.choice(ALPHABET.replace(token[i], "")) + token[i + 1 :]
    if choice == 1:  # truncated
        return token[: max(1, i)]
    if choice == 2:  # extended
        return token + rng.choice(ALPHABET)
    if choice == 3:  # two neighbours swapped
        j = min(i + 1, len(token) - 1)
        swapped = token[:i] + token[j] + token[i] + token[j + 1 :]
        return swapped if swapped != token else token + "x"
    return token.swapcase() if token.swapcase() != token else token + "A"


def shape(resp: httpx.Response) -> tuple[Any, ...]:
    """What a caller can compare between two answers (nonces and dates aside)."""
    body = re.sub(r"nonce-[A-Za-z0-9+/=_-]+|nonce=\"[^\"]+\"", "nonce", resp.text)
    headers = tuple(
        sorted(
            (k, re.sub(r"nonce-[A-Za-z0-9+/=_-]+", "nonce", v))
            for k, v in resp.headers.items()
            if k not in ("date", "content-length", "x-request-id", "retry-after")
        )
    )
    return resp.status_code, headers, body


async def test_guessed_tokens_never_hit_and_look_alike(
    harness: Harness, database_url: str, fake_stripe: str, smtp_server: Any
) -> None:
    guesses = size(2_000, 10_000)
    deps = AppDeps(
        settings=support.test_settings(database_url, smtp_server[1], fake_stripe),
        pool=harness.pool,
        temporal=harness.client,
        stripe=harness.stripe,
        task_queue=harness.task_queue,
    )
    app = create_app(deps=deps)
    app.state.deps = deps
    rng = secrets.SystemRandom()
    async with harness.worker():
        _, token = await start_request(harness)
        _, revoked = await start_request(harness)
        await harness.pool.execute("UPDATE pay_tokens SET revoked_at = now()")  # both revoked
        _, live = await start_request(harness)  # the one valid link: must never be guessed
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(f"10.0.{i // 250}.{i % 250}", 40000)),
            base_url="http://testserver",
        )
        for i in range(ADDRESSES)
    ]
    try:
        known = [token, revoked, live]
        tokens = [
            secrets.token_urlsafe(rng.choice([16, 24, 32]))
            if n % 2
            else mutations(rng.choice(known), rng)
            for n in range(guesses)
        ]
        tokens = [t for t in tokens if t not in known and "/" not in t]
        sem = asyncio.Semaphore(20)
        shapes: Counter[tuple[Any, ...]] = Counter()
        statuses: Counter[int] = Counter()
        latency: dict[str, list[float]] = {"random": [], "mutated": []}

        async def guess(n: int, t: str) -> None:
            async with sem:
                t0 = time.perf_counter()
                resp = await clients[n % ADDRESSES].get(f"/pay/{t}")
                latency["random" if n % 2 else "mutated"].append(time.perf_counter() - t0)
                statuses[resp.status_code] += 1
                if resp.status_code == 404:
                    shapes[shape(resp)] += 1

        started = time.perf_counter()
        await asyncio.gather(*(guess(n, t) for n, t in enumerate(tokens)))
        elapsed = time.perf_counter() - started
        async with httpx.AsyncClient(  # an address with no wrong guesses behind it
            transport=httpx.ASGITransport(app=app, client=("10.8.8.8", 40000)),
            base_url="http://testserver",
        ) as fresh:
            revoked_shape = shape(await fresh.get(f"/pay/{revoked}"))

        async with httpx.AsyncClient(  # one address, guessing as fast as it can
            transport=httpx.ASGITransport(app=app, client=("10.9.9.9", 40000)),
            base_url="http://testserver",
        ) as scanner:
            burst = [
                (await scanner.get(f"/pay/{secrets.token_urlsafe(24)}")).status_code
                for _ in range(200)
            ]
            live_while_limited = (await scanner.get(f"/pay/{live}")).status_code
    finally:
        for c in clients:
            await c.aclose()

    def ms(xs: list[float]) -> str:
        return f"p50 {statistics.median(xs) * 1000:.1f} ms"

    first_429 = burst.index(429) if 429 in burst else None
    print(
        f"\ntoken guessing: {len(tokens)} guesses ({guesses // 2} random, the rest mutated from "
        f"real tokens) from {ADDRESSES} addresses in {elapsed:.1f}s: statuses "
        f"{dict(statuses)}, {len(shapes)} distinct 404 response(s) (request id aside); "
        f"random {ms(latency['random'])}, "
        f"mutated {ms(latency['mutated'])}; one address: 429 from request {first_429} of "
        f"{len(burst)}, then even the valid link answers {live_while_limited}"
    )
    assert statuses[200] == 0
    # 429: an address past its wrong guesses, or all of them once the global cap is reached
    assert set(statuses) <= {404, 429}
    assert len(shapes) == 1
    assert next(iter(shapes)) == revoked_shape  # a guess looks exactly like a revoked link
    assert first_429 is not None and first_429 <= 120
    assert set(burst[first_429:]) == {429} and live_while_limited == 429
