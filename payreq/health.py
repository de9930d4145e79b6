"""The worker's probe endpoint: `GET /healthz` (the process is serving) and `GET /readyz`
(Postgres and Temporal answer), on WORKER_HEALTH_HOST:WORKER_HEALTH_PORT when the port is set.
A worker has no HTTP API of its own; Kubernetes probes need one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

READY_CHECK_TIMEOUT_SECONDS = 2.0
REQUEST_TIMEOUT_SECONDS = 5.0
log = logging.getLogger("payreq.worker.health")

ReadyCheck = Callable[[], Awaitable[object]]


async def _status(path: bytes, ready: ReadyCheck) -> int:
    if path == b"/healthz":
        return 200
    if path != b"/readyz":
        return 404
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_SECONDS):
            await ready()
    except Exception as exc:  # not ready, whatever the cause; the type is enough to log
        log.warning("readiness failed: %s", type(exc).__name__)
        return 503
    return 200


def _handler(ready: ReadyCheck) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                parts = request_line.split()
                path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
                status = await _status(path, ready) if parts[:1] == [b"GET"] else 405
                body = b"ok\n" if status == 200 else b"not ok\n"
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (status, b"X", len(body), body)
                )
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return handle


@asynccontextmanager
async def health_server(host: str, port: int | None, ready: ReadyCheck) -> AsyncIterator[None]:
    if port is None:
        yield
        return
    server = await asyncio.start_server(_handler(ready), host=host, port=port)
    log.info("health endpoint on %s:%d (/healthz, /readyz)", host, port)
    try:
        yield
    finally:
        server.close()


def database_and_temporal(pool: asyncpg.Pool, client: Client) -> ReadyCheck:
    async def check() -> None:
        await pool.fetchval("SELECT 1")
        await client.workflow_service.get_system_info(GetSystemInfoRequest())

    return check
