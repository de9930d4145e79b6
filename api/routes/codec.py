"""Temporal's remote codec protocol, so the Temporal UI and the `temporal` CLI can show (and
send) the encrypted payloads to an authorised operator.

`POST /codec/decode` and `POST /codec/encode` take and return `{"payloads": [...]}`, the
protobuf JSON of `temporal.api.common.v1.Payloads` (metadata values and data base64). They
need `Authorization: Bearer <CODEC_AUTH_TOKEN>`; when no token is configured they refuse every
call. A browser's UI cannot add a header, so the same endpoints also answer under
`/codec/t/<token>/…`: give the UI that URL as its codec endpoint (`payreq dev` does) and keep
it private. CORS is answered for the origins in CODEC_CORS_ORIGINS only.

The path token is readable by anyone who can open the Temporal UI. Where the UI is behind the
organisation's SSO, set CODEC_IDENTITY_HEADER (and CODEC_PATH_TOKEN=false): the SSO proxy in
front of the codec endpoint forwards the signed-in operator's identity, honoured only on
connections from TRUSTED_PROXIES and only for CODEC_ALLOWED_IDENTITIES (api/codec_identity.py).
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from api.codec_identity import forwarded_identity
from api.deps import AppDeps, Deps
from api.errors import ApiError
from payreq.codec import DecryptError

router = APIRouter(prefix="/codec", tags=["operations"])
log = logging.getLogger("payreq.api.codec")

CORS_MAX_AGE_SECONDS = 600
_ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
Operation = Literal["encode", "decode"]


def _cors_headers(deps: AppDeps, origin: str | None) -> dict[str, str]:
    allowed = {o.strip().rstrip("/") for o in deps.settings.codec_cors_origins.split(",")}
    if not origin or origin.rstrip("/") not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(CORS_MAX_AGE_SECONDS),
        "Vary": "Origin",
    }


def _authorised(deps: AppDeps, presented: str | None) -> bool:
    expected = deps.settings.codec_auth_token
    if expected is None or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _codec(deps: AppDeps) -> PayloadCodec:
    codec = deps.temporal.data_converter.payload_codec
    if codec is None:  # the app's client always has one; a misconfigured test would not
        raise ApiError(503, "codec_unavailable", "This service has no payload codec configured.")
    return codec


async def _run(
    op: Operation, request: Request, deps: AppDeps, token: str | None, namespace: str | None
) -> Response:
    cors = _cors_headers(deps, request.headers.get("origin"))
    identity = forwarded_identity(request, deps.settings)
    if identity is None and not _authorised(deps, token):
        raise ApiError(401, "unauthorized", "A valid codec token is required.", headers=cors)
    if namespace and namespace != deps.settings.temporal_namespace:
        raise ApiError(
            400, "unknown_namespace", "This codec serves another namespace.", headers=cors
        )
    try:
        payloads = json_format.Parse(await request.body(), Payloads())
    except json_format.ParseError:
        raise ApiError(
            400, "malformed_payloads", 'Send {"payloads": [...]} as protobuf JSON.', headers=cors
        ) from None
    codec = _codec(deps)
    try:
        out = await (codec.encode if op == "encode" else codec.decode)(payloads.payloads)
    except DecryptError:
        raise ApiError(
            422,
            "undecryptable",
            "A payload cannot be decrypted with the keys of this service.",
            headers=cors,
        ) from None
    log.info("codec %s of %d payload(s) for %s", op, len(out), identity or "the codec token")
    body = json_format.MessageToJson(Payloads(payloads=out), indent=None)
    return Response(body, media_type="application/json", headers=cors)


@router.options("/{op}", include_in_schema=False)
@router.options("/t/{token}/{op}", include_in_schema=False)
async def preflight(op: Operation, request: Request, deps: Deps) -> Response:
    """Browsers ask before a cross-origin POST with an Authorization header; no token here."""
    return Response(status_code=204, headers=_cors_headers(deps, request.headers.get("origin")))


@router.post(
    "/{op}",
    summary="Encode or decode Temporal payloads (remote codec protocol)",
    responses={401: {"description": "No or wrong codec token"}},
)
async def codec(
    op: Operation,
    request: Request,
    deps: Deps,
    authorization: Annotated[str | None, Header()] = None,
    x_namespace: Annotated[str | None, Header()] = None,
) -> Response:
    return await _run(op, request, deps, _bearer(authorization), x_namespace)


@router.post("/t/{token}/{op}", include_in_schema=False)
async def codec_for_ui(
    op: Operation,
    token: str,
    request: Request,
    deps: Deps,
    x_namespace: Annotated[str | None, Header()] = None,
) -> Response:
    if not deps.settings.codec_path_token:
        raise ApiError(404, "not_found", "The codec's path-token form is turned off.")
    return await _run(op, request, deps, token, x_namespace)
