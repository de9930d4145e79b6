"""The API's composition root: the app factory and its lifespan.

Routers live one per resource under api/routes/; every module there that defines `router`
is included, so adding a resource never means editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

import api.routes
from api.deps import AppDeps
from api.errors import error_response, install_error_handlers
from api.metrics import install_metrics
from api.openapi import install_openapi
from payreq.components import create_pool, stripe_client
from payreq.logs import RequestContextMiddleware
from payreq.settings import Settings, load_settings
from payreq.temporal import connect_temporal

MAX_BODY_BYTES = 64 * 1024


class BodyLimit(BaseHTTPMiddleware):
    """413 for a body over MAX_BODY_BYTES, judged by Content-Length before reading it."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return error_response(
                413, "body_too_large", f"The body must be at most {MAX_BODY_BYTES} bytes."
            )
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            body = await request.body()
            if len(body) > MAX_BODY_BYTES:
                return error_response(
                    413, "body_too_large", f"The body must be at most {MAX_BODY_BYTES} bytes."
                )
        return await call_next(request)


def routers() -> list[APIRouter]:
    found = []
    for info in sorted(pkgutil.iter_modules(api.routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"api.routes.{info.name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def create_app(settings: Settings | None = None, deps: AppDeps | None = None) -> FastAPI:
    """`deps` lets tests hand in clients they already own; otherwise the lifespan builds them
    from settings and closes them at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if deps is not None:
            app.state.deps = deps
            yield
            return
        cfg = settings or load_settings()
        pool = await create_pool(cfg, max_size=20)
        try:
            temporal = await connect_temporal(cfg)
            app.state.deps = AppDeps(
                settings=cfg,
                pool=pool,
                temporal=temporal,
                stripe=stripe_client(cfg) if cfg.stripe_secret_key else None,
                task_queue=cfg.temporal_task_queue,
            )
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Payment Requests",
        version="1.0.0",
        description=(
            "Send a patient a payment request: an email with a secure link where they pay by "
            "card, in full or in part. Money is always an integer count of minor units."
        ),
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestContextMiddleware)  # outermost: every response gets an id
    install_metrics(app)  # outermost: counts 413s too
    install_openapi(app)
    install_error_handlers(app)
    for router in routers():
        app.include_router(router)
    return app
