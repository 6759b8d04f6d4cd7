"""Loan repayment schedules and the split of a repayment (ตารางผ่อนชำระ). Pure.

Money is integer satang (1 baht = 100 satang); rates are `Decimal` fractions (Decimal("0.01") is 1 %),
never percentages. Every computed amount is rounded to whole satang half up (`ROUND_HALF_UP`), and the
products that are rounded (amount × rate) are computed exactly first, so nothing is rounded twice.

Dates. Installments fall monthly on the first due date's day of the month; in a month too short for it,
on that month's last day. The original day is kept for every month (Jan 31 → Feb 29 → Mar 31).

Grace. The first `grace_months` installments repay no principal, only interest; the principal is
amortised over the remaining m = term_months − grace_months installments. Refused (ValueError):
principal ≤ 0, term < 1, grace < 0, grace ≥ term, a negative (or non-finite) rate.

Flat (ดอกเบี้ยคงที่). Interest is charged on the original principal P every month, grace months
included: the total I = round_half_up(P × r × n) over the n = term_months installments, split so the
parts add up to I exactly — floor(I / n) each and the last installment takes the remainder. P is split
over the m amortising installments the same way: floor(P / m) each, the last takes the remainder.

Declining (ดอกเบี้ยลดต้นลดดอก, equal installments). Each month's interest is round_half_up(balance × r)
on the balance before that installment. Grace months pay only that interest. Over the m amortising
months the payment is A = round_half_up(P·r / (1 − (1 + r)^−m)); each installment's principal is
A − interest, and the last one's principal is whatever balance remains, so Σ principal == P exactly.
Should A's rounding repay the balance early (only with a principal of a few satang), the principal is
capped at the balance, leaving the remaining installments at zero. With r == 0 the principal is split
as for flat and there is no interest.

Repayments are applied to penalty, interest and principal in a configurable order (default penalty,
then interest, then principal), each up to what is due; anything left over is returned as unapplied.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Literal

InterestMethod = Literal["flat", "declining"]
Component = Literal["penalty", "interest", "principal"]
DEFAULT_ALLOCATION_ORDER: tuple[Component, ...] = ("penalty", "interest", "principal")

# Enough significant digits that (1 + r)^−m and the annuity division are far finer than a satang.
_PRECISION = 34


@dataclass(frozen=True)
class ScheduledInstallment:
    number: int  # 1-based
    due_on: date
    principal_satang: int
    interest_satang: int

    @property
    def total_satang(self) -> int:
        return self.principal_satang + self.interest_satang


@dataclass(frozen=True)
class Allocation:
    penalty_satang: int
    interest_satang: int
    principal_satang: int
    unapplied_satang: int  # what is left over (overpayment)


def monthly_rate(rate: Decimal, per: Literal["month", "year"]) -> Decimal:
    """The monthly rate (a fraction) for `rate` quoted per month or per year: a yearly rate is divided by
    12 without rounding to a fixed number of places (Decimal("0.12") per year → Decimal("0.01"))."""
    if not rate.is_finite() or rate < 0:
        raise ValueError(f"the rate must be a non-negative fraction, not {rate}")
    if per == "month":
        return rate
    if per == "year":
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return rate / 12
    raise ValueError(f"a rate is quoted per 'month' or per 'year', not {per!r}")


def due_dates(first_due: date, count: int) -> list[date]:
    """`count` monthly due dates from `first_due`, each on first_due's day of the month or, in a shorter
    month, on its last day. The day is clamped per month, never carried on (Jan 31 → Feb 29 → Mar 31)."""
    if count < 0:
        raise ValueError(f"the number of due dates must not be negative, not {count}")
    dates = []
    for k in range(count):
        months = first_due.month - 1 + k
        year, month = first_due.year + months // 12, months % 12 + 1
        dates.append(date(year, month, min(first_due.day, calendar.monthrange(year, month)[1])))
    return dates


def _times(amount: int, rate: Decimal) -> Decimal:
    """amount × rate exactly: the context is made wide enough for every digit, so the only rounding is
    the one to whole satang that follows."""
    with localcontext() as ctx:
        ctx.prec = len(str(abs(amount))) + len(rate.as_tuple().digits) + 2
        return Decimal(amount) * rate


def _round_half_up(x: Decimal) -> int:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _split(total: int, parts: int) -> list[int]:
    """`total` over `parts`: floor(total / parts) each, the last takes the remainder. Σ == total."""
    each = total // parts
    return [each] * (parts - 1) + [total - each * (parts - 1)]


def _annuity_payment(principal_satang: int, rate: Decimal, months: int) -> int:
    """A = round_half_up(P·r / (1 − (1 + r)^−m)) for r > 0."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return _round_half_up(Decimal(principal_satang) * rate / (1 - (1 + rate) ** -months))


