"""Item 6: made-up HTTP methods and paths cannot add /metrics series."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def series(text: str) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for family in text_string_to_metric_families(text):
        if family.name == "payreq_http_requests":
            for sample in family.samples:
                found.add((sample.labels["route"], sample.labels["method"]))
    return found


async def test_made_up_methods_and_paths_add_no_series(api: httpx.AsyncClient) -> None:
    await api.get("/healthz")
    await api.get("/metrics")
    before = series((await api.get("/metrics")).text)
    for n in range(50):
        await api.request(f"BREW{n}", "/healthz")
        await api.request("X" * 3000, f"/v1/payment-requests/pr_{n}")
        await api.get(f"/no/such/path/{n}")
        await api.request(f"M{n}", f"/pay/token{n}")
    after = series((await api.get("/metrics")).text)
    new = after - before
    print(f"{len(new)} new series after 200 odd requests: {sorted(new)}")
    assert all(len(route) < 100 and len(method) < 10 for route, method in after)
    assert {method for _, method in new} <= {"GET", "other"}
    assert len(new) <= 4  # /healthz, the list route, /pay/{token}, unmatched
