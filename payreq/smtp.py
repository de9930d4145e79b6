"""SMTP client settings: built from Settings by payreq.components, used by the email activities;
here so that neither payreq nor the API imports them from activities/."""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class SmtpConfig:
    host: str
    port: int
    security: str = "none"  # none, starttls, tls
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0
    mail_from: str
    tls_context: ssl.SSLContext | None = None
