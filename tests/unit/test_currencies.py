"""The currency table: Stripe's decimal rules agree with how amounts are displayed (babel's
ISO 4217 precision), and the minimums and steps are what Stripe enforces."""

from __future__ import annotations

from babel.numbers import get_currency_precision

from workflows.currencies import (
    CURRENCIES,
    amount_problem,
    leaves_unpayable_remainder,
    minimum_charge,
)


def test_every_currency_displays_with_the_decimals_stripe_counts_in() -> None:
    for code, c in CURRENCIES.items():
        assert get_currency_precision(code.upper()) == c.decimals, code
        assert c.minimum % c.step == 0, code


def test_zero_and_three_decimal_rules() -> None:
    assert CURRENCIES["jpy"].decimals == 0 and minimum_charge("jpy") == 50
    for code in ("bhd", "jod", "kwd", "omr", "tnd"):
        assert CURRENCIES[code].decimals == 3 and CURRENCIES[code].step == 10
    assert amount_problem("kwd", 5124) == "kwd amounts must be a multiple of 10 minor units"
    assert amount_problem("kwd", 5120) is None
    assert amount_problem("usd", 49) is not None and amount_problem("usd", 50) is None
    assert amount_problem("xau", 10_000) is not None


def test_a_remainder_below_the_minimum_is_unpayable() -> None:
    assert leaves_unpayable_remainder("usd", 10_000, 9_970)  # 0.30 left
    assert not leaves_unpayable_remainder("usd", 10_000, 10_000)  # nothing left
    assert not leaves_unpayable_remainder("usd", 10_000, 9_950)  # 0.50 left
    assert leaves_unpayable_remainder("gbp", 1_000, 971) and not leaves_unpayable_remainder(
        "gbp", 1_000, 970
    )
