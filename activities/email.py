"""SMTP delivery. One message per recipient, each keyed `request:kind:sequence:recipient` and
recorded before and after sending, so a retried activity never sends an accepted message
again; a crash between the server's 250 and the record sends at most one duplicate, with the
same deterministic Message-ID."""

from __future__ import annotations

import asyncio
import contextlib
import email.errors
import logging
import socket
import time
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta
from email.charset import QP, Charset
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate
from typing import Literal
from zoneinfo import ZoneInfo

import aiosmtplib
import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.read_model import save_snapshot
from payreq.digest import sha256_hex
from payreq.rendering.emails import Rendered, Template, default_template, render
from payreq.rendering.locale import long_date, money
from payreq.smtp import SmtpConfig
from payreq.tables import request_events
from workflows.types import (
    EmailInput,
    EmailResult,
    ErrorType,
    RecipientResult,
    RecipientStatus,
    email_event,
)

log = logging.getLogger("payreq.email")


class SmtpSessions:
    """SMTP sessions kept open between messages. A new connection costs the TCP (and TLS)
    handshake, EHLO, AUTH and QUIT: more round trips than the message itself. A session is
    reused only while its transport is still connected (a server that closed it while idle is
    noticed by the event loop), for at most MAX_MESSAGES messages and IDLE_SECONDS of rest; a
    session that saw any error is closed, never reused, so its state can never leak into the
    next message."""

    MAX_IDLE = 8
    MAX_MESSAGES = 100
    IDLE_SECONDS = 30.0

    def __init__(self, cfg: SmtpConfig, local_hostname: str) -> None:
        self._cfg = cfg
        self._local_hostname = local_hostname
        self._idle: list[tuple[aiosmtplib.SMTP, float, int]] = []  # session, rested since, sent
        self.opened = 0

    async def send(self, msg: Message) -> None:
        smtp, sent = await self._take()
        try:
            await smtp.send_message(msg)
        except BaseException:
            smtp.close()
            raise
        await self._give_back(smtp, sent + 1)

    async def _take(self) -> tuple[aiosmtplib.SMTP, int]:
        now = time.monotonic()
        while self._idle:
            smtp, since, sent = self._idle.pop()
            if smtp.is_connected and now - since < self.IDLE_SECONDS:
                return smtp, sent
            smtp.close()
        cfg = self._cfg
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username,
            password=cfg.password,
            use_tls=cfg.security == "tls",
            start_tls=cfg.security == "starttls",
            timeout=cfg.timeout_seconds,
            tls_context=cfg.tls_context,
            local_hostname=self._local_hostname,
        )
        await smtp.connect()
        self.opened += 1
        return smtp, 0

    async def _give_back(self, smtp: aiosmtplib.SMTP, sent: int) -> None:
        if sent < self.MAX_MESSAGES and len(self._idle) < self.MAX_IDLE:
            self._idle.append((smtp, time.monotonic(), sent))
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit()
        smtp.close()


def message_id(delivery_key: str, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2] or "payreq.invalid"
    return f"<{sha256_hex(delivery_key)[:40]}@{domain}>"


def email_context(inp: EmailInput, practice_name: str, timezone: str) -> dict[str, object]:
    """The placeholders of payreq.rendering.emails.PLACEHOLDERS, from one email's input, written
    for its language."""
    # The link stops working at `expires_at`; the last whole local day before it is the due date.
    last_day = (inp.expires_at.astimezone(ZoneInfo(timezone)) - timedelta(days=1)).date()
    return {
        "practice_name": practice_name,
        "facility_name": inp.facility_name,
        "first_name": inp.first_name,
        "last_name": inp.last_name,
        "amount_due": money(inp.amount_due, inp.currency, inp.language),
        "amount_paid": money(inp.amount_paid, inp.currency, inp.language),
        "due_date": long_date(last_day, inp.language),
        "note": inp.note,
        "pay_url": inp.pay_url,
    }


def delivery_key(inp: EmailInput, recipient: str) -> str:
    return f"{inp.request_id}:{inp.kind}:{inp.sequence}:{recipient}"


# One SMTP attempt at one recipient (email_deliveries.status; retrying: a 4xx or an outage).
Delivery = Literal["accepted", "rejected", "retrying"]

