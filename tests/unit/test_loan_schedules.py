"""Loan schedules and repayment allocation, pure: hand-computed tables to the satang, then properties
checked against an independent exact oracle (fractions.Fraction) rather than the module's own Decimal code."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.lending.schedules import (
    DEFAULT_ALLOCATION_ORDER,
    Allocation,
    Component,
    InterestMethod,
    ScheduledInstallment,
    allocate_payment,
    build_schedule,
    due_dates,
    monthly_rate,
)


def rows(schedule: list[ScheduledInstallment]) -> list[tuple[int, date, int, int, int]]:
    return [(i.number, i.due_on, i.principal_satang, i.interest_satang, i.total_satang) for i in schedule]


def round_half_up(x: Fraction) -> int:
    # Exact oracle for non-negative amounts: no Decimal context involved.
    return floor(x + Fraction(1, 2))


# --- Hand-computed tables --------------------------------------------------------------------------


def test_flat_schedule_matches_the_hand_computed_table() -> None:
    # P = 10,000.00 baht = 1,000,000 satang, r = 1 % a month, n = 6, no grace.
    # Interest: I = 1,000,000 × 0.01 × 6 = 60,000 → 60,000 / 6 = 10,000 each, remainder 0.
    # Principal: 1,000,000 / 6 = 166,666 r 4 → five of 166,666, the last 166,666 + 4 = 166,670.
    # Dates: the 31st, clamped per month: Feb 29 (2024 is a leap year), Apr 30, Jun 30.
    schedule = build_schedule(1_000_000, "flat", Decimal("0.01"), 6, date(2024, 1, 31))
    assert rows(schedule) == [
        (1, date(2024, 1, 31), 166_666, 10_000, 176_666),
        (2, date(2024, 2, 29), 166_666, 10_000, 176_666),
        (3, date(2024, 3, 31), 166_666, 10_000, 176_666),
        (4, date(2024, 4, 30), 166_666, 10_000, 176_666),
        (5, date(2024, 5, 31), 166_666, 10_000, 176_666),
        (6, date(2024, 6, 30), 166_670, 10_000, 176_670),
    ]
    assert sum(i.principal_satang for i in schedule) == 1_000_000
    assert sum(i.interest_satang for i in schedule) == 60_000


def test_declining_schedule_matches_the_hand_computed_table() -> None:
    # P = 1,000,000 satang, r = 0.01, m = 6.
    # 1.01^6 = 1.061520150601, so 1.01^−6 = 0.942045235254206727…
    # A = 1,000,000 × 0.01 / (1 − 0.942045235254…) = 10,000 / 0.057954764745793… = 172,548.3667… → 172,548.
    # Row by row, interest = round_half_up(balance × 0.01), principal = A − interest:
    #   1: 1,000,000 × 0.01 = 10,000.00 → 10,000; principal 162,548; balance 837,452
    #   2:   837,452 × 0.01 =  8,374.52 →  8,375; principal 164,173; balance 673,279
    #   3:   673,279 × 0.01 =  6,732.79 →  6,733; principal 165,815; balance 507,464
    #   4:   507,464 × 0.01 =  5,074.64 →  5,075; principal 167,473; balance 339,991
    #   5:   339,991 × 0.01 =  3,399.91 →  3,400; principal 169,148; balance 170,843
    #   6:   170,843 × 0.01 =  1,708.43 →  1,708; principal = the balance 170,843; total 172,551; balance 0
    schedule = build_schedule(1_000_000, "declining", Decimal("0.01"), 6, date(2024, 1, 31))
    assert rows(schedule) == [
        (1, date(2024, 1, 31), 162_548, 10_000, 172_548),
        (2, date(2024, 2, 29), 164_173, 8_375, 172_548),
        (3, date(2024, 3, 31), 165_815, 6_733, 172_548),
        (4, date(2024, 4, 30), 167_473, 5_075, 172_548),
        (5, date(2024, 5, 31), 169_148, 3_400, 172_548),
        (6, date(2024, 6, 30), 170_843, 1_708, 172_551),
    ]
    assert sum(i.principal_satang for i in schedule) == 1_000_000
    # Double-check A (the table above is the test; this only guards the working in the comment).
    a = Fraction(1_000_000) * Fraction(1, 100) / (1 - Fraction(100, 101) ** 6)
    assert round_half_up(a) == 172_548


def test_flat_schedule_with_grace() -> None:
    # P = 123,457 satang, r = 0.01, n = 4, grace 2 → m = 2 amortising installments.
    # I = round_half_up(123,457 × 0.01 × 4) = round_half_up(4,938.28) = 4,938 → 4,938 / 4 = 1,234 r 2:
    #   three of 1,234, the last 1,234 + 2 = 1,236 (grace installments pay interest too).
    # Principal: 0, 0, then 123,457 / 2 = 61,728 r 1 → 61,728 and 61,729.
    schedule = build_schedule(123_457, "flat", Decimal("0.01"), 4, date(2024, 1, 15), grace_months=2)
    assert rows(schedule) == [
        (1, date(2024, 1, 15), 0, 1_234, 1_234),
        (2, date(2024, 2, 15), 0, 1_234, 1_234),
        (3, date(2024, 3, 15), 61_728, 1_234, 62_962),
        (4, date(2024, 4, 15), 61_729, 1_236, 62_965),
    ]


def test_declining_schedule_with_grace() -> None:
    # P = 100,000 satang, r = 0.02, term 3, grace 1 → m = 2.
    #   1 (grace): interest 100,000 × 0.02 = 2,000; principal 0; balance 100,000
    # A = 2,000 / (1 − 1.02^−2) = 2,000 × 1.0404 / 0.0404 = 51,504.9504… → 51,505
    #   2: interest 2,000; principal 51,505 − 2,000 = 49,505; balance 50,495
    #   3: interest 50,495 × 0.02 = 1,009.90 → 1,010; principal = the balance 50,495; total 51,505
    schedule = build_schedule(100_000, "declining", Decimal("0.02"), 3, date(2024, 1, 15), grace_months=1)
    assert rows(schedule) == [
        (1, date(2024, 1, 15), 0, 2_000, 2_000),
        (2, date(2024, 2, 15), 49_505, 2_000, 51_505),
        (3, date(2024, 3, 15), 50_495, 1_010, 51_505),
    ]


def test_declining_at_zero_rate_splits_principal_like_flat() -> None:
    # 1,000 / 3 = 333 r 1 → 333, 333, 334; no interest.
    schedule = build_schedule(1_000, "declining", Decimal("0"), 4, date(2024, 1, 15), grace_months=1)
    assert [(i.principal_satang, i.interest_satang) for i in schedule] == [(0, 0), (333, 0), (333, 0), (334, 0)]


def test_declining_tiny_principal_never_overpays() -> None:
    # P = 6, r = 0.03, m = 8: A = 0.18 / (1 − 1.03^−8) = 0.8547… → 1, and interest on ≤ 6 satang at 3 % rounds
    # to 0, so 1 satang a month repays it after six months; the principal is capped at the balance after that.
    schedule = build_schedule(6, "declining", Decimal("0.03"), 8, date(2024, 1, 15))
    assert [(i.principal_satang, i.interest_satang) for i in schedule] == [(1, 0)] * 6 + [(0, 0)] * 2


def test_single_installment_repays_everything() -> None:
    flat = build_schedule(50_000, "flat", Decimal("0.015"), 1, date(2024, 3, 1))
    declining = build_schedule(50_000, "declining", Decimal("0.015"), 1, date(2024, 3, 1))
    assert rows(flat) == rows(declining) == [(1, date(2024, 3, 1), 50_000, 750, 50_750)]


@pytest.mark.parametrize(
    ("principal", "rate", "term", "grace", "message"),
    [
        (0, Decimal("0.01"), 6, 0, "principal"),
        (-1, Decimal("0.01"), 6, 0, "principal"),
        (1_000, Decimal("0.01"), 0, 0, "term"),
        (1_000, Decimal("0.01"), 6, -1, "grace"),
        (1_000, Decimal("0.01"), 6, 6, "grace"),
        (1_000, Decimal("0.01"), 6, 7, "grace"),
        (1_000, Decimal("-0.01"), 6, 0, "rate"),
        (1_000, Decimal("NaN"), 6, 0, "rate"),
        (1_000, Decimal("Infinity"), 6, 0, "rate"),
    ],
)
@pytest.mark.parametrize("method", ["flat", "declining"])
def test_build_schedule_refuses(
    method: InterestMethod, principal: int, rate: Decimal, term: int, grace: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_schedule(principal, method, rate, term, date(2024, 1, 1), grace_months=grace)


def test_build_schedule_refuses_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="method"):
        build_schedule(1_000, "simple", Decimal("0.01"), 6, date(2024, 1, 1))  # type: ignore[arg-type]


# --- Due dates and rates -----------------------------------------------------------------------------


def test_due_dates_keep_the_original_day_clamped_per_month() -> None:
    assert due_dates(date(2024, 1, 31), 4) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]
    assert due_dates(date(2023, 1, 31), 2) == [date(2023, 1, 31), date(2023, 2, 28)]
    assert due_dates(date(2024, 1, 30), 3) == [date(2024, 1, 30), date(2024, 2, 29), date(2024, 3, 30)]


def test_due_dates_roll_over_the_year() -> None:
    assert due_dates(date(2024, 11, 30), 4) == [
        date(2024, 11, 30),
        date(2024, 12, 30),
        date(2025, 1, 30),
        date(2025, 2, 28),
    ]
    assert due_dates(date(2024, 12, 15), 13)[-1] == date(2025, 12, 15)


def test_due_dates_count() -> None:
    assert due_dates(date(2024, 1, 1), 0) == []
    with pytest.raises(ValueError):
        due_dates(date(2024, 1, 1), -1)


def test_monthly_rate_takes_fractions() -> None:
    assert monthly_rate(Decimal("0.12"), "year") == Decimal("0.01")
    assert monthly_rate(Decimal("0.015"), "month") == Decimal("0.015")
    # Not rounded to a fixed number of places: 10 % a year is 0.8333… % a month to 34 digits.
    assert monthly_rate(Decimal("0.10"), "year") == Decimal("0.008333333333333333333333333333333333")
    assert monthly_rate(Decimal("0"), "year") == 0


def test_monthly_rate_refuses() -> None:
    with pytest.raises(ValueError):
        monthly_rate(Decimal("-0.12"), "year")
    with pytest.raises(ValueError):
        monthly_rate(Decimal("0.12"), "week")  # type: ignore[arg-type]


# --- Properties -------------------------------------------------------------------------------------

fractions_per_month = st.decimals(
    min_value=Decimal("0"), max_value=Decimal("0.03"), places=4, allow_nan=False, allow_infinity=False
)
# Yearly rates divided by 12 give long (34-digit) monthly rates, which exercise the exact products.
fractions_per_year = st.decimals(
    min_value=Decimal("0"), max_value=Decimal("0.36"), places=3, allow_nan=False, allow_infinity=False
).map(lambda r: monthly_rate(r, "year"))
loans = st.tuples(
    st.integers(min_value=1, max_value=1_000_000_000),
    st.one_of(fractions_per_month, fractions_per_year),
    st.integers(min_value=1, max_value=60),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
).flatmap(lambda t: st.tuples(st.just(t), st.integers(min_value=0, max_value=t[2] - 1)))


def check_common(schedule: list[ScheduledInstallment], principal: int, term: int, grace: int) -> None:
    assert len(schedule) == term
    assert [i.number for i in schedule] == list(range(1, term + 1))
    assert sum(i.principal_satang for i in schedule) == principal
    assert all(i.principal_satang >= 0 and i.interest_satang >= 0 for i in schedule)
    assert all(i.principal_satang == 0 for i in schedule[:grace])
    assert all(a.due_on < b.due_on for a, b in zip(schedule, schedule[1:], strict=False))


@given(loans)
def test_flat_properties(loan: tuple[tuple[int, Decimal, int, date], int]) -> None:
    (principal, rate, term, first_due), grace = loan
    schedule = build_schedule(principal, "flat", rate, term, first_due, grace)
    check_common(schedule, principal, term, grace)
    assert schedule[0].due_on == first_due
    assert sum(i.interest_satang for i in schedule) == round_half_up(principal * Fraction(rate) * term)
    # Equal parts, the rounding remainder on the last.
    assert len({i.interest_satang for i in schedule[:-1]}) <= 1
    assert len({i.principal_satang for i in schedule[grace:-1]}) <= 1


@given(loans)
def test_declining_properties(loan: tuple[tuple[int, Decimal, int, date], int]) -> None:
    (principal, rate, term, first_due), grace = loan
    schedule = build_schedule(principal, "declining", rate, term, first_due, grace)
    check_common(schedule, principal, term, grace)
    r = Fraction(rate)
    m = term - grace
    payment = round_half_up(principal * r / (1 - (1 + r) ** -m)) if r else None
    balance = principal
    for k, installment in enumerate(schedule):
        assert installment.interest_satang == round_half_up(balance * r)
        amortising_but_not_last = grace <= k < term - 1
        if payment is not None and amortising_but_not_last and installment.principal_satang < balance:
            # Equal installments until the balance runs out.
            assert installment.total_satang == payment
        balance -= installment.principal_satang
        assert balance >= 0
    assert balance == 0


# --- Repayment allocation ---------------------------------------------------------------------------

DUE: dict[Component, int] = {"penalty": 500, "interest": 3_000, "principal": 20_000}


def test_allocation_default_order_is_penalty_interest_principal() -> None:
    assert DEFAULT_ALLOCATION_ORDER == ("penalty", "interest", "principal")
    assert allocate_payment(10_000, DUE) == Allocation(500, 3_000, 6_500, 0)
    assert allocate_payment(300, DUE) == Allocation(300, 0, 0, 0)
    assert allocate_payment(2_000, DUE) == Allocation(500, 1_500, 0, 0)


def test_allocation_custom_order_principal_first() -> None:
    order: tuple[Component, ...] = ("principal", "interest", "penalty")
    assert allocate_payment(10_000, DUE, order) == Allocation(0, 0, 10_000, 0)
    assert allocate_payment(22_000, DUE, order) == Allocation(0, 2_000, 20_000, 0)
    assert allocate_payment(23_200, DUE, list(order)) == Allocation(200, 3_000, 20_000, 0)


def test_allocation_exact_payment_leaves_nothing_unapplied() -> None:
    assert allocate_payment(23_500, DUE) == Allocation(500, 3_000, 20_000, 0)


def test_allocation_overpayment_is_unapplied() -> None:
    assert allocate_payment(30_000, DUE) == Allocation(500, 3_000, 20_000, 6_500)
    assert allocate_payment(1_000, {"penalty": 0, "interest": 0, "principal": 0}) == Allocation(0, 0, 0, 1_000)


def test_allocation_treats_a_missing_component_as_owing_nothing() -> None:
    assert allocate_payment(5_000, {"interest": 1_000}) == Allocation(0, 1_000, 0, 4_000)


@pytest.mark.parametrize("amount", [0, -1])
def test_allocation_refuses_a_non_positive_amount(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        allocate_payment(amount, DUE)


def test_allocation_refuses_negative_dues() -> None:
    with pytest.raises(ValueError, match="negative"):
        allocate_payment(1_000, {"penalty": 0, "interest": -1, "principal": 100})


def test_allocation_refuses_unknown_components_due() -> None:
    with pytest.raises(ValueError, match="unknown"):
        allocate_payment(1_000, {"interests": 100})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "order",
    [
        ("interest", "interest", "principal"),
        ("penalty", "interest"),
        ("penalty", "interest", "principal", "principal"),
        ("penalty", "interest", "capital"),
        (),
    ],
)
def test_allocation_refuses_an_order_that_is_not_a_permutation(order: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="order"):
        allocate_payment(1_000, DUE, order)  # type: ignore[arg-type]


@given(
    st.integers(min_value=1, max_value=10_000_000),
    st.fixed_dictionaries(
        {
            "penalty": st.integers(min_value=0, max_value=1_000_000),
            "interest": st.integers(min_value=0, max_value=1_000_000),
            "principal": st.integers(min_value=0, max_value=10_000_000),
        }
    ),
    st.permutations(DEFAULT_ALLOCATION_ORDER),
)
def test_allocation_properties(amount: int, due: dict[Component, int], order: list[Component]) -> None:
    split = allocate_payment(amount, due, order)
    parts: dict[Component, int] = {
        "penalty": split.penalty_satang,
        "interest": split.interest_satang,
        "principal": split.principal_satang,
    }
    assert sum(parts.values()) + split.unapplied_satang == amount
    assert all(0 <= parts[c] <= due[c] for c in parts)
    # Nothing is left unapplied while something is still owed, and a later component is only paid
    # once every earlier one is paid in full.
    assert split.unapplied_satang == 0 or all(parts[c] == due[c] for c in parts)
    for earlier, later in zip(order, order[1:], strict=False):
        assert parts[later] == 0 or parts[earlier] == due[earlier]
