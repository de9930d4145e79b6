"""Item 10: a staff session ends with the API key that minted it, and keys can be rotated
without downtime, through the API and the CLI."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from payreq import cli
from tests.integration.test_staff_panel_api import open_session, panel
from tests.support import Harness


def as_key(api: httpx.AsyncClient, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=api._transport,
        base_url=str(api.base_url),
        headers={"Authorization": f"Bearer {key}"},
    )


async def test_revoking_a_key_ends_the_staff_sessions_it_minted(api: httpx.AsyncClient) -> None:
    old_session = await open_session(api)
    created = await api.post("/v1/api-keys")
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    new = created.json()
    async with as_key(api, new["api_key"]) as rotated:
        new_session = await open_session(rotated)
        listed = (await rotated.get("/v1/api-keys")).json()["data"]
        assert len(listed) == 2 and all(k["revoked_at"] is None for k in listed)
        # During the rotation both keys work.
        assert (await api.get("/v1/practice")).status_code == 200
        assert (await rotated.get("/v1/practice")).status_code == 200
        old_id = next(k["id"] for k in listed if k["id"] != new["id"])
        assert (await rotated.delete(f"/v1/api-keys/{old_id}")).status_code == 200
        assert (await api.get("/v1/practice")).status_code == 401
        async with panel(api, old_session) as stale, panel(api, new_session) as live:
            assert (await stale.get("/embed/api/payment-requests")).status_code == 401
            assert (await live.get("/embed/api/payment-requests")).status_code == 200
        last = await rotated.delete(f"/v1/api-keys/{new['id']}")
        assert (last.status_code, last.json()["error"]["code"]) == (409, "last_api_key")
        other = await rotated.delete("/v1/api-keys/key_of_someone_else")
        assert other.status_code == 404


async def test_the_cli_creates_lists_and_revokes_keys(
    api: httpx.AsyncClient,
    harness: Harness,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    session = await open_session(api)

    # cli.main runs its own event loop: in a thread, beside this test's.
    async def run(*argv: str) -> tuple[int, str]:
        code = await asyncio.to_thread(cli.main, ["practice", "key", *argv])
        return code, capsys.readouterr().out

    code, out = await run("create", harness.practice_id)
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert code == 0 and fields["api_key"].startswith("prk_")
    _, listing = await run("list", harness.practice_id)
    old_id = next(
        line.split()[0] for line in listing.splitlines() if line.split()[0] != fields["key_id"]
    )
    code, _ = await run("revoke", harness.practice_id, old_id)
    assert code == 0
    assert (await api.get("/v1/practice")).status_code == 401  # the old key
    async with as_key(api, fields["api_key"]) as rotated:
        assert (await rotated.get("/v1/practice")).status_code == 200
    async with panel(api, session) as stale:
        assert (await stale.get("/embed/api/payment-requests")).status_code == 401
    code, _ = await run("revoke", harness.practice_id, fields["key_id"])
    assert code == 2  # the last key stays


async def test_a_session_ends_however_its_key_was_revoked(
    api: httpx.AsyncClient, harness: Harness
) -> None:
    """Even a key revoked straight in the database (by an operator, or an older tool)."""
    session = await open_session(api)
    await harness.pool.execute("UPDATE api_keys SET revoked_at = now()")
    async with panel(api, session) as stale:
        assert (await stale.get("/embed/api/payment-requests")).status_code == 401
