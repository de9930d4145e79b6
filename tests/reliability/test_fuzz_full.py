"""The full fuzzing run of issue 7: schemathesis over every operation of /openapi.json with
1,000 examples per operation and generation mode, 0 5xx. Only with PAYREQ_FULL=1 (it takes a
long time); the normal suite runs the bounded tests/integration/test_fuzz_openapi.py."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.integration import test_fuzz_openapi
from tests.support import Harness

FULL_EXAMPLES_PER_OPERATION = 1_000


@pytest.mark.skipif(os.environ.get("PAYREQ_FULL") != "1", reason="full size only (PAYREQ_FULL=1)")
@pytest.mark.timeout(4 * 3600)
async def test_full_fuzz_never_5xx(
    harness: Harness,
    database_url: str,
    fake_stripe: str,
    smtp_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(test_fuzz_openapi, "EXAMPLES_PER_OPERATION", FULL_EXAMPLES_PER_OPERATION)
    await test_fuzz_openapi.test_fuzzed_requests_never_5xx_and_conform_to_the_schema(
        harness, database_url, fake_stripe, smtp_server
    )
