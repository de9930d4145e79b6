"""Item 3: a chunked body (no Content-Length) is cut off at the limit on every route, without
reading or holding the rest: the app pulls at most the limit plus one chunk."""

from __future__ import annotations

import tracemalloc
from typing import Any

import httpx
import pytest

from api.app import MAX_BODY_BYTES
from tests.support import Harness

TOTAL = 40 * 1024 * 1024
CHUNK = b"x" * 65536  # one object, sent again and again: it allocates nothing per chunk
ROUTES = [
    ("POST", "/webhooks/stripe"),
    ("POST", "/v1/payment-requests"),
    ("PUT", "/v1/webhook-endpoint"),
    ("PATCH", "/v1/practice"),
    ("PUT", "/v1/email-templates/request"),
    ("POST", "/v1/email-templates/request/preview"),
    ("POST", "/v1/staff-sessions"),
    ("POST", "/pay/some-token/payments"),
    ("POST", "/v1/payment-requests/pr_x/cancel"),
]


async def send_chunked(app: Any, method: str, path: str, api_key: str) -> tuple[int, int, int]:
    """(status, bytes the app pulled, peak bytes allocated meanwhile) for a 40 MiB body."""
    pulled = 0
    status = 0
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"authorization", f"Bearer {api_key}".encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= TOTAL:
            return {"type": "http.disconnect"}
        pulled += len(CHUNK)
        return {"type": "http.request", "body": CHUNK, "more_body": pulled < TOTAL}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    tracemalloc.start()
    try:
        await app(scope, receive, send)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return status, pulled, peak


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_a_chunked_40_mib_body_is_cut_off_at_the_limit(
    api: httpx.AsyncClient, harness: Harness, method: str, path: str
) -> None:
    app = api._transport.app  # type: ignore[attr-defined]
    status, pulled, peak = await send_chunked(app, method, path, harness.api_key)
    print(f"{method} {path}: {status}, pulled {pulled} bytes, peak {peak // 1024} KiB")
    assert status == 413
    assert pulled <= MAX_BODY_BYTES + len(CHUNK)
    assert peak < 4 * 1024 * 1024
