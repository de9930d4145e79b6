"""PHI stays out of Temporal and out of the logs: raw histories hold only ciphertext, the codec
endpoint decodes for an authorised operator only, and log lines carry ids, never PHI."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from google.protobuf.message import Message
from pydantic import SecretStr
from starlette.types import Receive, Scope, Send
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import Client

from payreq.codec import ENCODING
from payreq.logs import JsonFormatter, RequestContextMiddleware, TextFormatter, mask
from payreq.smtp import SmtpConfig
from tests import support
from tests.integration.apihelp import create_body
from tests.support import Harness, RecordingHandler, eventually, make_app, practice_client
from workflows.types import workflow_id

CODEC_TOKEN = "codec-test-token-3f9a"
UI_ORIGIN = "http://127.0.0.1:8233"
PHI = ("Maria", "Lopez", "maria@example.com", "ana@example.com", "For visits on Nov 3")


@pytest.fixture
async def ops_api(
    harness: Harness,
    database_url: str,
    fake_stripe: str,
    smtp_server: tuple[RecordingHandler, SmtpConfig],
) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with a codec token and the UI's origin configured."""
    settings = support.test_settings(database_url, smtp_server[1], fake_stripe).model_copy(
        update={"codec_auth_token": SecretStr(CODEC_TOKEN), "codec_cors_origins": UI_ORIGIN}
    )
    async with practice_client(make_app(harness, settings), harness.api_key) as client:
        yield client


def as_json(payloads: list[Payload]) -> dict[str, object]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


