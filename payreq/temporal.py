"""The one place the Temporal client and its data converter are made."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    pydantic_data_converter,
)
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from payreq.codec import SETTING, EncryptionCodec, Keyring, KeyringError
from payreq.settings import ConfigError, Settings


def keyring(settings: Settings) -> Keyring:
    if settings.payload_encryption_key is None:
        raise ConfigError(f"configuration error: {SETTING}: required")
    try:
        return Keyring.parse(settings.payload_encryption_key.get_secret_value())
    except KeyringError as exc:
        raise ConfigError(f"configuration error: {SETTING}: {exc}") from None


# One TypeAdapter per type for the whole process. The SDK makes a payload converter for every
# workflow run, each with its own adapter cache, so each new request rebuilt the pydantic schema
# of its input and results: 5.5% of the worker's samples in the lifecycle profile.
_type_adapter = functools.lru_cache(maxsize=1024)(TypeAdapter)


class SharedAdapterPayloadConverter(PydanticPayloadConverter):
    def __init__(self) -> None:
        super().__init__()
        for converter in self.converters.values():
            if isinstance(converter, PydanticJSONPlainPayloadConverter):
                converter._type_adapter = _type_adapter

    @staticmethod
    def cache_info() -> Any:
        return _type_adapter.cache_info()


def converter_for(ring: Keyring) -> DataConverter:
    """Pydantic payloads (timedelta, dataclasses), every payload AES-GCM encrypted, and failure
    messages and stack traces moved into an (encrypted) payload instead of clear text."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=SharedAdapterPayloadConverter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    return converter_for(keyring(settings))


def tls_config(settings: Settings) -> TLSConfig | None:
    if not (settings.temporal_tls_cert and settings.temporal_tls_key):
        return None
    return TLSConfig(
        client_cert=Path(settings.temporal_tls_cert).read_bytes(),
        client_private_key=Path(settings.temporal_tls_key).read_bytes(),
    )


async def connect_temporal(settings: Settings) -> Client:
    converter = data_converter(settings)
    tls = tls_config(settings)
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter,
        tls=tls or bool(api_key),
        api_key=api_key,
    )


def workflow_runner(mode: str) -> WorkflowRunner:
    """The runner for WORKFLOW_SANDBOX's `mode` (see Settings.workflow_sandbox).

    The SDK's sandbox re-imports the workflow module (and every module not passed through) for
    each workflow run: 4.3 ms of CPU per PaymentRequestWorkflow instance, against 0.14 ms with
    every module passed through and 0.02 ms unsandboxed (tests/bench/sandbox.py). Determinism
    is what the sandbox checks, and it is checked where it is cheap: the test suite's workers
    and the replay tests over tests/histories/ always run the full sandbox."""
    if mode == "full":
        return SandboxedWorkflowRunner()
    if mode == "passthrough":
        return SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        )
    if mode == "off":
        return UnsandboxedWorkflowRunner()
    raise ValueError(f"unknown workflow sandbox mode {mode!r}")
