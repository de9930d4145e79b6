"""AES-GCM encryption of every Temporal payload, with a keyring for key rotation.

PAYLOAD_ENCRYPTION_KEY holds the keyring: `kid:base64key` entries separated by commas, the
newest first, e.g. `k2:<32 bytes base64>,k1:<32 bytes base64>`. The first key encrypts; every
key decrypts, so rotating means prepending a new key and dropping the old one only once no open
workflow history still refers to it. Each encrypted payload names its key in its metadata.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
METADATA_ENCODING = "encoding"
METADATA_KEY_ID = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SETTING = "PAYLOAD_ENCRYPTION_KEY"


class KeyringError(ValueError):
    """A malformed keyring setting. The message never quotes key material."""


class DecryptError(Exception):
    """A payload this keyring cannot decrypt (unknown key id, or tampered ciphertext)."""


@dataclass(frozen=True)
class Keyring:
    """Keys by id; `active` is the one new payloads are encrypted with."""

    keys: dict[str, bytes]
    active: str

    @classmethod
    def parse(cls, setting: str) -> Keyring:
        keys: dict[str, bytes] = {}
        order: list[str] = []
        for n, entry in enumerate(part.strip() for part in setting.split(",")):
            kid, sep, encoded = entry.partition(":")
            if not sep or not _KEY_ID.match(kid):
                raise KeyringError(
                    f"entry {n + 1} must be kid:base64key (kid: letters, digits, _.-)"
                )
            if kid in keys:
                raise KeyringError(f"key id {kid!r} appears twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {kid!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {kid!r} must decode to {KEY_BYTES} bytes, not {len(key)}")
            keys[kid] = key
            order.append(kid)
        return cls(keys=keys, active=order[0])

    @staticmethod
    def generate_setting(kid: str = "k1") -> str:
        """A fresh one-key setting value (for `payreq dev` and for operators rotating keys)."""
        return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    """Encrypts the whole serialised payload (metadata included) so its encoding, type hints
    and data are all hidden; decrypts with whichever known key the payload names. Payloads
    that were never encrypted pass through decode unchanged (e.g. a `temporal` CLI input sent
    without the codec endpoint)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}

    @property
    def active_key_id(self) -> str:
        return self._keyring.active

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self._keyring.active
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), _aad(kid))
        return Payload(
            metadata={METADATA_ENCODING: ENCODING, METADATA_KEY_ID: kid.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get(METADATA_ENCODING) != ENCODING:
            return payload
        kid = payload.metadata.get(METADATA_KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise DecryptError(f"payload encrypted with unknown key id {kid!r}")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, _aad(kid))
        except InvalidTag:
            raise DecryptError(f"payload failed authentication with key id {kid!r}") from None
        out = Payload()
        out.ParseFromString(plain)
        return out


def _aad(kid: str) -> bytes:
    # Binding the key id means a payload's metadata cannot be edited to point at another key.
    return b"payreq/v1:" + kid.encode()
