"""Fixtures for the attacks: the real app configured as production is (nothing dev-only on)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from activities.email import SmtpConfig
from api.app import create_app
from api.deps import AppDeps
from tests.support import Harness, RecordingHandler, test_settings


@pytest.fixture
async def prod_api(
    harness: Harness,
    database_url: str,
    fake_stripe: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
) -> AsyncIterator[httpx.AsyncClient]:
    """Like the `api` fixture, but with WEBHOOK_ALLOW_LOOPBACK off, as in production."""
    settings = test_settings(database_url, smtp_server[1], fake_stripe)
    settings = settings.model_copy(update={"webhook_allow_loopback": False})
    deps = AppDeps(
        settings=settings,
        pool=harness.pool,
        temporal=harness.client,
        stripe=harness.stripe,
        task_queue=harness.task_queue,
    )
    app = create_app(deps=deps)
    app.state.deps = deps
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {harness.api_key}"},
    ) as client:
        yield client