def raw_payloads(history_events: list[Message]) -> list[Payload]:
    """Every Payload in the history except search attributes (plain by design: ids, status,
    amounts, no PHI) and marker data written by the SDK itself (local activities: ids, attempt
    counts; patches: the patch id), found by walking the protobuf messages."""
    found: list[Payload] = []

    def walk(msg: Message) -> None:
        if isinstance(msg, Payload):
            found.append(msg)
            return
        for field, value in msg.ListFields():
            if field.message_type is None or field.name == "search_attributes":
                continue
            if isinstance(value, Message):
                walk(value)
                continue
            if not field.message_type.GetOptions().map_entry:
                for item in value:
                    walk(item)
                continue
            for key, item in value.items():
                # The SDK core's own bookkeeping: local activities (seq, attempt, activity
                # type) and patches (the patch id, e.g. "outbound-delivery-v2")
                if isinstance(msg, MarkerRecordedEventAttributes) and key in ("data", "patch-data"):
                    continue
                if isinstance(item, Message):
                    walk(item)

    for event in history_events:
        walk(event)
    return found


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """What the service's log handler would write, JSON formatted, at INFO."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_raw_history_holds_no_recipient_name_email_or_note(
    harness: Harness, ops_api: httpx.AsyncClient
) -> None:
    async with harness.worker():
        resp = await ops_api.post("/v1/payment-requests", json=create_body())
        assert resp.status_code == 201, resp.text
        request_id = resp.json()["id"]
        await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=20)

        # A client without the codec sees exactly what the Temporal server stores.
        raw_client = Client(harness.client.service_client, namespace=harness.client.namespace)
        history = await raw_client.get_workflow_handle(workflow_id(request_id)).fetch_history()
        raw = b"".join(e.SerializeToString() for e in history.events)
        for text in PHI:
            assert text.encode() not in raw, text
        payloads = raw_payloads(list(history.events))
        assert payloads and all(p.metadata["encoding"] == ENCODING for p in payloads)

        # The operator's codec endpoint turns the same bytes back into the request.
        decoded = await ops_api.post(
            "/codec/decode",
            json=as_json(payloads),
            headers={"Authorization": f"Bearer {CODEC_TOKEN}", "X-Namespace": "default"},
        )
        assert decoded.status_code == 200, decoded.text
        clear = b"".join(base64.b64decode(p["data"]) for p in decoded.json()["payloads"])
        assert b"maria@example.com" in clear and b"For visits on Nov 3" in clear


async def test_codec_endpoint_refuses_a_call_without_the_token(
    ops_api: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    body = as_json([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": CODEC_TOKEN}):
        resp = await ops_api.post("/codec/decode", json=body, headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["error"]["code"] == "unauthorized"
    assert (await ops_api.post("/codec/t/wrong/encode", json=body)).status_code == 401
    # A service with no codec token configured refuses everyone.
    no_token = await api.post(
        "/codec/encode", json=body, headers={"Authorization": f"Bearer {CODEC_TOKEN}"}
    )
    assert no_token.status_code == 401


async def test_codec_endpoint_round_trip_cors_and_namespace(ops_api: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {CODEC_TOKEN}", "Origin": UI_ORIGIN}
    original = Payload(metadata={"encoding": b"json/plain"}, data=b'{"note": "secret note"}')
    enc = await ops_api.post("/codec/encode", json=as_json([original]), headers=auth)
    assert enc.status_code == 200
    assert enc.headers["access-control-allow-origin"] == UI_ORIGIN
    [sealed] = enc.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    assert b"secret note" not in base64.b64decode(sealed["data"])
    # The UI's URL form carries the token in the path (a browser cannot add the header).
    dec = await ops_api.post(f"/codec/t/{CODEC_TOKEN}/decode", json=enc.json())
    assert dec.json() == as_json([original])

    preflight = await ops_api.options(
        "/codec/decode",
        headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert "X-Namespace" in preflight.headers["access-control-allow-headers"]
    stranger = await ops_api.options("/codec/decode", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in stranger.headers

    other_ns = await ops_api.post(
        "/codec/decode", json=enc.json(), headers={**auth, "X-Namespace": "someone-else"}
    )
    assert other_ns.status_code == 400
    garbage = await ops_api.post("/codec/decode", content=b"not json", headers=auth)
    assert garbage.status_code == 400


async def test_logs_carry_request_and_workflow_ids_and_no_phi_or_secrets(
    harness: Harness, ops_api: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    async with harness.worker():
        resp = await ops_api.post(
            "/v1/payment-requests", json=create_body(), headers={"X-Request-ID": "req-abc-123"}
        )
        assert resp.status_code == 201, resp.text
        assert resp.headers["x-request-id"] == "req-abc-123"
        created = resp.json()
        await eventually(lambda: harness.smtp.to("maria@example.com"), timeout=20)
        await ops_api.get(f"/v1/payment-requests/{created['id']}")
        pay_path = "/" + created["pay_url"].split("://", 1)[1].split("/", 1)[1]
        assert (await ops_api.get(pay_path)).status_code == 200
        await ops_api.post(
            "/codec/encode",
            json=as_json([Payload(data=b"x")]),
            headers={"Authorization": f"Bearer {CODEC_TOKEN}"},
        )
        await ops_api.post(f"/v1/payment-requests/{created['id']}/cancel", json={"reason": "dup"})
    logs = captured_logs.getvalue()
    pay_token = created["pay_url"].rsplit("/", 1)[-1]
    for secret in (*PHI, harness.api_key, CODEC_TOKEN, pay_token):
        assert secret not in logs, secret
    assert '"request_id": "req-abc-123"' in logs
    assert '"route": "/v1/payment-requests"' in logs
    assert f'"workflow_id": "{workflow_id(created["id"])}"' in logs


def test_exception_messages_and_secret_shapes_never_reach_a_log_line() -> None:
    log = logging.getLogger("payreq.test")
    try:
        raise ValueError("duplicate key (email)=(maria@example.com)")
    except ValueError:
        record = log.makeRecord(
            "payreq.test",
            logging.ERROR,
            __file__,
            1,
            "failed for %s",
            ("ana@example.com",),
            exc_info=__import__("sys").exc_info(),
        )
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert "maria@example.com" not in line and "ana@example.com" not in line
        assert "ValueError" in line
    assert mask("key prk_abcdefghijkl and Bearer xyz.abc") == "key [secret] and Bearer [secret]"
    assert mask("GET /pay/AbCdEfGhIjKlMnOpQrStUv") == "GET /pay/[token]"


async def test_request_id_is_made_when_missing_and_unsafe_ones_are_replaced() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=RequestContextMiddleware(app)), base_url="http://t"
    )
    async with client:
        made = (await client.get("/")).headers["x-request-id"]
        assert len(made) == 16
        bad = await client.get("/", headers={"X-Request-ID": "a b<script>"})
        assert bad.headers["x-request-id"] not in ("a b<script>", made)
