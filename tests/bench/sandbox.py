"""The CPU each workflow runner spends creating one workflow instance: what every new run (and
every run evicted from the cache and replayed) pays before its first activation.

    python -m tests.bench.sandbox [N]

For PaymentRequestWorkflow and the two baselines' workflows, with WORKFLOW_SANDBOX's three
runners (payreq/temporal.py): "full" re-imports the workflow module and everything it imports
that is not passed through; "passthrough" passes every module through; "off" runs unsandboxed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import temporalio.converter
import temporalio.workflow
from temporalio.api.common.v1 import Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.worker._workflow_instance import WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox._runner import _fake_info

from payreq.temporal import workflow_runner
from tests.bench.bare import BareRequestWorkflow, MinimalWorkflow
from workflows.payment_request import PaymentRequestWorkflow

MODES = ("full", "passthrough", "off")


def details(cls: type) -> WorkflowInstanceDetails:
    """What the SDK's own sandbox validation builds (SandboxedWorkflowRunner.prepare_workflow)."""
    converter = temporalio.converter.DataConverter.default
    return WorkflowInstanceDetails(
        payload_converter_factory=converter._new_payload_converter,
        failure_converter_class=converter.failure_converter_class,
        interceptor_classes=[],
        defn=temporalio.workflow._Definition.must_from_class(cls),
        info=_fake_info,
        randomness_seed=-1,
        extern_functions={},
        disable_eager_activity_execution=False,
        worker_level_failure_exception_types=[],
        patch_activation_callback=None,
        last_completion_result=Payloads(),
        last_failure=Failure(),
    )


async def instance_cpu_ms(n: int) -> dict[str, Any]:
    """CPU milliseconds per instance (the mean of n, after 5 not counted), per workflow and
    runner. Instances must be made on a running event loop, as the worker makes them."""
    out: dict[str, Any] = {}
    for cls in (PaymentRequestWorkflow, BareRequestWorkflow, MinimalWorkflow):
        det = details(cls)
        row: dict[str, float] = {}
        for mode in MODES:
            runner = workflow_runner(mode)
            runner.prepare_workflow(det.defn)
            for _ in range(5):
                runner.create_instance(det)
            t0 = time.process_time()
            for _ in range(n):
                runner.create_instance(det)
            row[mode] = round((time.process_time() - t0) / n * 1000, 3)
        out[cls.__name__] = row
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(json.dumps({"instances": n, "cpu_ms_per_instance": asyncio.run(instance_cpu_ms(n))}))


if __name__ == "__main__":
    main()
