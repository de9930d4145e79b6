"""Item 12: the codec endpoint behind the organisation's SSO. The identity the SSO proxy
forwards is honoured only from TRUSTED_PROXIES and only for allowed operators, and the path
token (readable from the Temporal UI's settings) can be turned off."""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload

from payreq.settings import Settings
from tests.integration.test_phi_encryption import as_json
from tests.security.conftest import client_at
from tests.support import Harness, make_app

TOKEN = "codec-token-for-the-cli-only-0123456789"
SSO_PROXY, OUTSIDER = "10.2.0.5", "203.0.113.9"
HEADER = "X-Forwarded-Email"


async def test_the_codec_trusts_only_the_sso_proxys_forwarded_identity(
    harness: Harness, settings: Settings
) -> None:
    sso = settings.model_copy(
        update={
            "trusted_proxies": "10.2.0.0/16",
            "codec_identity_header": HEADER,
            "codec_allowed_identities": "@clinic.example, root@ops.example",
            "codec_path_token": False,
            "codec_auth_token": SecretStr(TOKEN),
        }
    )
    app = make_app(harness, sso)
    body = as_json([Payload(metadata={"encoding": b"json/plain"}, data=b'"secret note"')])
    async with client_at(app, SSO_PROXY) as proxy, client_at(app, OUTSIDER) as outsider:
        sealed = await proxy.post("/codec/encode", json=body, headers={HEADER: "jo@clinic.example"})
        assert sealed.status_code == 200, sealed.text
        opened = await proxy.post(
            "/codec/decode", json=sealed.json(), headers={HEADER: "root@ops.example"}
        )
        assert opened.status_code == 200 and opened.json() == body
        sealed_body = sealed.json()

        async def decode(client: httpx.AsyncClient, who: str | None, path: str = "") -> int:
            headers = {HEADER: who} if who else {}
            url = path or "/codec/decode"
            return (await client.post(url, json=sealed_body, headers=headers)).status_code

        refused = {
            "another domain": await decode(proxy, "x@evil.example"),
            "a look-alike domain": await decode(proxy, "x@notclinic.example"),
            "no identity": await decode(proxy, None),
            "header not from the proxy": await decode(outsider, "jo@clinic.example"),
            "the token in the path": await decode(outsider, None, f"/codec/t/{TOKEN}/decode"),
        }
        # The CLI keeps working with the bearer token.
        cli = await outsider.post(
            "/codec/decode", json=sealed.json(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert refused == {
        "another domain": 401,
        "a look-alike domain": 401,
        "no identity": 401,
        "header not from the proxy": 401,
        "the token in the path": 404,
    }
    assert cli.status_code == 200
