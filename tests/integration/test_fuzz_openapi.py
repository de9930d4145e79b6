"""Property-based fuzzing of every operation in /openapi.json with schemathesis: valid and
invalid inputs, a bounded number of examples per operation, against the real app served by
uvicorn on 127.0.0.1 with the real worker, Postgres and Temporal behind it.

Asserted for every response: no 5xx, a documented status code and content type, and a body
that conforms to the documented schema."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.deps import AppDeps
from tests import support
from tests.support import Harness, free_port

EXAMPLES_PER_OPERATION = 25  # per generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(base_url: str, api_key: str) -> tuple[int, list[str]]:
    """Runs in a thread (schemathesis calls are blocking); returns (examples, failures)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    examples = 0
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    auth = {"Authorization": f"Bearer {api_key}"}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, headers=auth)

            @hypothesis.settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                nonlocal examples
                examples += 1
                response = case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=60)
                statuses[response.status_code] += 1

            try:
                run()
            except KeyboardInterrupt:
                raise
            except hypothesis.errors.Unsatisfiable:
                continue  # nothing to negate (no parameters, or unconstrained strings only)
            except BaseException as exc:  # collect every operation's failure, report them all
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
    print(f"schemathesis: responses by status {sorted(statuses.items())}")
    return examples, failures


async def test_fuzzed_requests_never_5xx_and_conform_to_the_schema(
    harness: Harness, database_url: str, fake_stripe: str, smtp_server: Any
) -> None:
    deps = AppDeps(
        settings=support.test_settings(database_url, smtp_server[1], fake_stripe),
        pool=harness.pool,
        temporal=harness.client,
        stripe=harness.stripe,
        task_queue=harness.task_queue,
    )
    app = create_app(deps=deps)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # uvicorn offers a flag, not an event
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with harness.worker():
            examples, failures = await asyncio.to_thread(
                fuzz, f"http://127.0.0.1:{port}", harness.api_key
            )
    finally:
        server.should_exit = True
        await serving
    print(f"schemathesis: {examples} fuzzed examples run")
    assert not failures, "\n\n".join(failures)  # every operation of the OpenAPI, no exceptions
    assert examples >= 200
