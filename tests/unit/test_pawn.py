"""Pawn loans (services.lending.pawn): the Act's cap and partial-month rule, the office's tiered 2025 rates,
the 4-months-30-days term, and the pledge/renew/redeem decisions. Every figure is worked in a comment."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.lending.pawn import (
    ACT_CAP,
    OFFICE_2025,
    TICKET_LIMIT_SATANG,
    PledgeTerms,
    RateBand,
    RateTable,
    Redemption,
    Renewal,
    add_months,
    exceeds_act_cap,
    interest_due,
    maturity_date,
    may_forfeit,
    monthly_interest,
    months_charged,
    pledge,
    redeem,
    renew,
    table_in_force,
)

BAHT = 100
TEN_THOUSAND = 10_000 * BAHT


# --- the Act's cap: 2 % on the first 2,000 baht, 1.25 % above (marginal) ---


def test_act_cap_ten_thousand_baht_is_140_a_month() -> None:
    # 2 % × 2,000 + 1.25 % × 8,000 = 40 + 100 = 140.00 baht
    assert monthly_interest(TEN_THOUSAND, ACT_CAP) == 140 * BAHT


def test_act_cap_all_in_the_first_band() -> None:
    # 2 % × 1,500 = 30.00 baht
    assert monthly_interest(1_500 * BAHT, ACT_CAP) == 30 * BAHT
    # 2 % × 2,000 = 40.00 baht: the bound belongs to the first band
    assert monthly_interest(2_000 * BAHT, ACT_CAP) == 40 * BAHT


def test_monthly_interest_rounds_half_up() -> None:
    # 1,000.25 baht = 100,025 satang × 2 % = 2,000.5 satang → 2,001
    assert monthly_interest(100_025, ACT_CAP) == 2_001


def test_interest_is_rounded_once_after_the_months() -> None:
    # same day: 2,000.5 satang × 0.5 month = 1,000.25 → 1,000 (rounding the month first would give 1,001)
    assert interest_due(100_025, ACT_CAP, date(2024, 1, 10), date(2024, 1, 10)) == 1_000
    # 1 month + 20 days = 2 months: 2,000.5 × 2 = 4,001 exactly; 1 month + 5 days = 1.5: 3,000.75 → 3,001
    assert interest_due(100_025, ACT_CAP, date(2024, 1, 10), date(2024, 3, 1)) == 4_001
    assert interest_due(100_025, ACT_CAP, date(2024, 1, 10), date(2024, 2, 15)) == 3_001


# --- months charged ---


def test_two_months_ten_days_is_two_and_a_half() -> None:
    # 2024-01-10 → 2024-03-10 is 2 months, + 10 days → half a month: 2.5 × 140 = 350.00 baht
    assert months_charged(date(2024, 1, 10), date(2024, 3, 20)) == Decimal("2.5")
    assert interest_due(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 3, 20)) == 350 * BAHT


def test_sixteen_days_is_a_whole_month() -> None:
    # 2 months + 16 days → 3 months: 3 × 140 = 420.00 baht
    assert months_charged(date(2024, 1, 10), date(2024, 3, 26)) == 3
    assert interest_due(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 3, 26)) == 420 * BAHT
    # 2 months + 15 days is still half: 2.5 × 140 = 350.00 baht
    assert interest_due(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 3, 25)) == 350 * BAHT


def test_month_end_arithmetic() -> None:
    # a month after 2024-01-31 is 2024-02-29 (clamped): exactly 1 month, 140.00 baht
    assert months_charged(date(2024, 1, 31), date(2024, 2, 29)) == 1
    assert interest_due(TEN_THOUSAND, ACT_CAP, date(2024, 1, 31), date(2024, 2, 29)) == 140 * BAHT
    # 2024-01-31 → 2024-02-28 is 28 days, not a month yet → counts as a whole month (16+ days)
    assert months_charged(date(2024, 1, 31), date(2024, 2, 28)) == 1
    # two months after 01-31 is 03-31, so 03-30 is 1 month (to 02-29) + 30 days → 2 months
    assert months_charged(date(2024, 1, 31), date(2024, 3, 30)) == 2
    assert months_charged(date(2024, 1, 31), date(2024, 3, 31)) == 2
    # 2024-01-31 → 2024-03-01: 1 month (02-29) + 1 day → 1.5
    assert months_charged(date(2024, 1, 31), date(2024, 3, 1)) == Decimal("1.5")


def test_same_day_is_the_minimum_half_month() -> None:
    # 0 months 0 days → minimum 0.5 month: 0.5 × 140 = 70.00 baht
    assert months_charged(date(2024, 1, 10), date(2024, 1, 10)) == Decimal("0.5")
    assert interest_due(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 1, 10)) == 70 * BAHT
    # one day → half a month, as any 1–15 days
    assert months_charged(date(2024, 1, 10), date(2024, 1, 11)) == Decimal("0.5")


def test_minimum_months_is_a_parameter_of_the_table() -> None:
    whole_month_minimum = RateTable("min-1", date(2024, 1, 1), None, "marginal", ACT_CAP.bands, Decimal(1))
    # 10 days would be half a month; the table's minimum is a whole one: 140.00 baht
    assert interest_due(TEN_THOUSAND, whole_month_minimum, date(2024, 1, 10), date(2024, 1, 20)) == 140 * BAHT
    no_minimum = RateTable("min-0", date(2024, 1, 1), None, "marginal", ACT_CAP.bands, Decimal(0))
    assert interest_due(TEN_THOUSAND, no_minimum, date(2024, 1, 10), date(2024, 1, 10)) == 0


def test_a_date_before_the_interest_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before the interest start"):
        months_charged(date(2024, 1, 10), date(2024, 1, 9))
    with pytest.raises(ValueError, match="before the interest start"):
        redeem(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 1, 9))
    with pytest.raises(ValueError, match="before the interest start"):
        renew(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2023, 12, 31))


# --- the office's 2025 tiered rates ---


@pytest.mark.parametrize(
    ("principal_baht", "monthly_baht"),
    [
        (4_000, Decimal("10.00")),  # 0.25 % × 4,000 = 10.00
        (5_000, Decimal("12.50")),  # 0.25 % × 5,000 = 12.50 (bound inclusive)
        (8_000, Decimal("60.00")),  # 0.75 % × 8,000 = 60.00
        (10_000, Decimal("75.00")),  # 0.75 % × 10,000 = 75.00
        (15_000, Decimal("150.00")),  # 1 % × 15,000 = 150.00
        (50_000, Decimal("625.00")),  # 1.25 % × 50,000 = 625.00
        (100_000, Decimal("1250.00")),  # 1.25 % × 100,000 = 1,250.00
    ],
)
def test_office_2025_tiered(principal_baht: int, monthly_baht: Decimal) -> None:
    assert monthly_interest(principal_baht * BAHT, OFFICE_2025) == int(monthly_baht * 100)


def test_office_2025_whole_principal_moves_band_at_one_satang_over() -> None:
    # 5,000.01 baht = 500,001 satang × 0.75 % = 3,750.0075 → 3,750 satang (37.50 baht), not 12.50
    assert monthly_interest(500_001, OFFICE_2025) == 3_750


@given(st.integers(min_value=1, max_value=TICKET_LIMIT_SATANG))
def test_office_2025_never_exceeds_the_act_cap(principal: int) -> None:
    assert not exceeds_act_cap(OFFICE_2025, principal)
    assert monthly_interest(principal, OFFICE_2025) <= monthly_interest(principal, ACT_CAP)


def test_a_table_above_the_cap_is_detected() -> None:
    flat_3 = RateTable("flat-3", date(2024, 1, 1), None, "tiered", (RateBand(None, Decimal("0.03")),))
    assert exceeds_act_cap(flat_3, TEN_THOUSAND)
    # flat 1.5 %: at 10,000 baht 150 > 140 exceeds; at 1,000 baht 15 < 20 does not
    flat_15 = RateTable("flat-1.5", date(2024, 1, 1), None, "tiered", (RateBand(None, Decimal("0.015")),))
    assert exceeds_act_cap(flat_15, TEN_THOUSAND)
    assert not exceeds_act_cap(flat_15, 1_000 * BAHT)
    assert not exceeds_act_cap(ACT_CAP, TEN_THOUSAND)


# --- tables in force ---


def test_table_in_force_by_date() -> None:
    tables = (ACT_CAP, OFFICE_2025)
    assert table_in_force(tables, date(2024, 12, 31)) is ACT_CAP
    assert table_in_force(tables, date(2025, 1, 1)) is OFFICE_2025
    with pytest.raises(ValueError, match="no pawn rate table is in force on 2024-12-31"):
        table_in_force((OFFICE_2025,), date(2024, 12, 31))


def test_a_promotion_overrides_for_its_window_only() -> None:
    promo = RateTable(
        "may-2025-free-to-5000",
        date(2025, 5, 1),
        date(2025, 5, 31),
        "tiered",
        (RateBand(500_000, Decimal(0)), *OFFICE_2025.bands[1:]),
    )
    tables = (OFFICE_2025, promo)
    assert table_in_force(tables, date(2025, 4, 30)) is OFFICE_2025
    assert table_in_force(tables, date(2025, 5, 1)) is promo
    assert table_in_force(tables, date(2025, 5, 31)) is promo  # effective_to is inclusive
    assert table_in_force(tables, date(2025, 6, 1)) is OFFICE_2025
    assert monthly_interest(4_000 * BAHT, promo) == 0


def test_two_tables_starting_the_same_day_are_ambiguous() -> None:
    twin = RateTable("twin", OFFICE_2025.effective_from, None, "tiered", OFFICE_2025.bands)
    with pytest.raises(ValueError, match="both take effect"):
        table_in_force((OFFICE_2025, twin), date(2025, 3, 1))


def test_malformed_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing"):
        RateTable(
            "bad", date(2024, 1, 1), None, "marginal", (RateBand(500, Decimal("0.02")), RateBand(400, Decimal(0)))
        )
    with pytest.raises(ValueError, match="only the last band"):
        RateTable(
            "bad", date(2024, 1, 1), None, "marginal", (RateBand(None, Decimal("0.02")), RateBand(400, Decimal(0)))
        )
    with pytest.raises(ValueError, match="Decimal"):
        RateTable("bad", date(2024, 1, 1), None, "tiered", (RateBand(None, 0.02),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="effective_to"):
        RateTable("bad", date(2024, 1, 1), date(2023, 1, 1), "tiered", OFFICE_2025.bands)
    bounded = RateTable("bounded", date(2024, 1, 1), None, "tiered", (RateBand(100_000, Decimal("0.01")),))
    with pytest.raises(ValueError, match="no band"):
        monthly_interest(100_001, bounded)


# --- term and forfeiture ---


def test_maturity_is_four_months_and_thirty_days() -> None:
    # 2024-01-10 + 4 months = 2024-05-10; + 30 days = 2024-06-09 (21 days to 05-31, 9 more)
    assert maturity_date(date(2024, 1, 10)) == date(2024, 6, 9)
    # 2024-10-31 + 4 months = 2025-02-28 (clamped); + 30 days = 2025-03-30 (1 to 03-01, 29 more)
    assert maturity_date(date(2024, 10, 31)) == date(2025, 3, 30)


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2024, 3, 31), -1) == date(2024, 2, 29)


def test_may_forfeit_after_maturity_and_grace() -> None:
    start = date(2024, 1, 10)  # matures 2024-06-09
    assert not may_forfeit(start, date(2024, 6, 9))
    assert may_forfeit(start, date(2024, 6, 10))
    # 60 days' grace: 2024-06-09 + 60 = 2024-08-08 (21 to 06-30, 31 to 07-31, 8 more)
    assert not may_forfeit(start, date(2024, 8, 8), grace_days=60)
    assert may_forfeit(start, date(2024, 8, 9), grace_days=60)
    with pytest.raises(ValueError, match="grace_days"):
        may_forfeit(start, date(2024, 8, 9), grace_days=-1)


# --- decisions ---


def test_pledge_under_the_act_cap() -> None:
    terms = pledge(TEN_THOUSAND, 12_000 * BAHT, date(2024, 1, 10), (ACT_CAP, OFFICE_2025))
    assert terms == PledgeTerms(
        principal_satang=TEN_THOUSAND,
        table_name="act-cap-2505",
        monthly_interest_satang=140 * BAHT,
        maturity_date=date(2024, 6, 9),
    )


def test_pledge_under_office_2025() -> None:
    # 10,000 baht under 0.75 % = 75.00 baht; 2025-03-01 + 4 months = 07-01, + 30 days = 07-31
    terms = pledge(TEN_THOUSAND, TEN_THOUSAND, date(2025, 3, 1), (ACT_CAP, OFFICE_2025))
    assert terms == PledgeTerms(TEN_THOUSAND, "office-2025", 75 * BAHT, date(2025, 7, 31))


def test_pledge_at_the_ticket_limit() -> None:
    # 100,000 baht exactly is allowed: 1.25 % = 1,250.00 baht a month
    terms = pledge(TICKET_LIMIT_SATANG, TICKET_LIMIT_SATANG, date(2025, 3, 1), (OFFICE_2025,))
    assert terms.monthly_interest_satang == 1_250 * BAHT


@pytest.mark.parametrize(
    ("principal", "appraised", "on", "message"),
    [
        (TICKET_LIMIT_SATANG + 1, 20_000_000, date(2025, 3, 1), "at most 100000.00 baht"),
        (TEN_THOUSAND + 1, TEN_THOUSAND, date(2025, 3, 1), "more than the item's appraised value"),
        (0, TEN_THOUSAND, date(2025, 3, 1), "more than zero"),
        (-1, TEN_THOUSAND, date(2025, 3, 1), "more than zero"),
        (TEN_THOUSAND, TEN_THOUSAND, date(2024, 12, 31), "no pawn rate table is in force"),
    ],
)
def test_pledge_refusals(principal: int, appraised: int, on: date, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pledge(principal, appraised, on, (OFFICE_2025,))


def test_pledge_refuses_a_table_above_the_cap() -> None:
    flat_3 = RateTable("flat-3", date(2024, 1, 1), None, "tiered", (RateBand(None, Decimal("0.03")),))
    with pytest.raises(ValueError, match="more than the Act's cap"):
        pledge(TEN_THOUSAND, TEN_THOUSAND, date(2024, 6, 1), (flat_3,))


def test_renew_restarts_interest_and_term() -> None:
    # 2024-01-10 → 2024-03-20 = 2.5 months × 140 = 350.00 baht; new term 2024-03-20 + 4 months = 07-20,
    # + 30 days = 2024-08-19 (11 to 07-31, 19 more)
    assert renew(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 3, 20)) == Renewal(
        interest_paid_satang=350 * BAHT, term_start=date(2024, 3, 20), maturity_date=date(2024, 8, 19)
    )


def test_redeem_pays_principal_and_interest() -> None:
    # 10,000 + 350 = 10,350.00 baht
    assert redeem(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 3, 20)) == Redemption(
        interest_satang=350 * BAHT, total_satang=10_350 * BAHT
    )
    # same day: 10,000 + 70 = 10,070.00 baht
    assert redeem(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 1, 10)).total_satang == 10_070 * BAHT


def test_redeem_after_a_renewal_charges_from_the_renewal() -> None:
    renewal = renew(TEN_THOUSAND, ACT_CAP, date(2024, 1, 10), date(2024, 3, 20))
    # 2024-03-20 → 2024-04-25 = 1 month + 5 days = 1.5 × 140 = 210.00 baht
    assert redeem(TEN_THOUSAND, ACT_CAP, renewal.term_start, date(2024, 4, 25)).interest_satang == 210 * BAHT


# --- properties ---

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))


@given(days, st.integers(min_value=0, max_value=2_000), st.integers(min_value=0, max_value=400))
def test_months_charged_never_falls_as_time_passes(start: date, offset: int, later: int) -> None:
    on = start + timedelta(days=offset)
    charged = months_charged(start, on)
    assert charged >= Decimal("0.5")
    assert charged % Decimal("0.5") == 0
    assert months_charged(start, on + timedelta(days=later)) >= charged


@given(days, st.integers(min_value=1, max_value=120))
def test_whole_months_by_day_of_month(start: date, months: int) -> None:
    assert months_charged(start, add_months(start, months)) == months
