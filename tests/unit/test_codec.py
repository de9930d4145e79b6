"""The payload codec: AES-GCM, key id in the metadata, rotation, and its configuration."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure

from payreq.codec import (
    ENCODING,
    METADATA_KEY_ID,
    DecryptError,
    EncryptionCodec,
    Keyring,
)
from payreq.settings import ConfigError, load_settings
from payreq.temporal import converter_for, data_converter

K1 = "k1:" + base64.b64encode(b"1" * 32).decode()
K2 = "k2:" + base64.b64encode(b"2" * 32).decode()
REQUIRED = dict(
    database_url="postgresql://localhost/x",
    temporal_address="127.0.0.1:7233",
    smtp_host="127.0.0.1",
    mail_from="billing@example.com",
    public_base_url="http://127.0.0.1:8000",
)


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_data_and_metadata_and_names_the_key() -> None:
    codec = EncryptionCodec(Keyring.parse(K1))
    original = plain('{"first_name": "Maria", "emails": ["maria@example.com"]}')
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[METADATA_KEY_ID] == b"k1"
    assert b"Maria" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]


async def test_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec(Keyring.parse(K1))
    a, b = await codec.encode([plain("x"), plain("x")])
    assert a.data != b.data


async def test_rotation_decrypts_old_keys_and_encrypts_with_the_newest() -> None:
    old = EncryptionCodec(Keyring.parse(K1))
    rotated = EncryptionCodec(Keyring.parse(f"{K2},{K1}"))
    [from_before] = await old.encode([plain("before rotation")])
    assert await rotated.decode([from_before]) == [plain("before rotation")]
    [after] = await rotated.encode([plain("after")])
    assert after.metadata[METADATA_KEY_ID] == b"k2"
    with pytest.raises(DecryptError, match="unknown key id 'k2'"):
        await old.decode([after])


async def test_tampered_ciphertext_and_relabelled_key_are_refused() -> None:
    ring = Keyring.parse(f"{K2},{K1}")
    codec = EncryptionCodec(ring)
    [sealed] = await codec.encode([plain("amount 5000")])
    last = sealed.data[-1] ^ 0x01  # always a change (a fixed b"\x00" is none 1 time in 256)
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([last]))
    with pytest.raises(DecryptError):
        await codec.decode([flipped])
    relabelled = Payload(metadata={**sealed.metadata, METADATA_KEY_ID: b"k1"}, data=sealed.data)
    with pytest.raises(DecryptError):
        await codec.decode([relabelled])


async def test_unencrypted_payloads_pass_through_decode() -> None:
    codec = EncryptionCodec(Keyring.parse(K1))
    assert await codec.decode([plain('{"reason": "cli"}')]) == [plain('{"reason": "cli"}')]


@dataclass(frozen=True)
class Secret:
    note: str


async def test_converter_encrypts_values_and_failure_messages() -> None:
    converter = converter_for(Keyring.parse(K1))
    [payload] = await converter.encode([Secret(note="For visits on Nov 3")])
    assert b"Nov 3" not in payload.SerializeToString()
    [back] = await converter.decode([payload], [Secret])
    assert back == Secret(note="For visits on Nov 3")
    failure = Failure()
    await converter.encode_failure(RuntimeError("cannot mail maria@example.com"), failure)
    assert b"maria@example.com" not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert "maria@example.com" in str(decoded)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("nocolon", "entry 1 must be kid:base64key"),
        ("k1:!!notbase64!!", "key 'k1' is not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "must decode to 32 bytes"),
        (f"{K1},{K1}", "appears twice"),
        (f"{K1},", "entry 2 must be kid:base64key"),
    ],
)
def test_malformed_keyring_stops_start_with_one_line_naming_it(setting: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(**REQUIRED, payload_encryption_key=setting)
    message = str(err.value)
    assert message.startswith("configuration error: PAYLOAD_ENCRYPTION_KEY:")
    assert problem in message
    assert "\n" not in message
    assert base64.b64encode(b"1" * 32).decode() not in message


def test_missing_keyring_stops_the_worker_and_api_at_start() -> None:
    settings = load_settings(**REQUIRED)
    with pytest.raises(
        ConfigError, match="^configuration error: PAYLOAD_ENCRYPTION_KEY: required$"
    ):
        data_converter(settings)


def test_generated_setting_is_a_valid_one_key_ring() -> None:
    ring = Keyring.parse(Keyring.generate_setting("dev"))
    assert ring.active == "dev" and len(ring.keys["dev"]) == 32
