"""The annual profit allocation (การจัดสรรกำไรประจำปี). Pure.

The period's net profit is divided by the group's percentages with `Decimal`, and every division
to the satang uses the largest-remainder rule, so the parts always add up to the whole exactly:
first among the funds, then the dividend pool among members in proportion to the average sajja
savings each held over the period (the sum of month-end balances), and the borrower-rebate pool in
proportion to the loan interest each paid. A pool nobody can share (no savers, no borrowers) goes to
the reserve rather than vanishing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from libs.events.schemas.ledger import DividendPaid, DividendsAllocated, MemberProfitShare, ProfitShares
from services.ledger.domain import Group, LedgerRuleBroken, Member
from services.ledger.months import month_end, month_of, next_month

FUNDS: tuple[str, ...] = ("reserve", "dividends", "borrower_rebates", "welfare", "community", "committee")


def largest_remainder(total: int, weights: Sequence[Decimal | int]) -> list[int]:
    """Split `total` satang in proportion to `weights`: each part is floored, and the satang left over go
    one each to the parts with the largest remainders (ties: the earlier part). Σ parts == total."""
    weight_sum = sum(Decimal(w) for w in weights)
    if total < 0 or weight_sum <= 0 or any(Decimal(w) < 0 for w in weights):
        raise ValueError("a non-negative total over non-negative weights with a positive sum")
    exact = [Decimal(total) * Decimal(w) / weight_sum for w in weights]
    parts = [int(x.to_integral_value(rounding=ROUND_FLOOR)) for x in exact]
    left = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


def months_between(first: date, last: date) -> list[date]:
    months, month = [], month_of(first)
    while month <= month_of(last):
        months.append(month)
        month = next_month(month)
    return months


def savings_basis(sajja_movements: Sequence[tuple[date, int]], months: Sequence[date]) -> int:
    """Σ of the month-end sajja balances over `months`, from dated balance changes. A month ending below zero
    counts as zero: by business date a payout can come before the deposit it drew on (a back-dated entry), and a
    negative balance earns no dividend — nor may it take from the others' (found by the ledger's property test)."""
    ordered = sorted(sajja_movements)
    basis = balance = i = 0
    for month in months:
        end = month_end(month)
        while i < len(ordered) and ordered[i][0] <= end:
            balance += ordered[i][1]
            i += 1
        basis += max(balance, 0)
    return basis


@dataclass(frozen=True)
class Allocation:
    allocated: DividendsAllocated
    payments: list[DividendPaid]


def allocate_profit(
    group: Group,
    allocation_id: uuid.UUID,
    period_start: date,
    period_end: date,
    allocated_on: date,
    today: date,
    closed_accounts: Mapping[str, int],
    active_members: Sequence[Member],
    sajja_movements: Mapping[uuid.UUID, Sequence[tuple[date, int]]],
    interest_paid: Mapping[uuid.UUID, int],
    last_allocated_through: date | None,
    cash_satang: int,
    shares: ProfitShares | None = None,
    paid_into: Literal["special", "cash"] | None = None,
) -> Allocation:
    """Decide the allocation of the period `period_start`..`period_end` (whole months, all closed).
    `closed_accounts` holds each income and expense account's net credit over the period."""
    shares = shares or group.rules.profit_shares
    paid_into = paid_into or group.rules.dividends_paid_into
    percents = [getattr(shares, f) for f in FUNDS]
    if sum(percents) != 100:
        raise LedgerRuleBroken(f"the shares add up to {sum(percents)} percent, not 100", "shares")
    months = months_between(period_start, period_end)
    if period_start != month_of(period_start) or period_end != month_end(period_end) or not months:
        raise LedgerRuleBroken("the period runs from the first day of a month to the last day of one", "period_end")
    if len(months) > 12:
        raise LedgerRuleBroken("a period is at most twelve months", "period_start")
    if group.closed_through is None or month_of(period_end) > group.closed_through:
        raise LedgerRuleBroken("every month of the period must be closed first", "period_end", 409)
    if last_allocated_through is not None and period_start <= last_allocated_through:
        raise LedgerRuleBroken(f"profit up to {last_allocated_through} was allocated already", "period_start", 409)
    if allocated_on < period_end or allocated_on > today:
        raise LedgerRuleBroken("must fall after the period and not in the future", "allocated_on")
    if group.closed_through is not None and allocated_on <= month_end(group.closed_through):
        raise LedgerRuleBroken(
            f"{group.closed_through:%Y-%m} is closed; date the allocation later", "allocated_on", 409
        )
    net_profit = sum(closed_accounts.values())
    if net_profit <= 0:
        raise LedgerRuleBroken(
            f"the period's net profit is {Decimal(net_profit) / 100:.2f} baht; there is nothing to allocate", None, 409
        )

    funds = dict(zip(FUNDS, largest_remainder(net_profit, percents), strict=True))
    members = sorted(active_members, key=lambda m: m.member_id)
    basis = [savings_basis(sajja_movements.get(m.member_id, ()), months) for m in members]
    interest = [interest_paid.get(m.member_id, 0) for m in members]
    dividends = [0] * len(members)
    rebates = [0] * len(members)
    if sum(basis) > 0:
        dividends = largest_remainder(funds["dividends"], basis)
    else:
        funds["reserve"] += funds["dividends"]
        funds["dividends"] = 0
    if sum(interest) > 0:
        rebates = largest_remainder(funds["borrower_rebates"], interest)
    else:
        funds["reserve"] += funds["borrower_rebates"]
        funds["borrower_rebates"] = 0
    if paid_into == "cash" and funds["dividends"] + funds["borrower_rebates"] > cash_satang:
        raise LedgerRuleBroken(
            f"paying {Decimal(funds['dividends'] + funds['borrower_rebates']) / 100:.2f} baht in cash needs more than"
            f" the {Decimal(cash_satang) / 100:.2f} baht the group holds",
            "paid_into",
            409,
        )
    allocated = DividendsAllocated(
        group_id=group.group_id,
        allocation_id=allocation_id,
        period_start=period_start,
        period_end=period_end,
        allocated_on=allocated_on,
        net_profit_satang=net_profit,
        shares_percent=shares,
        closed_accounts=dict(closed_accounts),
        reserve_satang=funds["reserve"],
        dividends_satang=funds["dividends"],
        borrower_rebates_satang=funds["borrower_rebates"],
        welfare_satang=funds["welfare"],
        community_satang=funds["community"],
        committee_satang=funds["committee"],
        paid_into=paid_into,
        members=[
            MemberProfitShare(
                member_id=m.member_id,
                savings_basis_satang=b,
                interest_paid_satang=i,
                dividend_satang=d,
                rebate_satang=r,
            )
            for m, b, i, d, r in zip(members, basis, interest, dividends, rebates, strict=True)
        ],
    )
    payments = [
        DividendPaid(
            member_id=m.member_id,
            group_id=group.group_id,
            allocation_id=allocation_id,
            paid_on=allocated_on,
            dividend_satang=d,
            rebate_satang=r,
            paid_into=paid_into,
            balance_after_satang=m.balances["special"] + d + r if paid_into == "special" else None,
        )
        for m, d, r in zip(members, dividends, rebates, strict=True)
        if d or r
    ]
    return Allocation(allocated, payments)
