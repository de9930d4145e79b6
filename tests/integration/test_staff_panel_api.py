"""The embeddable staff panel's server side on the real app, Postgres, SMTP and Temporal: staff
sessions, the per-practice embed origins, the panel page's headers, and the panel's JSON API
confined to one practice and one patient by the session secret alone."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.apihelp import create, error_of
from tests.support import Harness, seed_practice

SESSION = "/v1/staff-sessions"
HEADER = "Payreq-Staff-Session"
HOST = "https://pms.example.com"


def session_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient": {"id": "pt_123", "first_name": "Ana", "last_name": "Lopez"},
        "balance_due": 18500,
        "facilities": [
            {"id": "fac_1", "name": "Downtown Clinic"},
            {"id": "fac_2", "name": "Uptown Clinic"},
        ],
        "default_facility_id": "fac_2",
        "staff": {"id": "st_7", "name": "Jo Front Desk"},
    }
    body.update(overrides)
    return body


async def open_session(api: httpx.AsyncClient, **overrides: Any) -> str:
    resp = await api.post(SESSION, json=session_body(**overrides))
    assert resp.status_code == 201, resp.text
    secret: str = resp.json()["client_secret"]
    return secret


def panel(api: httpx.AsyncClient, secret: str) -> httpx.AsyncClient:
    """A client that carries only the session secret: no practice API key."""
    return httpx.AsyncClient(
        transport=api._transport, base_url=str(api.base_url), headers={HEADER: secret}
    )


def form(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": 12000,
        "first_name": "Ana",
        "last_name": "Lopez",
        "facility_id": "fac_1",
        "emails": "maria@example.com; ana@example.com",
        "note": "For visits on Nov 3 and Nov 10.",
    }
    body.update(overrides)
    return body


async def test_practice_sets_its_embed_origins(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/practice")).json()["embed_origins"] == []
    resp = await api.patch(
        "/v1/practice",
        json={"embed_origins": ["https://PMS.example.com:443", "http://127.0.0.1:8001"]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["embed_origins"] == [HOST, "http://127.0.0.1:8001"]
    for bad in (["http://pms.example.com"], ["https://pms.example.com/billing"], ["*"]):
        resp = await api.patch("/v1/practice", json={"embed_origins": bad})
        assert error_of(resp)[0] == 422 and (error_of(resp)[2] or "").startswith("embed_origins"), (
            bad
        )
    assert error_of(await api.patch("/v1/practice", json={"embed_origins": None}))[0] == 422


async def test_session_is_random_hashed_short_lived_and_validated(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    before = datetime.now(UTC)
    resp = await api.post(SESSION, json=session_body())
    assert resp.status_code == 201, resp.text
    out = resp.json()
    secret = out["client_secret"]
    assert len(secret) >= 40  # pss_ + 256 bits in base64url
    expires = datetime.fromisoformat(out["expires_at"])
    assert timedelta(minutes=14) < expires - before <= timedelta(minutes=15, seconds=5)
    rows = await harness.pool.fetch("SELECT secret_hash::text AS h, * FROM staff_sessions")
    assert len(rows) == 1 and secret not in str(dict(rows[0]))
    assert bytes(rows[0]["secret_hash"]) == hashlib.sha256(secret.encode()).digest()

    resp = await api.post(SESSION, json=session_body(default_facility_id="fac_9"))
    assert error_of(resp)[:2] == (422, "invalid_value")
    resp = await api.post(SESSION, json=session_body(balance_due=0))
    assert error_of(resp)[2] == "balance_due"
    resp = await api.post(SESSION, json=session_body(), headers={"Authorization": "Bearer nope"})
    assert error_of(resp)[0] == 401


async def test_panel_page_frames_only_for_configured_origins(api: httpx.AsyncClient) -> None:
    secret = await open_session(api)
    page = await api.get("/embed/panel", params={"session": secret})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp  # nothing configured: nobody may frame it
    await api.patch("/v1/practice", json={"embed_origins": [HOST]})
    page = await api.get("/embed/panel", params={"session": secret})
    csp = page.headers["content-security-policy"]
    assert f"frame-ancestors {HOST}" in csp and "script-src 'self';" in csp
    assert "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "x-frame-options" not in page.headers
    html = page.text
    assert 'value="185.00"' in html and 'value="Ana"' in html and 'value="Lopez"' in html
    assert '<option value="fac_2" selected>Uptown Clinic</option>' in html
    assert "https://" not in html.replace(HOST, "")  # nothing loaded from elsewhere
    assert (await api.get("/static/panel/panel.js")).status_code == 200
    assert (await api.get("/static/panel/other.js")).status_code == 404


async def test_expired_forged_and_missing_secrets_are_refused(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    await api.patch("/v1/practice", json={"embed_origins": [HOST]})
    secret = await open_session(api)
    async with panel(api, secret) as p:
        assert (await p.get("/embed/api/payment-requests")).status_code == 200
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for bad in (forged, "pss_" + "x" * 43, harness.api_key, ""):
        async with panel(api, bad) as p:
            resp = await p.get("/embed/api/payment-requests")
            assert error_of(resp)[:2] == (401, "session_invalid"), bad
            assert (await p.post("/embed/api/payment-requests", json=form())).status_code == 401
        page = await api.get("/embed/panel", params={"session": bad})
        assert (
            page.status_code == 401
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
    await harness.pool.execute("UPDATE staff_sessions SET expires_at = now() - interval '1 s'")
    async with panel(api, secret) as p:
        assert error_of(await p.get("/embed/api/payments"))[:2] == (401, "session_invalid")
    page = await api.get("/embed/panel", params={"session": secret})
    assert page.status_code == 401 and "This panel has expired" in page.text
    assert f"frame-ancestors {HOST}" in page.headers["content-security-policy"]


async def test_a_session_reaches_only_its_own_patient_and_practice(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        mine = await create(api, patient={"id": "pt_A", "first_name": "Ana", "last_name": "L"})
        theirs = await create(api, patient={"id": "pt_B", "first_name": "Bo", "last_name": "M"})
        secret = await open_session(
            api, patient={"id": "pt_A", "first_name": "A", "last_name": "L"}
        )
        other_practice_id, other_key = await seed_practice(harness.pool, "Other Practice")
        other = await api.post(
            SESSION,
            json=session_body(patient={"id": "pt_A", "first_name": "A", "last_name": "L"}),
            headers={"Authorization": f"Bearer {other_key}"},
        )
        async with panel(api, secret) as p:
            listed = (await p.get("/embed/api/payment-requests")).json()["data"]
            assert [r["id"] for r in listed] == [mine["id"]]
            for action in ("cancel", "resend"):
                resp = await p.post(f"/embed/api/payment-requests/{theirs['id']}/{action}")
                assert error_of(resp)[:2] == (404, "not_found"), action
            resp = await p.get(f"/v1/payment-requests/{theirs['id']}")
            assert resp.status_code == 401  # the secret is not a practice key
        async with panel(api, other.json()["client_secret"]) as p:
            assert (await p.get("/embed/api/payment-requests")).json()["data"] == []
            resp = await p.post(f"/embed/api/payment-requests/{mine['id']}/cancel")
            assert error_of(resp)[0] == 404
        theirs_now = (await api.get(f"/v1/payment-requests/{theirs['id']}")).json()
        assert theirs_now["status"] != "cancelled"
        assert other_practice_id != harness.practice_id


async def test_panel_creates_once_per_key_and_reports_errors_by_field(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    async with harness.worker():
        secret = await open_session(api)
        async with panel(api, secret) as p:
            check = await p.post(
                "/embed/api/emails/check", json={"emails": "ok@example.com; bob@; x y@z.com"}
            )
            assert [a["address"] for a in check.json()["addresses"] if a["error"]] == [
                "bob@",
                "x y@z.com",
            ]
            bad = [
                (form(emails="a@example.com; bob@"), "emails[1]"),
                (form(amount=18501), "amount"),
                (form(amount=0), "amount"),
                (form(facility_id="fac_9"), "facility_id"),
                (form(first_name="  "), "first_name"),
                (form(note="x" * 1001), "note"),
            ]
            for body, field in bad:
                resp = await p.post("/embed/api/payment-requests", json=body)
                assert error_of(resp)[0] == 422 and error_of(resp)[2] == field, (field, resp.text)

            key = {"Idempotency-Key": "panel-submit-1"}
            first, second = await asyncio.gather(
                p.post("/embed/api/payment-requests", json=form(), headers=key),
                p.post("/embed/api/payment-requests", json=form(), headers=key),
            )
            assert first.status_code == second.status_code == 201, (first.text, second.text)
            assert first.json()["id"] == second.json()["id"]
            created = first.json()
            assert created["patient_id"] == "pt_123" and created["facility"]["id"] == "fac_1"
            assert created["full_name"] == "Ana Lopez" and created["amount_requested"] == 12000
            again = await p.post("/embed/api/payment-requests", json=form(amount=100), headers=key)
            assert error_of(again)[:2] == (409, "idempotency_key_reused")
            count = await harness.pool.fetchval("SELECT count(*) FROM payment_requests")
            assert count == 1

            resent = await p.post(f"/embed/api/payment-requests/{created['id']}/resend")
            assert resent.status_code == 200, resent.text
            cancelled = await p.post(f"/embed/api/payment-requests/{created['id']}/cancel")
            assert cancelled.json()["status"] == "cancelled"
            assert (await p.get("/embed/api/payment-requests")).json()["data"] == []
            closed = await p.post(f"/embed/api/payment-requests/{created['id']}/resend")
            assert error_of(closed)[:2] == (409, "request_closed")


async def test_the_request_window_is_prefilled_with_the_patients_own_emails_and_phones(
    api: httpx.AsyncClient,
) -> None:
    patient = {"id": "pt_123", "first_name": "Ana", "last_name": "Lopez"}
    bad = await api.post(SESSION, json=session_body(patient={**patient, "phones": "555-0100"}))
    assert bad.status_code == 422, bad.text
    contacts = {"emails": "ana@example.com; ANA@example.com", "phones": ["+14155552671"]}
    secret = await open_session(api, patient={**patient, **contacts})
    page = await api.get("/embed/panel", params={"session": secret})
    assert page.status_code == 200
    assert 'value="ana@example.com"' in page.text
    assert 'value="+14155552671"' in page.text
