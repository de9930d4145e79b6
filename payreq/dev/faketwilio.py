"""A local stand-in for the part of Twilio's Messages API the service uses (dev stack and tests
only; never imported in production).

It follows Twilio's contract, not ours: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
with HTTP basic auth (account SID : auth token) and a form body (`To`, `From` or
`MessagingServiceSid`, `Body`, `StatusCallback`), answering 201 with a Message resource or 4xx
with Twilio's error body (`code`, `message`, `more_info`, `status`). Each accepted message is
written to the outbox folder as `{"to", "from", "body", "sid"}`, and its status callbacks
(`sent`, then `delivered` or `undelivered`) are POSTed, form-encoded and signed with
`X-Twilio-Signature` the way Twilio signs them.

Twilio's test-credential numbers behave as Twilio documents them: `+15005550001` is not a valid
number (21211), `+15005550009` cannot receive SMS (21614). Like a Twilio long code with its
default opt-out handling, a number that texted STOP to a sender gets 21610 from that sender
until it texts START. `+15005550010` is this stand-in's own: accepted, then `undelivered`
(30003). `POST /_fake/inbound` `{"from", "to", "body"}` plays a patient's reply: it is applied
to the opt-out list and forwarded, signed, to the inbound webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiohttp import BasicAuth, ClientSession, ClientTimeout, web
from twilio.request_validator import RequestValidator

from payreq.sms_text import segments

API_VERSION = "2010-04-01"
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "UNSTOP"})
INVALID_NUMBER = "+15005550001"
NOT_SMS_CAPABLE = "+15005550009"
UNDELIVERABLE = "+15005550010"
CALLBACK_DELAY_SECONDS = 0.05
CALLBACK_TIMEOUT = ClientTimeout(total=10)
MAX_BODY_CHARS = 1600

KEY: web.AppKey[FakeTwilio] = web.AppKey("fake_twilio")


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return web.json_response(body, status=self.status)


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    outbox: Path
    inbound_url: str | None = None
    messaging_service_from: str = "+15005550006"
    opted_out: set[tuple[str, str]] = field(default_factory=set)  # (sender, patient number)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    def accept(self, form: dict[str, str]) -> dict[str, Any]:
        to, body = form.get("To", ""), form.get("Body", "")
        sender = form.get("From") or (
            self.messaging_service_from if form.get("MessagingServiceSid") else ""
        )
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not sender:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            raise TwilioError(400, 21617, "The concatenated message body exceeds 1600 characters.")
        if to == INVALID_NUMBER or not to.startswith("+") or not to[1:].isdigit():
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to == NOT_SMS_CAPABLE:
            raise TwilioError(400, 21614, f"'To' number {to} is not a valid mobile number.")
        if (sender, to) in self.opted_out:
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient.")
        sid = "SM" + secrets.token_hex(16)
        self.outbox.mkdir(parents=True, exist_ok=True)
        record = {"to": to, "from": sender, "body": body, "sid": sid}
        (self.outbox / f"{sid}.json").write_text(json.dumps(record, ensure_ascii=False))
        callback = form.get("StatusCallback")
        if callback:
            self._spawn(self._status_callbacks(callback, sid, sender, to, form))
        return self._resource(sid, sender, to, body, form.get("MessagingServiceSid"))

    def _resource(
        self, sid: str, sender: str, to: str, body: str, service: str | None
    ) -> dict[str, Any]:
        now = format_datetime(datetime.now(UTC), usegmt=False)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }

    async def _status_callbacks(
        self, url: str, sid: str, sender: str, to: str, form: dict[str, str]
    ) -> None:
        final = ("undelivered", "30003") if to == UNDELIVERABLE else ("delivered", None)
        for status, error in (("sent", None), final):
            await asyncio.sleep(CALLBACK_DELAY_SECONDS)
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": sender,
                "MessageSid": sid,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": to,
            }
            if form.get("MessagingServiceSid"):
                params["MessagingServiceSid"] = form["MessagingServiceSid"]
            if error:
                params["ErrorCode"] = error
            await self.post_signed(url, params)

    async def inbound(self, sender_number: str, to: str, body: str) -> int | None:
        """A patient's reply: opt-out keywords apply here first, as on a Twilio long code."""
        word = body.strip().upper()
        if word in OPT_OUT_WORDS:
            self.opted_out.add((to, sender_number))
        elif word in OPT_IN_WORDS:
            self.opted_out.discard((to, sender_number))
        if not self.inbound_url:
            return None
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": sender_number,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }
        if word in OPT_OUT_WORDS or word in OPT_IN_WORDS:
            params["OptOutType"] = "STOP" if word in OPT_OUT_WORDS else "START"
        return await self.post_signed(self.inbound_url, params)

    async def post_signed(self, url: str, params: dict[str, str]) -> int | None:
        headers = {"X-Twilio-Signature": self.sign(url, params)}
        try:
            async with (
                ClientSession(timeout=CALLBACK_TIMEOUT) as session,
                session.post(url, data=params, headers=headers) as resp,
            ):
                return resp.status
        except (OSError, TimeoutError):
            return None  # Twilio does not retry status callbacks either

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _messages(request: web.Request) -> web.Response:
    fake = request.app[KEY]
    auth = request.headers.get("Authorization", "")
    try:
        creds = BasicAuth.decode(auth) if auth else None
    except ValueError:
        creds = None
    if (
        creds is None
        or creds.login != fake.account_sid
        or creds.password != fake.auth_token
        or request.match_info["account"] != fake.account_sid
    ):
        return TwilioError(401, 20003, "Authenticate").response()
    form = {k: str(v) for k, v in (await request.post()).items()}
    try:
        return web.json_response(fake.accept(form), status=201)
    except TwilioError as exc:
        return exc.response()


async def _inbound(request: web.Request) -> web.Response:
    data = await request.json()
    status = await request.app[KEY].inbound(str(data["from"]), str(data["to"]), str(data["body"]))
    return web.json_response({"forwarded_status": status})


def build_app(fake: FakeTwilio) -> web.Application:
    app = web.Application()
    app[KEY] = fake
    app.router.add_post(f"/{API_VERSION}/Accounts/{{account}}/Messages.json", _messages)
    app.router.add_post("/_fake/inbound", _inbound)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="a local stand-in for Twilio's Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--inbound-url", default=None)
    args = parser.parse_args()
    fake = FakeTwilio(args.account_sid, args.auth_token, args.outbox, args.inbound_url)
    web.run_app(build_app(fake), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
