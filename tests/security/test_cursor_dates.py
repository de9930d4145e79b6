"""Item 9: out-of-range dates in a cursor are a 422 invalid_cursor on both list endpoints."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

DATES = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999-23:59",
    "10000-01-01T00:00:00",
    "0000-01-01T00:00:00",
    "2026-13-01T00:00:00",
    "2026-02-30T00:00:00",
]
ENDPOINTS = ["/v1/patients/pt_123/payment-requests", "/v1/patients/pt_123/payments"]


def cursor(at: str) -> str:
    raw = json.dumps([at, "pr_x"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_out_of_range_cursor_dates_are_a_422(api: httpx.AsyncClient, endpoint: str) -> None:
    answers = {}
    for at in DATES:
        resp = await api.get(endpoint, params={"cursor": cursor(at)})
        answers[at] = (resp.status_code, resp.json()["error"]["code"])
    assert answers == {at: (422, "invalid_cursor") for at in DATES}
