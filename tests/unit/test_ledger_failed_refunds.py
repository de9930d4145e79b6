"""A refund that fails after it was made puts its money back on the balance, whatever order
Stripe's refund and failure events arrive in (both totals only grow)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from workflows.ledger import Ledger
from workflows.types import PaymentReceived, RefundReceived

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _refund(made: int, failed: int) -> RefundReceived:
    return RefundReceived(
        payment_id="pi_1", amount_refunded=made, amount_failed=failed, payment_amount=6000, at=NOW
    )


def test_a_failed_refund_restores_the_balance_in_any_order() -> None:
    events = [_refund(2000, 0), _refund(2000, 2000), _refund(3000, 2000)]
    for order in itertools.permutations(events):
        ledger = Ledger(12000)
        ledger.record_payment(
            PaymentReceived(payment_id="pi_1", amount=6000, at=NOW), accepting=True
        )
        for event in order:
            ledger.record_refund(event)
        record = ledger.payments["pi_1"]
        assert (record.net_refunded, ledger.amount_remaining) == (1000, 7000), order
