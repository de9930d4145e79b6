"""The codec endpoint's SSO mode: the operator's identity as forwarded by a trusted proxy."""

from __future__ import annotations

from fastapi import Request

from api.client_address import is_trusted, parse_networks
from payreq.settings import Settings


def identity_allowed(identity: str, allowed: str) -> bool:
    """`allowed`: comma-separated exact identities, or `@domain` for a whole domain."""
    who = identity.strip().lower()
    for entry in (e.strip().lower() for e in allowed.split(",")):
        if entry and (who == entry or (entry.startswith("@") and who.endswith(entry))):
            return True
    return False


def forwarded_identity(request: Request, settings: Settings) -> str | None:
    """The allowed identity the SSO proxy forwarded, or None (then the token decides).
    Only a connection straight from a trusted proxy may vouch for someone: anyone else can
    write the header too."""
    if not settings.codec_identity_header:
        return None
    peer = request.client.host if request.client else ""
    if not is_trusted(peer, parse_networks(settings.trusted_proxies)):
        return None
    identity = request.headers.get(settings.codec_identity_header, "")
    if identity and identity_allowed(identity, settings.codec_allowed_identities):
        return identity.strip()
    return None
