"""Operations: liveness, readiness (Postgres and Temporal reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import Deps
from api.errors import error_response
from api.metrics import app_metrics
from api.resources import Health, error_responses

router = APIRouter(tags=["operations"])
READY_CHECK_TIMEOUT_SECONDS = 2.0
log = logging.getLogger("payreq.api")


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Health,
    responses=error_responses(503),
    summary="The database and Temporal are reachable",
)
async def readyz(deps: Deps) -> Health | JSONResponse:
    checks = {"database": _database(deps), "temporal": _temporal(deps)}
    for name, check in checks.items():
        try:
            async with asyncio.timeout(READY_CHECK_TIMEOUT_SECONDS):
                await check
        except Exception as exc:  # any failure means not ready; the type is enough to log
            log.warning("readiness: %s unavailable (%s)", name, type(exc).__name__)
            for pending in checks.values():
                pending.close()
            return error_response(503, "not_ready", f"The {name} is not reachable.")
    return Health()


async def _database(deps: Deps) -> None:
    await deps.pool.fetchval("SELECT 1")


async def _temporal(deps: Deps) -> None:
    await deps.temporal.workflow_service.get_system_info(GetSystemInfoRequest())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
    summary="Prometheus metrics",
)
async def metrics(request: Request) -> Response:
    registry = app_metrics(request.app).registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
