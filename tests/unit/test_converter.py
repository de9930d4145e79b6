"""The data converter shares one pydantic TypeAdapter per type across converter instances:
the SDK makes a new payload converter for every workflow run."""

from __future__ import annotations

from payreq.codec import Keyring
from payreq.temporal import SharedAdapterPayloadConverter, converter_for
from tests.support import TEST_PAYLOAD_KEY
from workflows.types import SaveResult


def test_type_adapters_are_built_once_for_all_workflow_runs() -> None:
    dc = converter_for(Keyring.parse(TEST_PAYLOAD_KEY))
    assert dc.payload_converter_class is SharedAdapterPayloadConverter
    value = SaveResult(stored=True, deliver_events=False)
    before = SharedAdapterPayloadConverter.cache_info()
    for _ in range(5):  # five "workflow runs", each with its own converter
        converter = dc.payload_converter_class()
        payloads = converter.to_payloads([value])
        assert converter.from_payloads(payloads, [SaveResult]) == [value]
    after = SharedAdapterPayloadConverter.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 4
