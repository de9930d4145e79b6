"""Twilio, the one place the service talks to it: the client, sending one text, and checking
the signature of Twilio's callbacks. Production uses Twilio's own API host; TWILIO_API_BASE
(only `payreq dev` and the tests set it) sends the same requests to a local stand-in."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from workflows.sms import TextOutcome

TWILIO_API_HOST = "https://api.twilio.com"
SEND_TIMEOUT_SECONDS = 10.0
# Twilio's error codes that no retry will change (docs: twilio.com/docs/api/errors).
OPTED_OUT_CODES = frozenset({21610})  # the recipient texted STOP to this sender
REJECTED_CODES = frozenset({21211, 21408, 21612, 21614, 21401, 21407})

log = logging.getLogger("payreq.sms")


class TextTemporaryError(Exception):
    """Twilio did not take the text this time (5xx, 429, network): retry later."""


@dataclass(frozen=True, kw_only=True)
class Sent:
    outcome: TextOutcome
    message_sid: str = ""
    error_code: str = ""


@dataclass(frozen=True, kw_only=True)
class Sender:
    """Who the texts come from: a Messaging Service (preferred: it picks the number and
    handles opt-out keywords) or one phone number."""

    messaging_service_sid: str | None = None
    from_number: str | None = None


class _BaseUrlHttpClient(AsyncTwilioHttpClient):
    """Sends Twilio's requests, unchanged, to another host: the dev stack's stand-in."""

    def __init__(self, base: str) -> None:
        super().__init__(timeout=SEND_TIMEOUT_SECONDS)
        self._base = base.rstrip("/")

    async def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        if url.startswith(TWILIO_API_HOST):
            url = self._base + url[len(TWILIO_API_HOST) :]
        return await super().request(method, url, *args, **kwargs)


def twilio_client(account_sid: str, auth_token: str, api_base: str | None = None) -> Client:
    http = (
        _BaseUrlHttpClient(api_base)
        if api_base
        else AsyncTwilioHttpClient(timeout=SEND_TIMEOUT_SECONDS)
    )
    return Client(account_sid, auth_token, http_client=http)


class TwilioGateway:
    def __init__(self, client: Client, sender: Sender, status_callback_url: str) -> None:
        self._client = client
        self._sender = sender
        self._status_callback = status_callback_url

    async def send(self, to: str, body: str) -> Sent:
        try:
            if self._sender.messaging_service_sid:
                msg = await self._client.messages.create_async(
                    to=to,
                    body=body,
                    messaging_service_sid=self._sender.messaging_service_sid,
                    status_callback=self._status_callback,
                )
            else:
                msg = await self._client.messages.create_async(
                    to=to,
                    body=body,
                    from_=self._sender.from_number or "",
                    status_callback=self._status_callback,
                )
        except TwilioRestException as exc:
            return _refused(exc)
        except (OSError, TimeoutError) as exc:
            raise TextTemporaryError(type(exc).__name__) from exc
        return Sent(outcome=TextOutcome.QUEUED, message_sid=str(msg.sid))


def _refused(exc: TwilioRestException) -> Sent:
    code = exc.code or 0
    log.warning("twilio refused a text: status %s code %s", exc.status, code)
    if code in OPTED_OUT_CODES:
        return Sent(outcome=TextOutcome.OPTED_OUT, error_code=str(code))
    if code in REJECTED_CODES or (400 <= exc.status < 500 and exc.status != 429):
        return Sent(outcome=TextOutcome.REJECTED, error_code=str(code))
    raise TextTemporaryError(f"status {exc.status} code {code}") from exc


def signature_valid(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Twilio's own check: HMAC-SHA1 over the URL Twilio called and the sorted form fields."""
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))
