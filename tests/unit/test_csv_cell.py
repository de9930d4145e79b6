"""The CSV export's guard against formula injection: a cell a spreadsheet would run as a
formula is shown as text instead."""

from __future__ import annotations

from api.routes.payments import cell


def test_cells_that_would_run_as_formulas_are_prefixed() -> None:
    for attack in ("=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"):
        assert cell(attack) == "'" + attack
    for plain in ("visa •••• 4242", "cash", "pi_3Q0abc", "", "a=b"):
        assert cell(plain) == plain
