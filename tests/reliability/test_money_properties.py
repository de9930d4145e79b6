"""Money properties at the workflow level: hypothesis draws sequences of payments (new,
duplicate, pending, failed), refunds (also before their payment), disputes, amount changes and
cancels; each is sent to a real PaymentRequestWorkflow on the time-skipping server with the
real worker, Postgres and localstripe. After every step the workflow's balance equals the one
an independent model of the rules computes; it never goes negative; every overpayment (and
every payment after close) is refunded through Stripe for exactly the excess.

tests/unit/test_ledger.py covers the pure ledger; this drives the workflow around it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from payreq.stripe.inbox import StripeInbox
from tests.integration.pay_helpers import intent_object, start_request, state_of
from tests.reliability.stack import size
from tests.support import Harness, create_succeeded_intent, eventually
from workflows.payment_request import PaymentRequestWorkflow
from workflows.types import (
    CancelInput,
    ChangeInput,
    DisputeChanged,
    PaymentReceived,
    PaymentStatus,
    RefundReceived,
    RequestState,
    workflow_id,
)

_Arg = TypeVar("_Arg")

REQUESTED = 10_000
AMOUNTS = (500, 2_500, 4_000, 7_000, 12_000)
CLOSED = ("paid", "cancelled")


@dataclass
class Pay:
    amount: int
    status: str = "pending"
    applied: int = 0
    excess: int = 0
    refunded: int = 0
    dispute: str = ""
    dispute_closed: bool = False

    @property
    def counted(self) -> int:
        if self.status != "succeeded" or self.dispute == "lost":
            return 0
        return max(0, self.applied - max(0, self.refunded - self.excess))


@dataclass
class Model:
    """The rules of design.md, written out again independently of workflows/ledger.py."""

    requested: int = REQUESTED
    status: str = "sent"
    payments: dict[str, Pay] = field(default_factory=dict)
    after_close: set[str] = field(default_factory=set)  # paid after close: refunded in full

    @property
    def paid(self) -> int:
        return sum(p.counted for p in self.payments.values())

    @property
    def remaining(self) -> int:
        return max(0, self.requested - self.paid)

    def settle(self) -> None:
        if self.status in ("sent", "partially_paid"):
            self.status = "partially_paid" if self.paid else "sent"

    def pay(self, pid: str, amount: int, status: str) -> None:
        known = self.payments.get(pid)
        if known and known.status == "succeeded":
            return
        if known and status != "succeeded" and known.status == status:
            return
        p = known or Pay(amount=amount)
        p.amount = amount
        p.status = status
        self.payments[pid] = p
        if status != "succeeded":
            return
        accepting = self.status not in CLOSED
        p.applied = min(amount, self.remaining) if accepting else 0
        p.excess = amount - p.applied
        if accepting and self.remaining == 0:
            self.status = "paid"
        elif accepting and p.applied:
            self.status = "partially_paid"

    def refund(self, pid: str, cumulative: int, amount: int) -> None:
        p = self.payments.setdefault(pid, Pay(amount=amount))
        if cumulative > p.refunded:
            p.refunded = cumulative
            self.settle()

    def dispute(self, pid: str, status: str, closed: bool) -> None:
        p = self.payments.setdefault(pid, Pay(amount=0))
        if p.dispute_closed and not closed:
            return
        if (p.dispute, p.dispute_closed) == (status, closed):
            return
        p.dispute, p.dispute_closed = status, closed
        self.settle()

    def change(self, amount: int) -> str | None:
        if self.status in CLOSED:
            return "RequestClosed"
        if amount < self.paid:
            return "AmountBelowPaid"
        self.requested = amount
        if self.remaining == 0:
            self.status = "paid"
        return None

    def cancel(self) -> str | None:
        if self.status in CLOSED:
            return "RequestClosed"
        self.status = "cancelled"
        return None


STEP = st.one_of(
    st.tuples(
        st.just("pay"),
        st.sampled_from(AMOUNTS),
        st.sampled_from(["succeeded"] * 3 + ["pending", "failed"]),
    ),
    st.tuples(st.just("repeat"), st.integers(0, 9), st.sampled_from(["succeeded", "pending"])),
    st.tuples(st.just("refund"), st.integers(0, 9), st.integers(1, 100)),
    st.tuples(st.just("refund_first"), st.sampled_from(AMOUNTS), st.integers(1, 100)),
    st.tuples(
        st.just("dispute"),
        st.integers(0, 9),
        st.sampled_from([("needs_response", False), ("won", True), ("lost", True)]),
    ),
    st.tuples(st.just("change"), st.sampled_from([1_000, 6_000, 9_000, 15_000]), st.none()),
    st.tuples(st.just("cancel"), st.none(), st.none()),
)


@pytest.mark.timeout(size(170, 3000))
@settings(
    max_examples=size(30, 300),
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example costs real seconds
    suppress_health_check=list(HealthCheck),
)
@given(steps=st.lists(STEP, min_size=1, max_size=size(8, 20)))
async def test_any_sequence_keeps_the_balance_a_ledger_would(
    harness: Harness, steps: list[tuple[str, object, object]]
) -> None:
    async with harness.worker():
        request_id, _ = await start_request(harness, amount=REQUESTED)
        handle = harness.client.get_workflow_handle(workflow_id(request_id))
        await eventually(lambda: _status_is(harness, request_id, "sent"), timeout=20)
        model = Model()
        ids: list[str] = []  # payment ids seen, in order
        amounts: dict[str, int] = {}
        now = datetime.now(UTC)
        for kind, a, b in steps:
            if kind == "pay" and model.status in CLOSED:
                # the workflow has completed: a payment now takes the webhook's path (the
                # inbox the Stripe webhook uses), which refunds it in full
                pid = await create_succeeded_intent(harness.stripe, int(str(a)), request_id)
                await StripeInbox(harness.client, harness.stripe).payment(
                    harness.pool,
                    _intent(pid, int(str(a)), request_id),
                    PaymentStatus.SUCCEEDED,
                    now,
                )
                model.payments[pid] = Pay(
                    amount=int(str(a)), status="succeeded", excess=int(str(a))
                )
                model.after_close.add(pid)
            elif model.status in CLOSED and kind != "change" and kind != "cancel":
                continue  # refunds and disputes of a closed request are the webhook tests' job
            elif kind == "pay":
                status = str(b)
                pid = (
                    await create_succeeded_intent(harness.stripe, int(str(a)), request_id)
                    if status == "succeeded"
                    else f"pi_{uuid.uuid4().hex[:20]}"
                )
                ids.append(pid)
                amounts[pid] = int(str(a))
                await _pay(handle, pid, int(str(a)), status, now)
                model.pay(pid, int(str(a)), status)
            elif kind == "repeat" and ids:
                pid = ids[int(str(a)) % len(ids)]
                status = str(b) if model.payments[pid].status != "failed" else "failed"
                if pid.startswith("pi_") and status == "succeeded" and not _is_real(pid):
                    status = "pending"  # only real Stripe intents may succeed (refunds)
                await _pay(handle, pid, amounts[pid], status, now)
                model.pay(pid, amounts[pid], status)
            elif kind in ("refund", "refund_first") and (ids or kind == "refund_first"):
                if kind == "refund_first":
                    pid = f"pi_{uuid.uuid4().hex[:20]}"
                    ids.append(pid)
                    amounts[pid] = int(str(a))
                else:
                    pid = ids[int(str(a)) % len(ids)]
                cumulative = max(1, amounts[pid] * int(str(b)) // 100)
                await handle.signal(
                    PaymentRequestWorkflow.refund_received,
                    RefundReceived(
                        payment_id=pid,
                        amount_refunded=cumulative,
                        payment_amount=amounts[pid],
                        at=now,
                    ),
                )
                model.refund(pid, cumulative, amounts[pid])
            elif kind == "dispute" and ids:
                pid = ids[int(str(a)) % len(ids)]
                dstatus, closed = cast(tuple[str, bool], b)
                await handle.signal(
                    PaymentRequestWorkflow.dispute_changed,
                    DisputeChanged(
                        payment_id=pid,
                        dispute_id=f"dp_{pid}",
                        status=dstatus,
                        closed=closed,
                        at=now,
                    ),
                )
                model.dispute(pid, dstatus, closed)
            elif kind == "change":
                expected_error = model.change(int(str(a)))
                await _update(
                    handle,
                    PaymentRequestWorkflow.change,
                    ChangeInput(amount=int(str(a))),
                    expected_error,
                )
            elif kind == "cancel":
                expected_error = model.cancel()
                await _update(
                    handle, PaymentRequestWorkflow.cancel, CancelInput(reason="t"), expected_error
                )
            try:
                await _agrees(harness, request_id, model)
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc} after {steps[: steps.index((kind, a, b)) + 1]}; {model}"
                ) from None
        await _overpayments_refunded(harness, request_id, model)


_REAL: set[str] = set()


def _intent(pid: str, amount: int, request_id: str) -> dict[str, object]:
    intent = intent_object(pid, amount, request_id, "")
    intent["metadata"] = {"payment_request_id": request_id}
    intent["payment_method"] = None
    return intent


def _is_real(pid: str) -> bool:
    return pid in _REAL


async def _pay(
    handle: WorkflowHandle[Any, Any], pid: str, amount: int, status: str, at: datetime
) -> None:
    if status == "succeeded":
        _REAL.add(pid)
    await handle.signal(
        PaymentRequestWorkflow.payment_received,
        PaymentReceived(payment_id=pid, amount=amount, status=PaymentStatus(status), at=at),
    )


async def _update(
    handle: WorkflowHandle[Any, Any],
    update: UpdateMethodMultiParam[[PaymentRequestWorkflow, _Arg], RequestState],
    arg: _Arg,
    expected_error: str | None,
) -> None:
    try:
        await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as exc:
        assert isinstance(exc.cause, ApplicationError), exc
        assert exc.cause.type == expected_error
        return
    except RPCError as exc:  # the workflow completed when the request closed
        assert exc.status == RPCStatusCode.NOT_FOUND and expected_error == "RequestClosed"
        return
    assert expected_error is None


async def _status_is(h: Harness, request_id: str, status: str) -> bool:
    return (await state_of(h, request_id)).status == status


async def _agrees(h: Harness, request_id: str, model: Model) -> None:
    excess = sum(p.excess for pid, p in model.payments.items() if pid not in model.after_close)
    want = (model.status, model.paid, model.remaining, excess)

    async def check() -> bool:
        s = await state_of(h, request_id)
        assert s.amount_remaining >= 0 and s.amount_paid >= 0
        return (str(s.status), s.amount_paid, s.amount_remaining, s.amount_overpaid) == want

    try:
        await eventually(check, timeout=10, interval=0.02)
    except AssertionError:
        s = await state_of(h, request_id)
        got = (str(s.status), s.amount_paid, s.amount_remaining, s.amount_overpaid)
        raise AssertionError(f"workflow {got} != model {want}") from None


async def _overpayments_refunded(h: Harness, request_id: str, model: Model) -> None:
    want = sorted((pid, p.excess) for pid, p in model.payments.items() if p.excess)

    async def refunded() -> bool:
        rows = await h.pool.fetch(
            "SELECT payment_id, amount FROM refunds WHERE payment_request_id = $1"
            " AND stripe_refund_id IS NOT NULL",
            request_id,
        )
        return sorted((r["payment_id"], r["amount"]) for r in rows) == want

    await eventually(refunded, timeout=20)