def _flat(principal_satang: int, rate: Decimal, term_months: int, grace_months: int) -> list[tuple[int, int]]:
    interest = _split(_round_half_up(_times(principal_satang * term_months, rate)), term_months)
    principal = [0] * grace_months + _split(principal_satang, term_months - grace_months)
    return list(zip(principal, interest, strict=True))


def _declining(principal_satang: int, rate: Decimal, term_months: int, grace_months: int) -> list[tuple[int, int]]:
    amortising = term_months - grace_months
    if rate == 0:
        return [(0, 0)] * grace_months + [(p, 0) for p in _split(principal_satang, amortising)]
    payment = _annuity_payment(principal_satang, rate, amortising)
    rows: list[tuple[int, int]] = []
    balance = principal_satang
    for k in range(term_months):
        interest = _round_half_up(_times(balance, rate))
        if k < grace_months:
            principal = 0
        elif k == term_months - 1:
            principal = balance
        else:
            # A ≥ round_half_up(P·r) ≥ this interest, so the principal is never negative; the cap only
            # matters when A's rounding up repays a tiny principal before the last installment.
            principal = min(payment - interest, balance)
        rows.append((principal, interest))
        balance -= principal
    return rows


def build_schedule(
    principal_satang: int,
    method: InterestMethod,
    rate_per_month: Decimal,
    term_months: int,
    first_due: date,
    grace_months: int = 0,
) -> list[ScheduledInstallment]:
    """The `term_months` installments of a loan of `principal_satang` at `rate_per_month` (a fraction), the
    first due on `first_due`, by the rules in the module docstring."""
    if principal_satang <= 0:
        raise ValueError(f"the principal must be positive, not {principal_satang} satang")
    if term_months < 1:
        raise ValueError(f"the term must be at least one month, not {term_months}")
    if grace_months < 0:
        raise ValueError(f"the grace months must not be negative, not {grace_months}")
    if grace_months >= term_months:
        raise ValueError(
            f"the grace months ({grace_months}) must be fewer than the term ({term_months}) so principal is repaid"
        )
    if not rate_per_month.is_finite() or rate_per_month < 0:
        raise ValueError(f"the monthly rate must be a non-negative fraction, not {rate_per_month}")
    if method == "flat":
        rows = _flat(principal_satang, rate_per_month, term_months, grace_months)
    elif method == "declining":
        rows = _declining(principal_satang, rate_per_month, term_months, grace_months)
    else:
        raise ValueError(f"the interest method is 'flat' or 'declining', not {method!r}")
    return [
        ScheduledInstallment(number=n, due_on=on, principal_satang=p, interest_satang=i)
        for n, (on, (p, i)) in enumerate(zip(due_dates(first_due, term_months), rows, strict=True), start=1)
    ]


def allocate_payment(
    amount_satang: int, due: Mapping[Component, int], order: Sequence[Component] = DEFAULT_ALLOCATION_ORDER
) -> Allocation:
    """Apply a repayment of `amount_satang` to each component in `order`, up to what is `due` for it (a
    component missing from `due` is owed nothing); what remains is unapplied."""
    if amount_satang <= 0:
        raise ValueError(f"the payment must be positive, not {amount_satang} satang")
    if len(order) != len(DEFAULT_ALLOCATION_ORDER) or set(order) != set(DEFAULT_ALLOCATION_ORDER):
        raise ValueError(f"the order must name penalty, interest and principal once each, not {list(order)}")
    unknown = set(due) - set(DEFAULT_ALLOCATION_ORDER)
    if unknown:
        # A misspelt component would otherwise be silently treated as owing nothing.
        raise ValueError(f"unknown components due: {sorted(unknown)}")
    if any(v < 0 for v in due.values()):
        raise ValueError(f"amounts due must not be negative: {dict(due)}")
    paid: dict[Component, int] = {}
    left = amount_satang
    for component in order:
        paid[component] = min(left, due.get(component, 0))
        left -= paid[component]
    return Allocation(
        penalty_satang=paid["penalty"],
        interest_satang=paid["interest"],
        principal_satang=paid["principal"],
        unapplied_satang=left,
    )
