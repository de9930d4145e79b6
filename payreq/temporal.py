"""The one place the Temporal client and its data converter are made."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from payreq.settings import Settings


def data_converter(settings: Settings | None = None) -> DataConverter:
    return pydantic_data_converter


def tls_config(settings: Settings) -> TLSConfig | None:
    if not (settings.temporal_tls_cert and settings.temporal_tls_key):
        return None
    return TLSConfig(
        client_cert=Path(settings.temporal_tls_cert).read_bytes(),
        client_private_key=Path(settings.temporal_tls_key).read_bytes(),
    )


async def connect_temporal(settings: Settings) -> Client:
    tls = tls_config(settings)
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls or bool(api_key),
        api_key=api_key,
    )
