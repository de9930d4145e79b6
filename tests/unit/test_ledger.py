"""The balance as pure code: any sequence of payments, refunds, disputes and duplicates gives
the balance an independent ledger computes."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.ledger import Ledger
from workflows.types import DisputeChanged, PaymentReceived, RefundReceived

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def pay(pid: str, amount: int, status: str = "succeeded") -> PaymentReceived:
    return PaymentReceived(payment_id=pid, amount=amount, status=status, at=NOW)  # type: ignore[arg-type]


def test_payment_is_applied_once_and_excess_recorded() -> None:
    ledger = Ledger(10000)
    assert ledger.record_payment(pay("pi_1", 6000), accepting=True).applied == 6000
    assert ledger.record_payment(pay("pi_1", 6000), accepting=True).kind == "duplicate"
    out = ledger.record_payment(pay("pi_2", 6000), accepting=True)
    assert (out.applied, out.excess) == (4000, 2000)
    assert (ledger.amount_paid, ledger.amount_remaining, ledger.amount_overpaid) == (10000, 0, 2000)


def test_refund_of_the_excess_does_not_reopen_the_balance() -> None:
    ledger = Ledger(10000)
    ledger.record_payment(pay("pi_1", 12000), accepting=True)
    ledger.record_refund(
        RefundReceived(payment_id="pi_1", amount_refunded=2000, payment_amount=12000, at=NOW)
    )
    assert ledger.amount_remaining == 0
    ledger.record_refund(
        RefundReceived(payment_id="pi_1", amount_refunded=5000, payment_amount=12000, at=NOW)
    )
    assert ledger.amount_remaining == 3000


def test_refund_seen_before_its_payment_still_counts() -> None:
    ledger = Ledger(10000)
    ledger.record_refund(
        RefundReceived(payment_id="pi_1", amount_refunded=1000, payment_amount=4000, at=NOW)
    )
    ledger.record_payment(pay("pi_1", 4000), accepting=True)
    assert ledger.amount_paid == 3000


def test_pending_payment_does_not_reduce_the_balance_until_it_succeeds() -> None:
    ledger = Ledger(10000)
    assert ledger.record_payment(pay("pi_1", 4000, "pending"), accepting=True).kind == "pending"
    assert ledger.amount_remaining == 10000
    ledger.record_payment(pay("pi_1", 4000), accepting=True)
    assert ledger.amount_remaining == 6000


def test_lost_dispute_gives_the_money_back_to_the_balance() -> None:
    ledger = Ledger(10000)
    ledger.record_payment(pay("pi_1", 4000), accepting=True)
    ledger.record_dispute(
        DisputeChanged(
            payment_id="pi_1", dispute_id="dp_1", status="needs_response", closed=False, at=NOW
        )
    )
    assert ledger.payments["pi_1"].status == "disputed" and ledger.amount_paid == 4000
    ledger.record_dispute(
        DisputeChanged(payment_id="pi_1", dispute_id="dp_1", status="lost", closed=True, at=NOW)
    )
    assert ledger.amount_paid == 0
    # A late "created" after the close changes nothing.
    assert not ledger.record_dispute(
        DisputeChanged(
            payment_id="pi_1", dispute_id="dp_1", status="needs_response", closed=False, at=NOW
        )
    )


def test_payment_while_not_accepting_is_all_excess() -> None:
    ledger = Ledger(5000)
    out = ledger.record_payment(pay("pi_1", 3000), accepting=False)
    assert (out.applied, out.excess, ledger.amount_paid) == (0, 3000, 0)
    # refunded in full, but not an overpayment of the request
    assert ledger.amount_overpaid == 0 and ledger.payments["pi_1"].after_close


ops = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 9000)),
        st.tuples(st.just("refund"), st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 9000)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(requested=st.integers(1, 20000), events=ops)
def test_any_sequence_matches_an_independent_ledger(requested: int, events: list) -> None:  # type: ignore[type-arg]
    ledger = Ledger(requested)
    # The independent model: first amount seen per payment id wins, applied in arrival order.
    amounts: dict[str, int] = {}
    refunded: dict[str, int] = {}
    applied: dict[str, int] = {}
    for kind, pid, value in events:
        if kind == "pay":
            if pid in applied:
                ledger.record_payment(pay(pid, amounts[pid]), accepting=True)
                continue
            amount = amounts.setdefault(pid, value)
            paid_so_far = sum(
                max(0, applied[p] - max(0, refunded.get(p, 0) - (amounts[p] - applied[p])))
                for p in applied
            )
            applied[pid] = min(amount, max(0, requested - paid_so_far))
            ledger.record_payment(pay(pid, amount), accepting=True)
        else:
            total = amounts.setdefault(pid, max(value, 1))
            cumulative = min(value, total)
            refunded[pid] = max(refunded.get(pid, 0), cumulative)
            ledger.record_refund(
                RefundReceived(
                    payment_id=pid, amount_refunded=cumulative, payment_amount=total, at=NOW
                )
            )
    expected_paid = sum(
        max(0, applied[p] - max(0, refunded.get(p, 0) - (amounts[p] - applied[p]))) for p in applied
    )
    assert ledger.amount_paid == expected_paid
    assert ledger.amount_remaining == max(0, requested - expected_paid)
    assert ledger.amount_overpaid == sum(amounts[p] - applied[p] for p in applied)
    assert ledger.amount_remaining >= 0 and ledger.amount_paid <= requested
