"""/dev/mail, the dev stack's view of the caught mail: served by the dev API (the production
app with payreq/dev/mail.py mounted), never by the production app, whatever its environment."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi import FastAPI

from payreq.dev import mail
from payreq.smtp import SmtpConfig
from tests.support import Harness, RecordingHandler, make_app, practice_client
from tests.support import test_settings as settings_for


def caught(maildir: Path) -> str:
    """One message in MAILDIR, as the dev SMTP catcher stores it; its key."""
    msg = EmailMessage()
    msg["From"] = "billing@payreq.test"
    msg["To"] = "ana@example.com"
    msg["Subject"] = "Your payment request from Sunrise Therapy"
    msg.set_content("Pay here: http://127.0.0.1:8000/pay/abc")
    msg.add_alternative("<p>Pay <a href='http://127.0.0.1:8000/pay/abc'>here</a></p>", "html")
    return mailbox.Maildir(maildir, create=True).add(msg)


@pytest.fixture
def production_app(
    harness: Harness,
    database_url: str,
    fake_stripe: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
) -> FastAPI:
    return make_app(harness, settings_for(database_url, smtp_server[1], fake_stripe))


async def test_the_production_app_never_serves_dev_mail_even_with_dev_maildir_set(
    harness: Harness,
    database_url: str,
    fake_stripe: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = caught(tmp_path / "mail")
    monkeypatch.setenv("DEV_MAILDIR", str(tmp_path / "mail"))  # what `payreq dev` once set
    app = make_app(harness, settings_for(database_url, smtp_server[1], fake_stripe))
    async with practice_client(app, harness.api_key) as http:
        for path in ("/dev/mail", f"/dev/mail/{key}", f"/dev/mail/{key}/raw"):
            resp = await http.get(path)
            assert resp.status_code == 404, (path, resp.text)
            assert "Sunrise" not in resp.text
        assert (await http.get("/healthz")).status_code == 200  # the app itself answers


async def test_the_dev_api_lists_shows_and_serves_raw_the_caught_mail(
    production_app: FastAPI, harness: Harness, tmp_path: Path
) -> None:
    key = caught(tmp_path / "mail")
    mail.mount(production_app, tmp_path / "mail")
    async with practice_client(production_app, harness.api_key) as http:
        listing = await http.get("/dev/mail")
        assert listing.status_code == 200
        assert "Dev mail (1)" in listing.text
        assert f"/dev/mail/{key}" in listing.text
        shown = await http.get(f"/dev/mail/{key}")
        assert "<h1>Your payment request from Sunrise Therapy</h1>" in shown.text
        assert "iframe sandbox" in shown.text and "Pay here:" in shown.text
        raw = await http.get(f"/dev/mail/{key}/raw")
        assert raw.text.startswith("From: billing@payreq.test")
        assert (await http.get("/dev/mail/no-such-key")).status_code == 404
        assert "/dev/mail" not in (await http.get("/openapi.json")).text
