"""Replays the recorded histories in tests/histories with today's workflow code: a change that
would break workflows already running in production fails here. A workflow change goes behind
workflow.patched() with a new history recorded beside the old ones (README, "Shipping a
workflow change"); old histories are never re-recorded to make them pass."""

from __future__ import annotations

from collections.abc import AsyncIterator

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from payreq.codec import Keyring
from payreq.temporal import converter_for
from tests.support import HISTORIES_DIR, TEST_PAYLOAD_KEY
from workflows.payment_request import PaymentRequestWorkflow


def load_histories() -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.stem, path.read_text())
        for path in sorted(HISTORIES_DIR.glob("*.json"))
    ]


async def _each(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


async def test_recorded_histories_replay_without_nondeterminism() -> None:
    histories = load_histories()
    assert len(histories) >= 13, "the scenario histories are missing from tests/histories"
    names = {h.workflow_id for h in histories}
    # the shapes the operator's actions take (tests/workflows/test_operator_actions.py)
    assert {
        "cancelled_from_the_temporal_ui",
        "change_settles_then_receipt_from_the_main_loop",
        "receipt_gives_up_after_the_email_window",
    } <= names
    replayer = Replayer(
        workflows=[PaymentRequestWorkflow],
        data_converter=converter_for(Keyring.parse(TEST_PAYLOAD_KEY)),
    )
    results = await replayer.replay_workflows(_each(histories), raise_on_replay_failure=False)
    failures = {run_id: repr(err) for run_id, err in results.replay_failures.items()}
    assert not failures, failures
