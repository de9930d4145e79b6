"""Fixtures for the attacks: the real app configured as production is (nothing dev-only on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from payreq.settings import Settings
from payreq.smtp import SmtpConfig
from tests.support import Harness, RecordingHandler, make_app, practice_client, test_settings


@pytest.fixture
def settings(
    database_url: str, fake_stripe: str, smtp_server: tuple[RecordingHandler, SmtpConfig]
) -> Settings:
    """The test settings with the dev-only switches off, as in production."""
    base = test_settings(database_url, smtp_server[1], fake_stripe)
    return base.model_copy(update={"webhook_allow_loopback": False})


def client_at(app: FastAPI, address: str, **kwargs: Any) -> httpx.AsyncClient:
    """A client whose connections come from `address` (the peer the app sees)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://testserver",
        **kwargs,
    )


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
    async with practice_client(make_app(harness, settings), harness.api_key) as client:
        yield client
