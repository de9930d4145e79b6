"""/dev/mail: read the mail the dev SMTP catcher kept in its Maildir. Mounted by the dev API
(payreq/dev/api.py) only; the production app (api/app.py) never serves it. Not in the OpenAPI
schema."""

from __future__ import annotations

import html
import mailbox
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.errors import ApiError

router = APIRouter(prefix="/dev/mail", include_in_schema=False)
MAX_LISTED = 200
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}"
    "td,th{padding:.3rem .8rem;text-align:left;border-bottom:1px solid #ddd}"
    "iframe{width:100%;height:40rem;border:1px solid #ccc}pre{white-space:pre-wrap}"
)


def mount(app: FastAPI, maildir: Path) -> None:
    """Serve MAILDIR at /dev/mail on this (dev) app."""
    app.state.dev_maildir = maildir
    app.include_router(router)


def _maildir(request: Request) -> mailbox.Maildir:
    root: Path = request.app.state.dev_maildir
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(root, create=False)


Maildir = Annotated[mailbox.Maildir, Depends(_maildir)]


def _parse(box: mailbox.Maildir, key: str) -> tuple[EmailMessage, float]:
    try:
        delivered = box[key].get_date()  # when the catcher stored it
        raw = box.get_bytes(key)
    except (KeyError, FileNotFoundError):
        raise ApiError(404, "not_found", "No such message.") from None
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg, delivered


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>",
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )


@router.get("")
async def list_mail(box: Maildir) -> HTMLResponse:
    rows = sorted((_parse(box, key) + (key,) for key in box.iterkeys()), key=lambda r: -r[1])
    lines = "".join(
        f"<tr><td>{html.escape(str(m['Date'] or ''))}</td><td>{html.escape(str(m['To'] or ''))}"
        f"</td><td><a href='/dev/mail/{html.escape(key)}'>"
        f"{html.escape(str(m['Subject'] or '(no subject)'))}</a></td></tr>"
        for m, _, key in rows[:MAX_LISTED]
    )
    return _page(
        "Dev mail",
        f"<h1>Dev mail ({len(rows)})</h1><p>Every message the dev SMTP catcher received, newest "
        f"first.</p><table><tr><th>Date</th><th>To</th><th>Subject</th></tr>{lines}</table>",
    )


@router.get("/{key}")
async def read_mail(key: str, box: Maildir) -> HTMLResponse:
    msg, _ = _parse(box, key)
    text = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    parts = [
        "<p><a href='/dev/mail'>&larr; all mail</a></p>",
        f"<h1>{html.escape(str(msg['Subject'] or '(no subject)'))}</h1><table>",
        *(
            f"<tr><th>{h}</th><td>{html.escape(str(msg[h] or ''))}</td></tr>"
            for h in ("From", "To", "Reply-To", "Date")
        ),
        f"</table><p><a href='/dev/mail/{html.escape(key)}/raw'>raw message</a></p>",
    ]
    if rich is not None:
        content = html.escape(str(rich.get_content()), quote=True)
        parts.append(f'<h2>HTML</h2><iframe sandbox srcdoc="{content}"></iframe>')
    if text is not None:
        parts.append(f"<h2>Text</h2><pre>{html.escape(str(text.get_content()))}</pre>")
    return _page(str(msg["Subject"] or "message"), "".join(parts))


@router.get("/{key}/raw")
async def raw_mail(key: str, box: Maildir) -> PlainTextResponse:
    try:
        raw = box.get_bytes(key)
    except KeyError:
        raise ApiError(404, "not_found", "No such message.") from None
    return PlainTextResponse(raw.decode("utf-8", errors="replace"))
