"""The savings basis of a dividend: month-end sajja balances summed, a month below zero counting as zero."""

from __future__ import annotations

from datetime import date

from services.ledger.allocation import largest_remainder, savings_basis

MONTHS = [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]


def test_month_end_balances_are_summed() -> None:
    moves = [(date(2024, 1, 5), 10_000), (date(2024, 2, 5), 5_000)]
    assert savings_basis(moves, MONTHS) == 10_000 + 15_000 + 15_000


def test_a_month_ending_below_zero_counts_as_zero_and_the_split_still_works() -> None:
    # A payout dated in January before a deposit back-dated into February: January ends at −240.00.
    moves = [(date(2024, 1, 20), -24_000), (date(2024, 2, 3), 30_000)]
    basis = savings_basis(moves, MONTHS)
    assert basis == 0 + 6_000 + 6_000
    # Beside another member's, the dividends split without refusing a negative weight.
    assert largest_remainder(1_000, [basis, 12_000]) == [500, 500]
