"""Idempotency-Key on the practice API's POSTs, on the real app, Postgres and Temporal."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from api import idempotency, service, workflow_client
from api.deps import AppDeps, Practice
from api.errors import ApiError
from api.schemas import CreatePaymentRequest
from tests.integration.apihelp import create_body, error_of, until_status
from tests.support import Harness, eventually

PR = "/v1/payment-requests"


async def test_same_key_same_body_replays_the_first_response(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        key = {"Idempotency-Key": "create-1"}
        first = await api.post(PR, json=create_body(), headers=key)
        await until_status(api, first.json()["id"], "sent")
        again = await api.post(PR, json=create_body(), headers=key)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 1
        assert len(harness.smtp.to("maria@example.com")) == 1


async def test_same_key_other_body_is_409(api: httpx.AsyncClient, harness: Harness) -> None:
    async with harness.worker():
        key = {"Idempotency-Key": "create-2"}
        assert (await api.post(PR, json=create_body(), headers=key)).status_code == 201
        resp = await api.post(PR, json=create_body(amount=100), headers=key)
        assert error_of(resp)[:2] == (409, "idempotency_key_reused")
        rid = (await api.post(PR, json=create_body(), headers=key)).json()["id"]
        resp = await api.post(f"{PR}/{rid}/cancel", headers=key)  # same key, other endpoint
        assert error_of(resp)[:2] == (409, "idempotency_key_reused")
        assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 1


async def test_twenty_concurrent_identical_posts_create_one_request_and_one_email(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        body = create_body(emails="solo@example.com")
        key = {"Idempotency-Key": "burst-7f3a"}
        responses = await asyncio.gather(*(api.post(PR, json=body, headers=key) for _ in range(20)))
        assert [r.status_code for r in responses] == [201] * 20, responses[0].text
        assert len({r.json()["id"] for r in responses}) == 1
        assert all(r.json() == responses[0].json() for r in responses)
        rid = responses[0].json()["id"]
        await until_status(api, rid, "sent")
        await asyncio.sleep(0.5)  # room for a stray second email to show up
        assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 1
        assert len(harness.smtp.to("solo@example.com")) == 1
        assert (
            await harness.pool.fetchval(
                "SELECT count(*) FROM email_deliveries WHERE payment_request_id = $1", rid
            )
            == 1
        )
        metrics = (await api.get("/metrics")).text
        assert "payreq_workflows_started_total 1.0" in metrics


async def test_cancel_retried_with_its_key_returns_the_same_200(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        rid = (await api.post(PR, json=create_body())).json()["id"]
        key = {"Idempotency-Key": "cancel-1"}
        first = await api.post(f"{PR}/{rid}/cancel", json={"reason": "dup"}, headers=key)
        again = await api.post(f"{PR}/{rid}/cancel", json={"reason": "dup"}, headers=key)
        assert (first.status_code, again.status_code) == (200, 200)
        assert again.json() == first.json() and first.json()["status"] == "cancelled"
        without_key = await api.post(f"{PR}/{rid}/cancel", json={"reason": "dup"})
        assert error_of(without_key)[:2] == (409, "request_closed")


async def test_resend_with_a_key_sends_once(api: httpx.AsyncClient, harness: Harness) -> None:
    async with harness.worker():
        rid = (await api.post(PR, json=create_body(emails="r@example.com"))).json()["id"]
        await until_status(api, rid, "sent")
        key = {"Idempotency-Key": "resend-1"}
        for _ in range(3):
            resp = await api.post(f"{PR}/{rid}/resend", headers=key)
            assert resp.status_code == 200, resp.text
        await eventually(lambda: len(harness.smtp.to("r@example.com")) >= 2)
        await asyncio.sleep(0.3)
        assert len(harness.smtp.to("r@example.com")) == 2  # the request, and one resend


async def test_a_bad_key_header_is_422(api: httpx.AsyncClient, harness: Harness) -> None:
    resp = await api.post(PR, json=create_body(), headers={"Idempotency-Key": "x" * 300})
    assert error_of(resp) == (422, "invalid_value", "Idempotency-Key")


async def test_retry_after_the_api_died_mid_create_joins_the_started_request(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    """The first attempt claimed the key and started the workflow, then died before answering."""
    body = create_body(emails="crash@example.com")
    key = "crash-1"
    practice = Practice(id=harness.practice_id, name="Sunrise Therapy")
    request_id = idempotency.derived_id("pr", practice.id, key)
    model = CreatePaymentRequest.model_validate(body)
    request_hash = idempotency.fingerprint("POST", PR, model)
    assert (await idempotency.claim(harness.pool, practice.id, key, request_hash)).fresh
    deps = AppDeps(
        settings=None,  # type: ignore[arg-type]
        pool=harness.pool,
        temporal=harness.client,
        stripe=None,
        task_queue=harness.task_queue,
    )
    async with harness.worker():
        defaults = await service.practice_defaults(deps, practice)
        await workflow_client.start_request(
            deps, service.workflow_input(model, practice, defaults, request_id)
        )
        resp = await api.post(PR, json=body, headers={"Idempotency-Key": key})
        assert resp.status_code == 201 and resp.json()["id"] == request_id
        await until_status(api, request_id, "sent")
        await asyncio.sleep(0.3)
    assert await harness.pool.fetchval("SELECT count(*) FROM payment_requests") == 1
    assert len(harness.smtp.to("crash@example.com")) == 1


async def test_an_expired_key_is_taken_over_and_a_live_one_answers_or_refuses(
    harness: Harness,
) -> None:
    """A key past its window is claimed afresh even with another body (its old answer is
    gone); a key within it is a 409 with another body and the stored answer with the same."""
    pool, practice = harness.pool, harness.practice_id
    first, other = b"\x01" * 32, b"\x02" * 32
    assert (await idempotency.claim(pool, practice, "k", first)).fresh
    await idempotency.store(pool, practice, "k", 201, {"id": "pr_x"})
    again = await idempotency.claim(pool, practice, "k", first)
    assert (again.fresh, again.status_code, again.response) == (False, 201, {"id": "pr_x"})
    with pytest.raises(ApiError) as refused:
        await idempotency.claim(pool, practice, "k", other)
    assert (refused.value.status, refused.value.code) == (409, "idempotency_key_reused")
    await pool.execute(
        "UPDATE idempotency_keys SET created_at = now() - $1::interval",
        idempotency.WINDOW + timedelta(minutes=1),
    )
    taken = await idempotency.claim(pool, practice, "k", other)
    assert taken.fresh and not taken.replay
    row = await pool.fetchrow("SELECT request_hash, response FROM idempotency_keys")
    assert row is not None and bytes(row["request_hash"]) == other and row["response"] is None
