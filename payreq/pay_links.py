"""Pay-link tokens, derived rather than stored: the token is an HMAC of the request id under a
key of the payload keyring (PAYLOAD_ENCRYPTION_KEY), so the API can show a request's link again
from its id and the key's id alone, and no table ever holds a live token.

Postgres keeps sha256(token) for the lookup (api/pay_tokens.py) and the id of the key that made
it; rotating the keyring leaves every issued link working for as long as its key stays in the
ring. The HMAC key is derived from the AES key with its own label, so the two uses of one key
never meet.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from payreq.codec import Keyring
from payreq.digest import sha256

TOKEN_BYTES = 24  # 192 bits; 32 URL-safe characters
_LABEL = b"payreq pay-link token v1"


def hash_token(token: str) -> bytes:
    """What pay_tokens keeps of a token: its digest, never the token."""
    return sha256(token)


@dataclass(frozen=True)
class PayLinks:
    ring: Keyring
    public_base_url: str

    def issue(self, request_id: str) -> tuple[str, str]:
        """(key id, token) for a new request, under the ring's active key."""
        kid = self.ring.active
        token = self.token(kid, request_id)
        assert token is not None  # the active key is always in the ring
        return kid, token

    def token(self, kid: str, request_id: str) -> str | None:
        """The request's token under key `kid`; None once that key has left the ring."""
        key = self.ring.keys.get(kid)
        if key is None:
            return None
        subkey = hmac.digest(key, _LABEL, hashlib.sha256)
        mac = hmac.digest(subkey, request_id.encode(), hashlib.sha256)[:TOKEN_BYTES]
        return base64.urlsafe_b64encode(mac).decode()

    def url(self, token: str) -> str:
        return f"{self.public_base_url}/pay/{token}"

    def url_for(self, kid: str | None, request_id: str) -> str | None:
        token = self.token(kid, request_id) if kid else None
        return self.url(token) if token else None
