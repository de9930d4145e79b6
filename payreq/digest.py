"""The one sha256 helper. Pure (hashlib only, no I/O), so the API, the activities, payreq and
workflow code (through `workflow.unsafe.imports_passed_through()`) all import it from here."""

from __future__ import annotations

import hashlib


def sha256(data: str | bytes) -> bytes:
    """The digest of `data` (a str is UTF-8 encoded first)."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).digest()


def sha256_hex(data: str | bytes) -> str:
    return sha256(data).hex()
