"""Structured logs: JSON lines in production, readable lines in dev, with request and workflow
ids, and no PHI or secrets.

What keeps PHI out: handlers and activities log ids, never names, emails or notes; the API's
access line names the route template (`/pay/{token}`), never the path; exception messages are
not written (they may quote values: an asyncpg error quotes the row), only their type and
stack; and a last-line filter masks anything shaped like an email address, API key or token.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from payreq.settings import Settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "payreq_request_id", default=None
)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MASKS = (
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"\b(prk|sk|rk|whsec|pk)_(test_|live_)?[A-Za-z0-9_-]{6,}"), "[secret]"),
    (re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [secret]"),
    (re.compile(r"/pay/[A-Za-z0-9_-]{16,}"), "/pay/[token]"),
    (re.compile(r"/codec/t/[^/\s]+"), "/codec/t/[token]"),
)
# Library loggers whose INFO lines carry URLs or payload details we do not want.
_QUIET = ("httpx", "httpcore", "stripe", "uvicorn.access", "aiosmtpd", "asyncio")


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def _context(record: logging.LogRecord) -> dict[str, Any]:
    """Ids only: the request id, and the workflow/activity the Temporal SDK attached."""
    out: dict[str, Any] = {}
    rid = getattr(record, "request_id", None) or request_id_var.get()
    if rid:
        out["request_id"] = rid
    for attr in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, attr, None)
        if isinstance(info, dict):
            for key in ("workflow_id", "run_id", "workflow_type", "activity_type", "attempt"):
                if key in info:
                    out[key] = info[key]
    for key in ("route", "method", "status", "duration_ms", "event_id", "payment_request_id"):
        value = getattr(record, key, None)
        if value is not None:
            out[key] = value
    return out


def _exception(record: logging.LogRecord) -> str | None:
    if not record.exc_info or record.exc_info[1] is None:
        return None
    exc = record.exc_info[1]
    frames = traceback.extract_tb(exc.__traceback__)
    stack = " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames[-8:])
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {stack}"


def _message(record: logging.LogRecord) -> str:
    # The Temporal SDK appends its info dict (ids only) to activity and workflow messages.
    return mask(record.getMessage())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
            **_context(record),
        }
        exc = _exception(record)
        if exc:
            line["exception"] = exc
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        ctx = " ".join(f"{k}={v}" for k, v in _context(record).items())
        text = f"{stamp} {record.levelname:<7} {record.name}: {_message(record)}"
        if ctx:
            text += f"  [{ctx}]"
        exc = _exception(record)
        if exc:
            text += f"\n    {exc}"
        return text


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def setup_logging(
    settings: Settings | None = None, *, fmt: str = "json", level: str = "INFO"
) -> None:
    """Route every logger (ours, uvicorn's, the Temporal SDK's) through one stderr handler."""
    if settings is not None:
        fmt, level = settings.log_format, settings.log_level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def new_request_id() -> str:
    return secrets.token_hex(8)


class RequestContextMiddleware:
    """Pure ASGI middleware: takes the caller's X-Request-ID (when it is a sane token) or makes
    one, returns it on the response, exposes it to every log line of the request, and writes
    one access line naming the route template, never the path (paths carry pay tokens)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("payreq.api.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = (
            dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        )
        rid = incoming if _SAFE_REQUEST_ID.match(incoming) else new_request_id()
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            self.log.info(
                "%s %s %s",
                scope.get("method"),
                getattr(route, "path", "<unmatched>"),
                status,
                extra={
                    "method": scope.get("method"),
                    "route": getattr(route, "path", "<unmatched>"),
                    "status": status,
                    "duration_ms": _ms(started),
                },
            )
            request_id_var.reset(token)


class _ActivityLogInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = {
            "temporal_activity": {
                "workflow_id": info.workflow_id,
                "activity_type": info.activity_type,
                "attempt": info.attempt,
            }
        }
        started = time.perf_counter()
        try:
            result = await self.next.execute_activity(input)
        except BaseException as exc:
            _activity_log.info(
                "activity %s failed: %s",
                info.activity_type,
                type(exc).__name__,
                extra={**ids, "duration_ms": _ms(started)},
            )
            raise
        _activity_log.info(
            "activity %s done", info.activity_type, extra={**ids, "duration_ms": _ms(started)}
        )
        return result


class ActivityLogInterceptor(Interceptor):
    """One line per activity execution with its workflow id, type, attempt and duration (the
    arguments and results are never logged: they carry PHI)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityLogInbound(next)


_activity_log = logging.getLogger("payreq.worker.activity")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
