"""What `payreq dev` runs where: its ports, the secrets it generates once and keeps in the data
dir, the settings (environment) it hands the worker and the API, and the banner that says it."""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from payreq.codec import Keyring
from payreq.dev.children import DevError
from payreq.dev.fakestripe_element import STAND_IN_PATH
from payreq.dev.servers import LOOPBACK

DEV_STRIPE_SECRET_KEY = "sk_test_payreq_dev"
DEV_STRIPE_PUBLISHABLE_KEY = "pk_test_payreq_dev"
DEV_TWILIO_ACCOUNT_SID = "AC" + "d" * 32
DEV_TWILIO_FROM = "+15005550006"  # Twilio's test number that can send


@dataclass(frozen=True)
class Ports:
    api: int
    temporal: int
    temporal_ui: int
    smtp: int
    stripe: int
    billing: int  # the demo "Patient Billing" page (payreq/dev/billing_host.py)

    def check_free(self) -> None:
        for flag, port in (
            ("--api-port", self.api),
            ("--temporal-port", self.temporal),
            ("--temporal-ui-port", self.temporal_ui),
            ("--smtp-port", self.smtp),
            ("--stripe-port", self.stripe),
            ("--billing-port", self.billing),
        ):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((LOOPBACK, port))
                except OSError:
                    raise DevError(
                        f"port {port} ({flag}) is already in use: stop what holds it or pick "
                        f"another with {flag}"
                    ) from None


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def write_private(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def dev_secrets(data_dir: Path) -> dict[str, str]:
    """Generated once and kept in DIR so ciphertext, tokens and webhooks survive restarts."""
    path = data_dir / "dev-secrets.json"
    saved = load_json(path)
    fresh = {
        "payload_encryption_key": Keyring.generate_setting("dev1"),
        "codec_auth_token": secrets.token_urlsafe(24),
        "stripe_webhook_secret": "whsec_" + secrets.token_hex(24),
        "twilio_auth_token": secrets.token_hex(16),
    }
    merged = {**fresh, **saved}
    if merged != saved:
        write_private(path, merged)
    return merged


@dataclass
class Stack:
    """What `payreq dev` wires together; written to DIR/stack.json once ready."""

    api_url: str
    api_key: str
    practice_id: str
    temporal_address: str
    temporal_ui_url: str
    database_url: str
    maildir: str
    stripe_api_base: str
    stripe_publishable_key: str | None
    stripe_webhook_secret: str | None
    billing_url: str = ""
    sms_outbox: str = ""  # the Twilio stand-in's outbox: one JSON file per text
    twilio_auth_token: str = ""  # signs the stand-in's callbacks

    def env(self, secrets_: Mapping[str, str], ports: Ports, fake_stripe: bool) -> dict[str, str]:
        env = dict(os.environ)
        ui = self.temporal_ui_url
        env.update(
            DATABASE_URL=self.database_url,
            TEMPORAL_ADDRESS=self.temporal_address,
            TEMPORAL_NAMESPACE="default",
            SMTP_HOST=LOOPBACK,
            SMTP_PORT=str(ports.smtp),
            SMTP_SECURITY="none",
            MAIL_FROM="billing@payreq.test",
            PUBLIC_BASE_URL=self.api_url,
            PAYLOAD_ENCRYPTION_KEY=secrets_["payload_encryption_key"],
            CODEC_AUTH_TOKEN=secrets_["codec_auth_token"],
            CODEC_CORS_ORIGINS=f"{ui},{ui.replace(LOOPBACK, 'localhost')}",
            WEBHOOK_ALLOW_LOOPBACK="true",  # a practice's test receiver on this machine
            LOG_FORMAT=env.get("LOG_FORMAT", "text"),
            # While workflow code is being written, the sandbox refuses what would not replay.
            WORKFLOW_SANDBOX=env.get("WORKFLOW_SANDBOX", "full"),
        )
        if fake_stripe:
            env.update(
                STRIPE_SECRET_KEY=DEV_STRIPE_SECRET_KEY,
                STRIPE_PUBLISHABLE_KEY=DEV_STRIPE_PUBLISHABLE_KEY,
                STRIPE_WEBHOOK_SECRET=secrets_["stripe_webhook_secret"],
                STRIPE_API_BASE=self.stripe_api_base,
                # localstripe's own Stripe.js has no Payment Element: the dev stand-in, served
                # by the fake Stripe so that its calls there are what the CSP allows Stripe.js
                STRIPE_JS_URL=f"{self.stripe_api_base}{STAND_IN_PATH}",
            )
        return env

    def save(self, path: Path) -> None:
        write_private(path, self.__dict__)


def banner(stack: Stack, elapsed: float, data_dir: Path, fake_stripe: bool) -> str:
    body = (
        '{"patient": {"id": "pt_123", "first_name": "Ana", "last_name": "Lopez"}, '
        '"balance_due": 18500, "facility": {"id": "fac_1", "name": "Downtown Clinic"}, '
        '"emails": "ana@example.com", "note": "For your visit on Nov 3."}'
    )
    stripe_line = "localstripe (fake Stripe)" if fake_stripe else "real Stripe (test keys)"
    return f"""
payreq dev is ready in {elapsed:.1f}s (data in {data_dir})
  API          {stack.api_url}   (OpenAPI docs: {stack.api_url}/docs)
  Mail         {stack.api_url}/dev/mail   (Maildir {stack.maildir})
  Texts        {stack.sms_outbox or "real Twilio"}   (one JSON file per text)
  Staff panel  {stack.billing_url}/   (a demo Patient Billing page embedding the panel)
  Temporal UI  {stack.temporal_ui_url}   (payloads decoded through {stack.api_url}/codec)
  Temporal     {stack.temporal_address}
  Postgres     {stack.database_url}
  Stripe       {stack.stripe_api_base}   ({stripe_line})
  API key      {stack.api_key}   (demo practice {stack.practice_id})

Create a payment request:
  curl -sS -X POST {stack.api_url}/v1/payment-requests \\
    -H 'Authorization: Bearer {stack.api_key}' \\
    -H 'Content-Type: application/json' -H "Idempotency-Key: $(date +%s%N)" \\
    -d '{body}'

Everything is in {data_dir / "stack.json"}. Ctrl-C stops it all.
"""