_GIVE_UP = """
UPDATE email_deliveries SET updated_at = now(),
    status = CASE WHEN status IN ('accepted', 'rejected') THEN status ELSE 'failed' END
WHERE delivery_key = ANY($1) RETURNING recipient, status, smtp_reply
"""

# Marks a delivery `sending` (a new attempt), or, when an earlier attempt already ended in
# accepted or rejected, changes nothing and answers that row's status and reply; and reads the
# practice with its template for this kind and language. One round trip per recipient; no row
# (and nothing claimed) for an unknown practice.
_CLAIM = """
WITH claimed AS (
    INSERT INTO email_deliveries AS d (delivery_key, payment_request_id, kind, sequence,
                                       recipient, message_id, status, attempts)
    SELECT $1, $2, $3, $4, $5, $6, 'sending', 1
    WHERE EXISTS (SELECT 1 FROM practices WHERE id = $7)
    ON CONFLICT (delivery_key) DO UPDATE SET status = 'sending', smtp_reply = NULL,
        updated_at = now(), attempts = d.attempts + 1
    WHERE d.status NOT IN ('accepted', 'rejected')
    RETURNING 1
)
SELECT f.status AS final_status, f.smtp_reply AS final_reply,
       p.name, p.reply_to, p.timezone, t.subject, t.html, t.text
FROM practices p
LEFT JOIN email_templates t ON t.practice_id = p.id AND t.kind = $3 AND t.language = $8
LEFT JOIN email_deliveries f ON f.delivery_key = $1 AND NOT EXISTS (SELECT 1 FROM claimed)
WHERE p.id = $7
"""


_RECORD = """
UPDATE email_deliveries SET status = $2, smtp_reply = $3, updated_at = now()
WHERE delivery_key = $1
"""

# The outcome and, for the workflow (EmailInput.event_seq), its timeline event: one statement.
_RECORD_WITH_EVENT = (
    f"WITH ev AS ({request_events.workflow_events_insert(request='$4', first=5)})" + _RECORD
)


