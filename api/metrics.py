"""Prometheus metrics, one CollectorRegistry per app (tests build many apps in one process).

Labels carry only route templates, methods and status codes: never an id, a name or an amount.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED_ROUTE = "unmatched"  # 404s for unknown paths: never the raw path (it may hold ids)
# Any other method a client makes up is counted as "other": each label value is a series
# kept forever, so none may come from the client.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_label(route: object) -> str:
    """The matched route's template (a fixed, finite set), else "unmatched"."""
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path.startswith("/") else UNMATCHED_ROUTE


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "payreq_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "payreq_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.workflows_started = Counter(
            "payreq_workflows_started",
            "Payment request workflows started by the API.",
            registry=self.registry,
        )
        self.payments_applied = Counter(
            "payreq_payments_applied",
            "Stripe payments handed to a request's workflow by the webhook.",
            registry=self.registry,
        )


def app_metrics(app: Any) -> Metrics:
    """The app's Metrics, created on first use and kept on app.state."""
    metrics: Metrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = Metrics()
        app.state.metrics = metrics
    return metrics


async def get_metrics(request: Request) -> Metrics:
    return app_metrics(request.app)


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request, labelled by the matched
    route's template (Starlette records the route in the scope when it matches)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = app_metrics(scope["app"])
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = route_label(scope.get("route"))
            method = method_label(scope["method"])
            metrics.requests.labels(route, method, str(status)).inc()
            metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI) -> None:
    app_metrics(app)
    app.add_middleware(MetricsMiddleware)
