"""Every dependency and endpoint of every API route is a coroutine: FastAPI runs a plain
`def` dependency in a worker thread, and with three of them (the app's deps, its metrics, the
pay limiter) every request paid thread hops for a getattr (py-spy of the API under the
lifecycle bench: anyio's run_sync and the Condition wait/notify around it, about a sixth of
its samples). The dev mailbox, which touches the disk, is the one exception."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.app import ROUTERS
from payreq.dev.mail import router as dev_mail_router

BLOCKING = {"_maildir"}  # mkdir and a Maildir: a thread is right for it


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _is_async(call: object) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    # a security scheme instance (HTTPBearer): FastAPI awaits its async __call__
    return inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004


def test_every_route_dependency_is_async() -> None:
    routes = [r for router in (*ROUTERS, dev_mail_router) for r in router.routes]
    api_routes = [r for r in routes if isinstance(r, APIRoute)]
    assert len(api_routes) > 20
    sync = {
        f"{route.path}: {getattr(call, '__name__', call)}"
        for route in api_routes
        for call in _calls(route.dependant)
        if not _is_async(call) and getattr(call, "__name__", "") not in BLOCKING
    }
    assert not sync, sorted(sync)
    assert all(inspect.iscoroutinefunction(r.endpoint) for r in api_routes)