class EmailActivities:
    def __init__(self, pool: asyncpg.Pool, smtp: SmtpConfig) -> None:
        self._pool = pool
        self._smtp = smtp
        # The EHLO name, looked up once: aiosmtplib would resolve it for every connection.
        self.sessions = SmtpSessions(smtp, socket.getfqdn())

    @activity.defn(name="send_email")
    async def send_email(self, inp: EmailInput) -> EmailResult:
        started = time.monotonic()
        # Heartbeat while alive (not per step: a slow SMTP server is not a dead worker), so a
        # worker killed mid-send is noticed within the heartbeat timeout, not start-to-close.
        beating = asyncio.create_task(_heartbeat_forever())
        try:
            return await self._deliver_all(inp, started)
        finally:
            beating.cancel()

    async def _deliver_all(self, inp: EmailInput, started: float) -> EmailResult:
        results: list[RecipientResult] = []
        temporary: list[str] = []
        rendered: Rendered | None = None  # once, if any recipient is still to be sent to
        earlier: list[tuple[int, datetime, str, str]] = []  # outcomes of earlier attempts
        for i, recipient in enumerate(inp.recipients):
            key = delivery_key(inp, recipient)
            msg_id = message_id(key, self._smtp.mail_from)
            row = await self._pool.fetchrow(
                _CLAIM,
                key,
                inp.request_id,
                str(inp.kind),
                inp.sequence,
                recipient,
                msg_id,
                inp.practice_id,
                inp.language,
            )
            if row is None:
                raise ApplicationError(f"unknown practice {inp.practice_id}", non_retryable=True)
            if row["final_status"] is not None:  # accepted or rejected before: never again
                done = RecipientResult(
                    email=recipient,
                    status=RecipientStatus(row["final_status"]),
                    reply=row["final_reply"] or "",
                )
                results.append(done)
                if inp.event_seq:
                    earlier.append(_event(inp, i, done, started))
                continue
            if rendered is None:
                rendered = self._render(
                    _template(row, inp), inp, email_context(inp, row["name"], row["timezone"])
                )
            msg = self._safe_message(rendered, recipient, msg_id, row["name"], row["reply_to"])
            status, reply = await self._deliver(msg)
            if status == "retrying":
                await self._pool.execute(_RECORD, key, status, reply)
                temporary.append(reply)
                continue
            done = RecipientResult(email=recipient, status=RecipientStatus(status), reply=reply)
            results.append(done)
            if inp.event_seq:
                event = request_events.workflow_event_arrays([_event(inp, i, done, started)])
                await self._pool.execute(
                    _RECORD_WITH_EVENT, key, status, reply, inp.request_id, *event
                )
            else:
                await self._pool.execute(_RECORD, key, status, reply)
        if inp.event_seq and earlier:  # a retry: the earlier attempt's events, once more
            async with self._pool.acquire() as conn:
                await request_events.record_workflow_events(conn, inp.request_id, earlier)
        if temporary:
            raise ApplicationError(
                f"SMTP temporary failure: {temporary[0]}", type=ErrorType.SMTP_TEMPORARY
            )
        saved = False
        if inp.save is not None and all(r.status == RecipientStatus.ACCEPTED for r in results):
            # What the workflow would save next: saved here, so no save follows the email.
            snap = replace(inp.save, updated_at=_server_time(started))
            saved, _ = await save_snapshot(self._pool, snap, link=None)
        return EmailResult(
            recipients=tuple(results), events_recorded=inp.event_seq > 0, saved=saved
        )

    @activity.defn(name="give_up_email")
    async def give_up_email(self, inp: EmailInput) -> EmailResult:
        """The email window ended: every recipient not yet accepted or rejected is failed."""
        rows = await self._pool.fetch(_GIVE_UP, [delivery_key(inp, r) for r in inp.recipients])
        known = {r["recipient"]: r for r in rows}
        return EmailResult(
            recipients=tuple(
                RecipientResult(
                    email=r,
                    status=RecipientStatus(known[r]["status"])
                    if r in known
                    else RecipientStatus.FAILED,
                    reply=(known[r]["smtp_reply"] or "") if r in known else "",
                )
                for r in inp.recipients
            )
        )

    @staticmethod
    def _render(template: Template, inp: EmailInput, context: dict[str, object]) -> Rendered:
        """Templates are validated when saved; should a stored one fail anyway (say, after an
        upgrade), the patient still gets the default rather than nothing."""
        try:
            return render(template, context)
        except Exception as exc:
            log.warning(
                "the %s template failed (%s); sent the default", inp.kind, type(exc).__name__
            )
            return render(default_template(str(inp.kind), inp.language), context)

    def _safe_message(
        self, rendered: Rendered, recipient: str, msg_id: str, name: str, reply_to: str | None
    ) -> Message:
        """A name that cannot be a header (one stored before PATCH refused such names) must not
        make the send retry forever: send from the bare address; fail for good if even that
        cannot be built."""
        try:
            return self._message(rendered, recipient, msg_id, name, reply_to)
        except (ValueError, TypeError, email.errors.HeaderParseError) as exc:
            log.warning("the practice name cannot be a header (%s)", type(exc).__name__)
        try:
            return self._message(rendered, recipient, msg_id, "", reply_to)
        except (ValueError, TypeError, email.errors.HeaderParseError) as exc:
            raise ApplicationError(
                f"the message headers cannot be built: {type(exc).__name__}",
                type="EmailHeaderInvalid",
                non_retryable=True,
            ) from None

    def _message(
        self,
        rendered: Rendered,
        recipient: str,
        msg_id: str,
        practice_name: str,
        reply_to: str | None,
    ) -> Message:
        """The stdlib's legacy MIME classes when every header is plain (ASCII addresses, no
        control characters, no encoded-words to pass through): less than half the CPU of
        EmailMessage, whose header registry parses each header (tests/bench/email_build.py).
        Anything else takes EmailMessage, which can write SMTPUTF8 addresses and refuses what
        cannot be a header."""
        texts = (rendered.subject, practice_name)
        if not _plain_headers(texts, (recipient, reply_to or "", self._smtp.mail_from)):
            return self._parsed_message(rendered, recipient, msg_id, practice_name, reply_to)
        msg = MIMEMultipart("alternative", boundary=_boundary(msg_id))
        self._headers(msg, rendered.subject, recipient, msg_id, practice_name, reply_to)
        msg.attach(_text_part("plain", rendered.text))
        msg.attach(_text_part("html", rendered.html))
        return msg

    def _parsed_message(
        self,
        rendered: Rendered,
        recipient: str,
        msg_id: str,
        practice_name: str,
        reply_to: str | None,
    ) -> EmailMessage:
        msg = EmailMessage()
        self._headers(msg, rendered.subject, recipient, msg_id, practice_name, reply_to)
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        return msg

    def _headers(
        self,
        msg: Message,
        subject: str,
        recipient: str,
        msg_id: str,
        practice_name: str,
        reply_to: str | None,
    ) -> None:
        """The headers both builders write (an EmailMessage parses and checks each)."""
        msg["From"] = formataddr((practice_name, self._smtp.mail_from))
        msg["To"] = recipient
        if reply_to:
            msg["Reply-To"] = reply_to
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = msg_id

    async def _deliver(self, msg: Message) -> tuple[Delivery, str]:
        """Returns (accepted | rejected | retrying, the server's reply)."""
        try:
            await self.sessions.send(msg)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return _classify(refused.code, refused.message)
        except aiosmtplib.SMTPDataError as exc:
            return _classify(exc.code, exc.message)
        except aiosmtplib.SMTPResponseException as exc:
            # Refused sender, failed login, refused STARTTLS: our configuration or the server's
            # state, never the address's fault, so never a reason to stop writing to it.
            return "retrying", f"{exc.code} {exc.message}"
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return "retrying", f"{type(exc).__name__}: {exc}"
        return "accepted", "250"


