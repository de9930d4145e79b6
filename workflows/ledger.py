"""The balance of one request, as pure code: payments and refunds in, amounts out.

Deterministic and free of I/O, so the workflow can own it and tests can drive it with any
sequence of events. Each payment is keyed by its Stripe id (a desk payment by its off_ id),
which makes every operation idempotent; refunds are cumulative, which makes their order
irrelevant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from workflows.types import (
    ChargeStatus,
    DisputeChanged,
    PaymentReceived,
    PaymentRecord,
    PaymentStatus,
    RefundReceived,
)


@dataclass(frozen=True, kw_only=True)
class PaymentOutcome:
    kind: Literal["applied", "pending", "failed", "duplicate"]
    applied: int = 0
    excess: int = 0


class Ledger:
    def __init__(self, amount_requested: int, payments: tuple[PaymentRecord, ...] = ()) -> None:
        self.amount_requested = amount_requested
        self.payments: dict[str, PaymentRecord] = {p.payment_id: p for p in payments}

    @property
    def amount_paid(self) -> int:
        return sum(p.counted for p in self.payments.values())

    @property
    def amount_remaining(self) -> int:
        return max(0, self.amount_requested - self.amount_paid)

    @property
    def amount_overpaid(self) -> int:
        """Paid beyond the amount requested while the request was open (and refunded). A payment
        that reached a closed request is refunded in full and not counted: whether it found the
        workflow still closing or already completed must not change the request's figures."""
        return sum(p.excess for p in self.payments.values() if not p.after_close)

    def record_payment(self, event: PaymentReceived, *, accepting: bool) -> PaymentOutcome:
        """Record a PaymentIntent's state. A success is applied once, up to what remains;
        anything beyond that (or any payment once the request stopped accepting) is excess."""
        known = self.payments.get(event.payment_id)
        if known and known.charge_status == ChargeStatus.SUCCEEDED:
            return PaymentOutcome(kind="duplicate")
        base = known or PaymentRecord(payment_id=event.payment_id, amount=event.amount)
        if event.status in (PaymentStatus.PENDING, PaymentStatus.FAILED):
            status = ChargeStatus(event.status)
            if known and known.charge_status == status:
                return PaymentOutcome(kind="duplicate")
            self.payments[event.payment_id] = replace(
                base, amount=event.amount, charge_status=status, method=event.method
            )
            return PaymentOutcome(kind="pending" if status == ChargeStatus.PENDING else "failed")
        applied = min(event.amount, self.amount_remaining) if accepting else 0
        excess = event.amount - applied
        self.payments[event.payment_id] = replace(
            base,
            amount=event.amount,
            charge_status=ChargeStatus.SUCCEEDED,
            applied=applied,
            excess=excess,
            after_close=not accepting,
            method=event.method or base.method,
            paid_at=event.at,
            source=event.source,
            reference=event.reference,
        )
        return PaymentOutcome(kind="applied", applied=applied, excess=excess)

    def record_refund(self, event: RefundReceived) -> bool:
        """Apply Stripe's cumulative refunded and failed amounts; False when nothing changed."""
        known = self.payments.get(event.payment_id) or PaymentRecord(
            payment_id=event.payment_id, amount=event.payment_amount
        )
        refunded = max(known.refunded, event.amount_refunded)
        failed = max(known.refund_failed, event.amount_failed)
        if (refunded, failed) == (known.refunded, known.refund_failed):
            self.payments.setdefault(event.payment_id, known)
            return False
        self.payments[event.payment_id] = replace(known, refunded=refunded, refund_failed=failed)
        return True

    def record_dispute(self, event: DisputeChanged) -> bool:
        known = self.payments.get(event.payment_id)
        if known is None:
            known = PaymentRecord(payment_id=event.payment_id, amount=0)
        if known.dispute_closed and not event.closed:
            return False  # a late "created" after the dispute already closed
        if (known.dispute_status, known.dispute_closed) == (event.status, event.closed):
            return False
        self.payments[event.payment_id] = replace(
            known, dispute_status=event.status, dispute_closed=event.closed
        )
        return True

    def snapshot(self) -> tuple[PaymentRecord, ...]:
        return tuple(self.payments.values())
