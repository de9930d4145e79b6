"""The API's composition root: the app factory and its lifespan.

Routers live one per resource under api/routes/ and are listed here, in ROUTERS: a new
resource's router is added to that list. Dev-only routes (/dev/mail) are never here: the dev
stack mounts them on its own app (payreq/dev/api.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import AppDeps
from api.errors import error_response, install_error_handlers
from api.metrics import install_metrics
from api.openapi import install_openapi
from api.routes import (
    api_keys,
    codec,
    desk_payments,
    email_templates,
    embed,
    ops,
    patients,
    pay,
    payment_requests,
    payments,
    practice,
    practice_stripe,
    staff,
    stripe_webhook,
    text_templates,
    twilio_webhook,
    webhook_endpoint,
)
from payreq.components import create_pool, stripe_client
from payreq.logs import RequestContextMiddleware
from payreq.settings import Settings, load_settings
from payreq.temporal import connect_temporal

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` as the limit is crossed. An HTTPException, so FastAPI's body
    parsing re-raises it rather than turning it into a 400."""

    def __init__(self) -> None:
        super().__init__(413, f"The body must be at most {MAX_BODY_BYTES} bytes.")


class BodyLimit:
    """413 for a body over MAX_BODY_BYTES on every route: at once from Content-Length, and
    while streaming otherwise (chunked), so no more than the limit is ever read or held."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:  # raised outside a handler (a middleware reading the body)
                await _too_large(scope, receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(
        413, "body_too_large", f"The body must be at most {MAX_BODY_BYTES} bytes."
    )
    await response(scope, receive, send)


# In the order they are matched: the first route that matches a path wins.
ROUTERS: tuple[APIRouter, ...] = (
    api_keys.router,
    codec.router,
    desk_payments.router,
    email_templates.router,
    embed.router,
    ops.router,
    patients.router,
    pay.router,
    payment_requests.router,
    payments.router,
    practice.router,
    practice_stripe.router,
    staff.router,
    stripe_webhook.router,
    text_templates.router,
    twilio_webhook.router,
    webhook_endpoint.router,
)


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
        pool = await create_pool(cfg, max_size=20, application_name="payreq-api")
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
    for router in ROUTERS:
        app.include_router(router)
    return app