def _event(
    inp: EmailInput, i: int, done: RecipientResult, started: float
) -> tuple[int, datetime, str, str]:
    """(seq, at, type, detail) of the i-th recipient's outcome, as the workflow numbers it.
    `at` is on the Temporal server's clock, the one workflow times are on (and the one the
    time-skipping test server moves)."""
    kind, detail = email_event(inp.kind, done.status, done.email)
    return inp.event_seq + i, _server_time(started), str(kind), detail


def _server_time(started: float) -> datetime:
    """Now on the Temporal server's clock: the attempt's start plus the time spent since."""
    return activity.info().started_time + timedelta(seconds=time.monotonic() - started)


def _template(row: asyncpg.Record, inp: EmailInput) -> Template:
    """The practice's own template for this kind and language, else the default."""
    if row["subject"] is None:
        return default_template(str(inp.kind), inp.language)
    return Template(subject=row["subject"], html=row["html"], text=row["text"])


def _classify(code: int, message: str) -> tuple[Delivery, str]:
    reply = f"{code} {message}"
    return ("rejected", reply) if 500 <= code < 600 else ("retrying", reply)


# Bodies as quoted-printable UTF-8: readable in the raw message, 7-bit safe for any relay.
_QP_UTF8 = Charset("utf-8")
_QP_UTF8.body_encoding = QP


def _boundary(msg_id: str) -> str:
    """The multipart boundary, from the Message-ID: the same bytes on every attempt, and no
    search of the bodies for a clash (the generator compiles a regex per message for that).
    It cannot clash: it starts with "==", and quoted-printable writes every "=" of a body as
    "=3D", while the part headers this module writes hold no "=" pair."""
    return "==" + sha256_hex(msg_id)[:32] + "=="


def _text_part(subtype: str, text: str) -> MIMENonMultipart:
    """A text part, its line ends as EmailMessage.set_content leaves them (one newline at the
    end, CR and CRLF as LF)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(lines if lines.endswith("\n") else lines + "\n", _QP_UTF8)
    return part


def _plain_headers(texts: tuple[str, ...], addresses: tuple[str, ...]) -> bool:
    """Header values the legacy classes write as they are: ASCII addresses (SMTPUTF8 needs
    EmailMessage), no control or line-separator characters and no encoded-words (which
    EmailMessage decodes and checks; payreq/header_names.py says why they matter)."""
    if not all(a.isascii() for a in addresses):
        return False
    return not any(
        "=?" in v or any(unicodedata.category(ch) in _NOT_IN_A_LINE for ch in v)
        for v in (*texts, *addresses)
    )


_NOT_IN_A_LINE = frozenset(("Cc", "Zl", "Zp"))

HEARTBEAT_EVERY_SECONDS = 5.0


async def _heartbeat_forever() -> None:
    while True:  # the first beat is due only after a while: most sends end well before it
        await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)
        activity.heartbeat()
