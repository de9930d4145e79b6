"""Twilio's callbacks: inbound texts (`POST /webhooks/twilio`: STOP and START keywords) and
delivery status (`POST /webhooks/twilio/status`). Both are verified with Twilio's own
RequestValidator over the public URL Twilio called; a bad signature is a 403 and changes
nothing. Each is applied once: an inbound text by its MessageSid, a status by MessageSid and
status, so Twilio's redeliveries are harmless."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from twilio.twiml.messaging_response import MessagingResponse

from api.deps import AppDeps, Deps
from api.errors import ApiError, ErrorResponse
from payreq.sms import signature_valid
from payreq.tables import Conn

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")

router = APIRouter(tags=["twilio"])
_SIGNED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Not a Twilio callback."},
    403: {"model": ErrorResponse, "description": "Bad X-Twilio-Signature."},
    503: {"model": ErrorResponse, "description": "Twilio is not configured, or Postgres is down."},
}


@router.post("/webhooks/twilio", summary="An inbound text (STOP / START)", responses=_SIGNED)
async def twilio_inbound(request: Request, deps: Deps) -> Response:
    form = await _verified_form(request, deps)
    sid, phone, body = form.get("MessageSid"), form.get("From"), form.get("Body", "")
    if not sid or not phone:
        raise ApiError(400, "malformed_callback", "MessageSid and From are required.")
    word = body.strip().upper()
    async with deps.pool.acquire() as conn, conn.transaction():
        if await _first_time(conn, sid, "inbound", "received", None) and (
            word in OPT_OUT_WORDS or word in OPT_IN_WORDS
        ):
            await conn.execute(_SET_OPT_OUT, phone, word in OPT_OUT_WORDS, word, sid)
    return Response(str(MessagingResponse()), media_type="text/xml")


@router.post("/webhooks/twilio/status", summary="A text's delivery status", responses=_SIGNED)
async def twilio_status(request: Request, deps: Deps) -> Response:
    form = await _verified_form(request, deps)
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or status not in STATUSES:
        raise ApiError(400, "malformed_callback", "MessageSid and MessageStatus are required.")
    async with deps.pool.acquire() as conn, conn.transaction():
        if await _first_time(conn, sid, "status", status, form.get("ErrorCode")):
            await conn.execute(_ADVANCE_STATUS, sid, status, form.get("ErrorCode"))
    return Response(status_code=204)


async def _verified_form(request: Request, deps: AppDeps) -> dict[str, str]:
    token = deps.settings.twilio_auth_token
    if token is None:
        raise ApiError(503, "not_configured", "TWILIO_AUTH_TOKEN is not set.")
    raw = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))
    url = deps.settings.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("x-twilio-signature")
    if not signature_valid(token.get_secret_value(), url, form, signature):
        raise ApiError(403, "invalid_signature", "The Twilio signature is not valid.")
    return form


async def _first_time(
    conn: Conn,
    sid: str,
    kind: str,
    status: str,
    error_code: str | None,
) -> bool:
    return bool(await conn.fetchval(_RECORD_CALLBACK, sid, kind, status, error_code))


_RECORD_CALLBACK = """
INSERT INTO twilio_callbacks (message_sid, kind, status, error_code) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING RETURNING 1
"""

# Per practice and number: every practice that has texted this number hears its STOP (with one
# shared sender, Twilio itself then refuses that sender's texts to it: error 21610).
_SET_OPT_OUT = """
INSERT INTO sms_opt_outs AS o (practice_id, phone, opted_out, keyword, message_sid)
SELECT DISTINCT d.practice_id, $1::text, $2::boolean, $3::text, $4::text
FROM sms_deliveries d WHERE d.recipient = $1
ON CONFLICT (practice_id, phone) DO UPDATE SET opted_out = EXCLUDED.opted_out,
    keyword = EXCLUDED.keyword, message_sid = EXCLUDED.message_sid, updated_at = now()
"""

_ADVANCE_STATUS = """
UPDATE sms_deliveries SET status = $2, error_code = COALESCE($3, error_code), updated_at = now()
WHERE message_sid = $1
  AND COALESCE(array_position(ARRAY['queued', 'sending', 'sent', 'delivered', 'undelivered',
                                    'failed'], status), 0)
      < array_position(ARRAY['queued', 'sending', 'sent', 'delivered', 'undelivered',
                             'failed'], $2::text)
"""
