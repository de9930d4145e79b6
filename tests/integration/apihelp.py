"""Helpers shared by the API tests: a valid create body and calls that wait for progress."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import eventually


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {"id": "pt_123", "first_name": "Ana", "last_name": "Lopez"},
        "balance_due": 18500,
        "amount": 12000,
        "first_name": "Maria",
        "last_name": "Lopez",
        "facility": {"id": "fac_1", "name": "Downtown Clinic"},
        "emails": "maria@example.com; ana@example.com",
        "note": "For visits on Nov 3 and Nov 10.",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    resp = await api.post("/v1/payment-requests", json=create_body(**overrides))
    assert resp.status_code == 201, resp.text
    data: dict[str, Any] = resp.json()
    return data


async def until_status(api: httpx.AsyncClient, request_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        data: dict[str, Any] = (await api.get(f"/v1/payment-requests/{request_id}")).json()
        return data if data["status"] == status else None

    result: dict[str, Any] = await eventually(check, timeout=20)
    return result


def error_of(resp: httpx.Response) -> tuple[int, str, str | None]:
    err = resp.json()["error"]
    assert set(err) == {"code", "message", "field"} and err["message"], err
    return resp.status_code, err["code"], err["field"]
