"""The currencies payments can be made in, with Stripe's rules for each (pure: no I/O, so the
API and the workflow both use it). Source: docs.stripe.com/currencies, "Supported presentment
currencies", "Zero-decimal currencies", "Three-decimal currencies" and "Minimum and maximum
charge amounts".

A currency is accepted only when its minimum charge is known here: Stripe refuses a charge
below the minimum, and a request that can never be paid by card must fail at create, not on
the pay page. The minimums are Stripe's published ones for its settlement currencies. The
three-decimal currencies have none published (Stripe converts to the settlement currency and
applies its minimum): theirs are set at or above the equivalent of USD 0.50, rounded up to a
multiple of 10 as those currencies require. To accept another currency, add it with its
minimum charge in minor units. HUF is left out on purpose: Stripe counts it in two decimals
while every display here (babel, CLDR) shows it with none, so an amount would read 100 times
too large (tests/unit/test_currencies.py checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Currency:
    code: str
    decimals: int  # digits after the point: amounts are in 10**-decimals units
    minimum: int  # Stripe's minimum charge, minor units
    step: int = 1  # every amount must be a multiple of this (10 for three-decimal currencies)


_TWO_DECIMAL_MINIMUMS = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "inr": 50,
    "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300,
    "sgd": 50, "thb": 1000,
}  # fmt: skip
_ZERO_DECIMAL_MINIMUMS = {"jpy": 50}
# Stripe: three-decimal amounts must end in 0 (its partners' rule), e.g. 5.124 KWD is refused.
_THREE_DECIMAL_MINIMUMS = {"bhd": 200, "jod": 400, "kwd": 200, "omr": 200, "tnd": 2000}

CURRENCIES: dict[str, Currency] = {
    **{c: Currency(c, 2, m) for c, m in _TWO_DECIMAL_MINIMUMS.items()},
    **{c: Currency(c, 0, m) for c, m in _ZERO_DECIMAL_MINIMUMS.items()},
    **{c: Currency(c, 3, m, step=10) for c, m in _THREE_DECIMAL_MINIMUMS.items()},
}


def currency(code: str) -> Currency | None:
    return CURRENCIES.get(code)


def minimum_charge(code: str) -> int:
    """The smallest amount Stripe charges in `code` (an unknown code: no amount is enough)."""
    found = CURRENCIES.get(code)
    return found.minimum if found else 2**63 - 1


def amount_problem(code: str, amount: int) -> str | None:
    """Why Stripe would refuse to charge `amount` in `code`, or None."""
    found = CURRENCIES.get(code)
    if found is None:
        return f"{code} is not a currency payments can be made in"
    if amount < found.minimum:
        return f"below the minimum charge of {found.minimum} minor units of {code}"
    if amount % found.step:
        return f"{code} amounts must be a multiple of {found.step} minor units"
    return None


def leaves_unpayable_remainder(code: str, remaining: int, amount: int) -> bool:
    """Paying `amount` of `remaining` would leave more than 0 but less than Stripe charges."""
    left = remaining - amount
    return 0 < left < minimum_charge(code)
