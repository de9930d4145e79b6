"""Text delivery. One text per phone, keyed `request:kind:sequence:phone` and recorded before
and after sending, so a retried activity never sends a text Twilio already took. A number that
texted STOP to the practice is skipped (and reported as such), without asking Twilio."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from payreq.rendering.texts import default_text, render_text, text_context
from payreq.sms import Sent, TextTemporaryError, TwilioGateway
from workflows.sms import PhoneResult, TextInput, TextOutcome, TextRenderInput, TextResult

TEXT_TEMPORARY = "TextTemporary"

# Marks a delivery `sending` and answers NULL; or, when an earlier attempt already ended (Twilio
# took it, refused it, or the number opted out), changes nothing and answers that row.
_CLAIM = """
WITH claimed AS (
    INSERT INTO sms_deliveries AS d (delivery_key, payment_request_id, practice_id, kind,
                                     sequence, recipient, status, attempts)
    VALUES ($1, $2, $3, $4, $5, $6, 'sending', 1)
    ON CONFLICT (delivery_key) DO UPDATE SET status = 'sending', updated_at = now(),
        attempts = d.attempts + 1
    WHERE d.status = 'sending'
    RETURNING 1
)
SELECT status, error_code FROM sms_deliveries
WHERE delivery_key = $1 AND NOT EXISTS (SELECT 1 FROM claimed)
"""

_OPTED_OUT = "SELECT opted_out FROM sms_opt_outs WHERE practice_id = $1 AND phone = $2"

# The status callbacks that came before the sid was recorded are applied here; after it, the
# callback route updates the row itself. Statuses only move forward (STATUS_RANK).
_RECORD = """
UPDATE sms_deliveries d SET message_sid = $2, error_code = NULLIF($4, ''), updated_at = now(),
    status = COALESCE((
        SELECT c.status FROM twilio_callbacks c
        WHERE c.message_sid = $2 AND c.kind = 'status'
        ORDER BY array_position(ARRAY['queued', 'sending', 'sent', 'delivered', 'undelivered',
                                      'failed'], c.status) DESC NULLS LAST
        LIMIT 1), $3)
WHERE delivery_key = $1
"""


def delivery_key(inp: TextInput, phone: str) -> str:
    return f"{inp.request_id}:{inp.kind}:{inp.sequence}:{phone}"


class SmsActivities:
    def __init__(self, pool: asyncpg.Pool, gateway: TwilioGateway) -> None:
        self._pool = pool
        self._gateway = gateway

    @activity.defn(name="render_text")
    async def render_text(self, inp: TextRenderInput) -> str:
        """The practice's text template of this kind and language, else that language's default;
        a stored template that fails anyway (validated when saved) falls back to the default."""
        row = await self._pool.fetchrow(
            """SELECT p.name, t.body FROM practices p
               LEFT JOIN text_templates t
                 ON t.practice_id = p.id AND t.kind = $2 AND t.language = $3
               WHERE p.id = $1""",
            inp.practice_id,
            inp.kind,
            inp.language,
        )
        if row is None:
            raise ApplicationError(f"unknown practice {inp.practice_id}", non_retryable=True)
        context = text_context(
            row["name"], inp.currency, inp.amount_due, inp.amount_paid, inp.pay_url, inp.language
        )
        default = default_text(inp.kind, inp.language)
        try:
            return render_text(row["body"] or default, context)
        except Exception:
            return render_text(default, context)

    @activity.defn(name="send_text")
    async def send_text(self, inp: TextInput) -> TextResult:
        results = [await self._one(inp, phone) for phone in inp.phones]
        return TextResult(phones=tuple(results))

    async def _one(self, inp: TextInput, phone: str) -> PhoneResult:
        key = delivery_key(inp, phone)
        async with self._pool.acquire() as conn:
            done = await conn.fetchrow(
                _CLAIM, key, inp.request_id, inp.practice_id, inp.kind, inp.sequence, phone
            )
            if done is not None:
                return _earlier(phone, done["status"], done["error_code"] or "")
            if await conn.fetchval(_OPTED_OUT, inp.practice_id, phone):
                await conn.execute(_RECORD, key, None, TextOutcome.OPTED_OUT, "")
                return PhoneResult(phone=phone, outcome=TextOutcome.OPTED_OUT)
        try:
            sent = await self._gateway.send(phone, inp.body)
        except TextTemporaryError as exc:
            raise ApplicationError(f"Twilio: {exc}", type=TEXT_TEMPORARY) from exc
        await self._record(key, sent)
        return PhoneResult(phone=phone, outcome=sent.outcome, error_code=sent.error_code)

    async def _record(self, key: str, sent: Sent) -> None:
        await self._pool.execute(
            _RECORD, key, sent.message_sid or None, str(sent.outcome), sent.error_code
        )


def _earlier(phone: str, status: str, error_code: str) -> PhoneResult:
    """An attempt before this one finished the delivery: answer what it found."""
    final = {"rejected": TextOutcome.REJECTED, "opted_out": TextOutcome.OPTED_OUT}
    outcome = final.get(status, TextOutcome.QUEUED)
    return PhoneResult(phone=phone, outcome=outcome, error_code=error_code)
