"""/healthz, /readyz, /metrics and /openapi.json on the real app."""

from __future__ import annotations

import asyncpg
import httpx
from temporalio.client import Client

from api.app import create_app
from api.deps import AppDeps
from tests.integration.apihelp import create, error_of
from tests.support import Harness, free_port


async def test_health_and_readiness(api: httpx.AsyncClient, harness: Harness) -> None:
    assert (await api.get("/healthz", headers={"Authorization": ""})).json() == {"status": "ok"}
    resp = await api.get("/readyz", headers={"Authorization": ""})
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def _readyz(pool: asyncpg.Pool, temporal: Client) -> httpx.Response:
    deps = AppDeps(
        settings=None,  # type: ignore[arg-type]
        pool=pool,
        temporal=temporal,
        stripe=None,
        task_queue="unused",
    )
    app = create_app(deps=deps)
    app.state.deps = deps
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        return await client.get("/readyz")


async def test_readyz_is_503_when_the_database_is_unreachable(
    harness: Harness, database_url: str
) -> None:
    dead = await asyncpg.create_pool(database_url, min_size=0, max_size=1)
    assert dead is not None
    await dead.close()
    resp = await _readyz(dead, harness.client)
    assert error_of(resp) == (503, "not_ready", None)
    assert "database" in resp.json()["error"]["message"]


async def test_readyz_is_503_when_temporal_is_unreachable(harness: Harness) -> None:
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    resp = await _readyz(harness.pool, nowhere)
    assert error_of(resp) == (503, "not_ready", None)
    assert "temporal" in resp.json()["error"]["message"]


async def test_metrics_count_routes_by_template_without_ids(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        rid = (await create(api))["id"]
        await api.get(f"/v1/payment-requests/{rid}")
        await api.get("/v1/payment-requests/pr_missing")
        await api.get("/no/such/path/pt_123")
    text = (await api.get("/metrics")).text
    assert (
        'payreq_http_requests_total{method="GET",route="/v1/payment-requests/{request_id}",'
        'status="200"} 1.0' in text
    )
    assert 'route="/v1/payment-requests/{request_id}",status="404"} 1.0' in text
    assert 'route="unmatched",status="404"' in text
    assert 'payreq_http_request_duration_seconds_bucket{le="0.5",method="POST"' in text
    assert "payreq_workflows_started_total 1.0" in text
    assert "payreq_payments_applied_total 0.0" in text
    assert rid not in text and "pt_123" not in text and "maria" not in text


async def test_openapi_documents_errors_security_and_examples(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    create_op = spec["paths"]["/v1/payment-requests"]["post"]
    for code in ("400", "401", "409", "413", "422"):
        ref = create_op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/ErrorResponse")
    assert create_op["security"] == [{"HTTPBearer": []}]
    body = spec["components"]["schemas"]["CreatePaymentRequest"]
    assert body["examples"][0]["balance_due"] == 18500
    assert "HTTPValidationError" not in spec["components"]["schemas"]
