"""Pawn loans (จำนำ) as the government pawnshop office (สำนักงานธนานุเคราะห์) makes them. Pure.

Money is integer satang; rates are `Decimal` fractions per month; an amount computed from a rate is
rounded to the whole satang half-up, once, at the end (the monthly interest times the months charged
is rounded, not the monthly interest first, so a half-month never doubles a rounding error).

The rules, and where they come from (see /work/shared/research/thai-domain.md §4 and
reference-systems.md §4):
- A pawnshop lends at most 100,000 baht per pledge (ticket): the definition of a pawnshop in the
  Pawnshop Act B.E. 2505 (พ.ร.บ.โรงรับจำนำ พ.ศ. 2505), มาตรา 4; the office's own rule is the same
  (pawn.co.th). The principal must be positive and may not exceed the appraised value of the item.
- The Act caps interest at 2 % a month on the first 2,000 baht and 1.25 % a month on the part above
  it, a marginal rule: 10,000 baht → 40 + 100 = 140 baht a month (cashexpress-pawn.com FAQ,
  memoney.co.th, pawnsh8p.com; ecosoft-odoo/pawn ships the same two bands). `ACT_CAP` is that table.
- The office charges less, by tier: the band the whole principal falls in sets one rate for all of
  it: 0.25 % up to 5,000 baht, 0.75 % to 10,000, 1 % to 20,000, 1.25 % to 100,000 (Bangkok Post,
  2025-03-16). `OFFICE_2025` is that table; a band's bound is inclusive, so 5,000.00 baht pays 0.25 %
  and 5,000.01 baht pays 0.75 % on all of it. Rates change and promotions happen (an interest-free
  measure up to 5,000 baht in 2023; municipal "first 3 months free"), so tables are data with
  validity dates, and every table must stay within the Act's cap (`exceeds_act_cap`).
- A ticket keeps the table in force on its pledge date for its whole life, renewals included: the
  rate is part of what was agreed when the item was pledged.
- Interest runs from the ticket's interest start (the pledge date, or the day interest was last paid)
  and is charged by the month: whole calendar months, counted by day of month (a month after
  2024-01-31 is 2024-02-29, the day clamped to the month's end), then the days left over: none →
  nothing more, 1–15 days → half a month, 16 days or more → a whole month (same sources; BMA
  pawnshop.bangkok.go.th "การคิดดอกเบี้ยกรณีไม่เต็มเดือน").
- Decision, not found in a source: a ticket settled on its interest start date (redeemed the day it was
  pledged) is charged the table's `minimum_months`, half a month by default, as for a day begun; more
  generally the months charged are never below `minimum_months`, so a table may set a minimum of a
  whole month.
- The term is 4 months and 30 days from the term start (the pledge date, or the day all interest due
  was last paid, which restarts the term): 4 calendar months with the day clamped to the month's end,
  then 30 days (pawnsh8p.com, TSU thesis p.41, pawn.co.th; ecosoft-odoo/pawn rule "4-30"). The
  maturity date is the last day to redeem or renew; from the day after it (plus any grace: some
  public pawnshops give 60 days, Pattaya Mail 2022) the item may be forfeited (ทรัพย์หลุด), after the
  notice of มาตรา 25. Whether it actually was is a fact the caller holds, so `redeem` and `renew` do
  not refuse a late ticket by themselves.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from libs.events.money import format_baht

TICKET_LIMIT_SATANG = 10_000_000  # 100,000 baht per ticket, Pawnshop Act มาตรา 4
TERM_MONTHS = 4
TERM_EXTRA_DAYS = 30
HALF = Decimal("0.5")


@dataclass(frozen=True)
class RateBand:
    up_to_satang: int | None  # inclusive upper bound of the band; None = no upper bound
    rate_per_month: Decimal  # a fraction: Decimal("0.02") is 2 % a month


@dataclass(frozen=True)
class RateTable:
    """A monthly interest tariff valid from `effective_from` to `effective_to` (inclusive; None = open).

    `marginal`: each band's rate applies to the part of the principal inside it (the Act's cap).
    `tiered`: the band the whole principal falls in sets one rate for all of it (the office's rates)."""

    name: str
    effective_from: date
    effective_to: date | None
    method: Literal["marginal", "tiered"]
    bands: tuple[RateBand, ...]
    minimum_months: Decimal = HALF

    def __post_init__(self) -> None:
        # Tables are configuration; a malformed one should fail when it is written, not on a ticket.
        if not self.name:
            raise ValueError("a rate table needs a name")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError(f"rate table {self.name}: effective_to is before effective_from")
        if self.method not in ("marginal", "tiered"):
            raise ValueError(f"rate table {self.name}: method must be 'marginal' or 'tiered'")
        if not self.bands:
            raise ValueError(f"rate table {self.name}: needs at least one band")
        if not isinstance(self.minimum_months, Decimal) or self.minimum_months < 0:
            raise ValueError(f"rate table {self.name}: minimum_months must be a non-negative Decimal")
        previous = 0
        for i, band in enumerate(self.bands):
            if not isinstance(band.rate_per_month, Decimal) or band.rate_per_month < 0:
                raise ValueError(f"rate table {self.name}: a band's rate must be a non-negative Decimal")
            if band.up_to_satang is None:
                if i != len(self.bands) - 1:
                    raise ValueError(f"rate table {self.name}: only the last band may be unbounded")
            elif band.up_to_satang <= previous:
                raise ValueError(f"rate table {self.name}: band bounds must be positive and increasing")
            else:
                previous = band.up_to_satang

    def in_force_on(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


ACT_CAP = RateTable(
    name="act-cap-2505",
    effective_from=date(1962, 1, 1),
    effective_to=None,
    method="marginal",
    bands=(
        RateBand(up_to_satang=200_000, rate_per_month=Decimal("0.02")),
        RateBand(up_to_satang=None, rate_per_month=Decimal("0.0125")),
    ),
)

OFFICE_2025 = RateTable(
    name="office-2025",
    effective_from=date(2025, 1, 1),
    effective_to=None,
    method="tiered",
    bands=(
        RateBand(up_to_satang=500_000, rate_per_month=Decimal("0.0025")),
        RateBand(up_to_satang=1_000_000, rate_per_month=Decimal("0.0075")),
        RateBand(up_to_satang=2_000_000, rate_per_month=Decimal("0.01")),
        # published as "to 100,000 baht"; the per-ticket limit is enforced by `pledge`, not the table
        RateBand(up_to_satang=None, rate_per_month=Decimal("0.0125")),
    ),
)


def round_satang(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def add_months(day: date, months: int) -> date:
    """`day` moved by whole calendar months, the day of month clamped to the month's end (01-31 + 1 → 02-29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def table_in_force(tables: Iterable[RateTable], on: date) -> RateTable:
    """The table valid on `on`. Where several are (a promotion laid over a standing tariff), the one that
    took effect latest wins, since it was written knowing the other; two starting the same day is a
    configuration error."""
    valid = sorted((t for t in tables if t.in_force_on(on)), key=lambda t: t.effective_from, reverse=True)
    if not valid:
        raise ValueError(f"no pawn rate table is in force on {on.isoformat()}")
    if len(valid) > 1 and valid[0].effective_from == valid[1].effective_from:
        raise ValueError(
            f"rate tables {valid[0].name} and {valid[1].name} both take effect on {valid[0].effective_from.isoformat()}"
        )
    return valid[0]


def _exact_monthly_interest(principal_satang: int, table: RateTable) -> Decimal:
    if principal_satang <= 0:
        raise ValueError("the principal must be more than zero")
    if table.method == "tiered":
        for band in table.bands:
            if band.up_to_satang is None or principal_satang <= band.up_to_satang:
                return Decimal(principal_satang) * band.rate_per_month
        raise ValueError(f"rate table {table.name} has no band for {format_satang(principal_satang)} baht")
    interest, lower = Decimal(0), 0
    for band in table.bands:
        upper = principal_satang if band.up_to_satang is None else min(principal_satang, band.up_to_satang)
        if upper > lower:
            interest += Decimal(upper - lower) * band.rate_per_month
        if band.up_to_satang is None or principal_satang <= band.up_to_satang:
            return interest
        lower = band.up_to_satang
    raise ValueError(f"rate table {table.name} has no band for {format_satang(principal_satang)} baht")


def monthly_interest(principal_satang: int, table: RateTable) -> int:
    """One full month's interest on the principal, in satang, rounded half-up."""
    return round_satang(_exact_monthly_interest(principal_satang, table))


def exceeds_act_cap(table: RateTable, principal_satang: int) -> bool:
    """Whether `table` would charge more for a month than the Act allows on this principal. Compared
    before rounding, so a table within the cap stays within it after rounding too."""
    return _exact_monthly_interest(principal_satang, table) > _exact_monthly_interest(principal_satang, ACT_CAP)


def months_charged(interest_from: date, on: date, minimum_months: Decimal = HALF) -> Decimal:
    """Months of interest owed from `interest_from` to `on`: whole calendar months, then 1–15 days left
    over count half a month and 16 or more a whole one; never below `minimum_months`."""
    if on < interest_from:
        raise ValueError(f"{on.isoformat()} is before the interest start date {interest_from.isoformat()}")
    whole = (on.year - interest_from.year) * 12 + on.month - interest_from.month
    if add_months(interest_from, whole) > on:
        whole -= 1
    days = (on - add_months(interest_from, whole)).days
    months = Decimal(whole) + (0 if days == 0 else HALF if days <= 15 else 1)
    return max(months, minimum_months)


def interest_due(principal_satang: int, table: RateTable, interest_from: date, on: date) -> int:
    """Interest owed on `on` for the months charged since `interest_from`, rounded half-up once."""
    months = months_charged(interest_from, on, table.minimum_months)
    return round_satang(_exact_monthly_interest(principal_satang, table) * months)


def maturity_date(term_start: date) -> date:
    """The last day of the term: 4 calendar months after the term start, then 30 days."""
    return add_months(term_start, TERM_MONTHS) + timedelta(days=TERM_EXTRA_DAYS)


def may_forfeit(term_start: date, on: date, grace_days: int = 0) -> bool:
    """Whether on `on` the item may be forfeited: the term and any grace have run out (the maturity
    date itself is still within the term)."""
    if grace_days < 0:
        raise ValueError("grace_days may not be negative")
    return on > maturity_date(term_start) + timedelta(days=grace_days)


def format_satang(satang: int) -> str:
    """Baht as the API writes them ("100000.00"), so a message quotes a figure the way it is sent."""
    return format_baht(satang)


@dataclass(frozen=True)
class PledgeTerms:
    principal_satang: int
    table_name: str
    monthly_interest_satang: int
    maturity_date: date


@dataclass(frozen=True)
class Renewal:
    interest_paid_satang: int
    term_start: date  # also the new interest start date
    maturity_date: date


@dataclass(frozen=True)
class Redemption:
    interest_satang: int
    total_satang: int  # principal + interest


def pledge(
    principal_satang: int, appraised_value_satang: int, pledged_on: date, tables: Iterable[RateTable]
) -> PledgeTerms:
    """Decide a new ticket's terms, under the table in force on the pledge date."""
    if principal_satang <= 0:
        raise ValueError("the principal must be more than zero")
    if principal_satang > TICKET_LIMIT_SATANG:
        raise ValueError(
            f"a ticket lends at most {format_satang(TICKET_LIMIT_SATANG)} baht (Pawnshop Act มาตรา 4);"
            f" {format_satang(principal_satang)} baht asked"
        )
    if principal_satang > appraised_value_satang:
        raise ValueError(
            f"the principal {format_satang(principal_satang)} baht is more than the item's appraised value"
            f" {format_satang(appraised_value_satang)} baht"
        )
    table = table_in_force(tables, pledged_on)
    if exceeds_act_cap(table, principal_satang):
        raise ValueError(
            f"rate table {table.name} charges more than the Act's cap on {format_satang(principal_satang)} baht"
        )
    return PledgeTerms(
        principal_satang=principal_satang,
        table_name=table.name,
        monthly_interest_satang=monthly_interest(principal_satang, table),
        maturity_date=maturity_date(pledged_on),
    )


def renew(principal_satang: int, table: RateTable, interest_from: date, paid_on: date) -> Renewal:
    """Pay all the interest due (ต่อดอก): the interest start and the term restart on the day paid."""
    return Renewal(
        interest_paid_satang=interest_due(principal_satang, table, interest_from, paid_on),
        term_start=paid_on,
        maturity_date=maturity_date(paid_on),
    )


def redeem(principal_satang: int, table: RateTable, interest_from: date, redeemed_on: date) -> Redemption:
    """Redeem (ไถ่ถอน): the principal back with the interest due."""
    interest = interest_due(principal_satang, table, interest_from, redeemed_on)
    return Redemption(interest_satang=interest, total_satang=principal_satang + interest)
