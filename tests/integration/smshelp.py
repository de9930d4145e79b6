"""The local Twilio stand-in and the real API served over HTTP (so Twilio's callbacks really
arrive and are really verified), with the text activities the worker runs when Twilio is
configured. The API here has TWILIO_ACCOUNT_SID set, so the requests it creates are texted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from aiohttp import web

from activities.sms import SmsActivities
from api.app import create_app
from api.deps import AppDeps
from payreq.dev.faketwilio import FakeTwilio, build_app
from payreq.sms import Sender, TwilioGateway, twilio_client
from tests.support import TWILIO_AUTH_TOKEN as AUTH_TOKEN
from tests.support import Harness, eventually, free_port
from tests.support import test_settings as settings_for
from workflows.sms import TextInput
from workflows.types import EmailKind

ACCOUNT_SID = "AC" + "0" * 32
SENDER = "+15005550006"
PATIENT = "+15551230001"


@dataclass
class Sms:
    fake: FakeTwilio
    acts: SmsActivities
    api_url: str
    outbox: Path
    api_key: str

    def api(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.AsyncClient(base_url=self.api_url, headers=headers, timeout=20)

    def texts_to(self, phone: str) -> list[dict[str, Any]]:
        return [t for t in self.texts() if t["to"] == phone]

    def texts(self) -> list[dict[str, str]]:
        return [json.loads(p.read_text()) for p in sorted(self.outbox.glob("*.json"))]

    def text_input(self, practice_id: str, sequence: int = 0, *phones: str) -> TextInput:
        return TextInput(
            request_id="pr_sms_test",
            practice_id=practice_id,
            kind=EmailKind.REQUEST,
            sequence=sequence,
            phones=phones or (PATIENT,),
            body="Sunrise Therapy: $120.00 is due. Pay securely: http://127.0.0.1/pay/x",
        )


@pytest.fixture(name="sms")
async def sms_stack(harness: Harness, database_url: str, tmp_path: Path) -> AsyncIterator[Sms]:
    api_port, twilio_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    settings = settings_for(database_url, harness.smtp_config, "http://127.0.0.1:1").model_copy(
        update={"public_base_url": api_url, "twilio_account_sid": ACCOUNT_SID}
    )
    deps = AppDeps(
        settings=settings,
        pool=harness.pool,
        temporal=harness.client,
        stripe=None,
        task_queue=harness.task_queue,
    )
    app = create_app(deps=deps)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="error"))
    serving = asyncio.create_task(server.serve())
    fake = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, tmp_path / "outbox", f"{api_url}/webhooks/twilio")
    runner = web.AppRunner(build_app(fake))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", twilio_port).start()
    client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{twilio_port}")
    gateway = TwilioGateway(client, Sender(from_number=SENDER), f"{api_url}/webhooks/twilio/status")
    await eventually(lambda: server.started, timeout=10)
    try:
        acts = SmsActivities(harness.pool, gateway)
        yield Sms(fake, acts, api_url, tmp_path / "outbox", harness.api_key)
    finally:
        server.should_exit = True
        await serving
        await runner.cleanup()
        await client.http_client.close()


ZONES = (
    "UTC",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)


def zone_inside_window() -> str:
    """A time zone whose clock now reads 09:00-19:59, so the texts of a request created now go
    at once (the quiet hours are tested on their own, with time travel)."""
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 20)
