"""Monthly sajja installments: what each member owes per month, and the group's month-end close. Pure.

A member owes the commitment in force for a month from the month they join until the month before
they leave. An installment is paid by sajja deposits dated in its month (net of reversals); a closed
month's verdict is final — paying arrears later adds savings but does not rewrite the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from libs.events.schemas.ledger import InstallmentMissed, MonthClosed
from services.ledger.domain import Group, LedgerRuleBroken, Member
from services.ledger.months import month_end, month_of, next_month


def commitment_due(member: Member, month: date) -> int:
    """The installment the member owes for `month` (0 when not a member for that month)."""
    if member.joined_on > month_end(month):
        return 0
    if member.exited_on is not None and member.exited_on <= month_end(month):
        return 0
    due = 0
    for effective_month, satang in member.commitments:
        if effective_month <= month:
            due = satang
    return due


InstallmentStatus = Literal["met", "missed", "open", "upcoming"]


@dataclass(frozen=True)
class Installment:
    month: date
    due_satang: int
    paid_satang: int
    status: InstallmentStatus


def schedule(member: Member, first: date, last: date, closed_through: date | None, today: date) -> list[Installment]:
    """The member's installments from month `first` to month `last`: closed months with their verdict,
    the running (or unclosed) months with what is paid so far, and future months as upcoming."""
    missed = {m for m, _, _ in member.missed_installments}
    lines = []
    month = month_of(first)
    while month <= month_of(last):
        due = commitment_due(member, month)
        if due:
            paid = member.sajja_paid_by_month.get(month, 0)
            status: InstallmentStatus
            if closed_through is not None and month <= closed_through:
                status = "missed" if month in missed else "met"
            elif month > month_of(today):
                status = "upcoming"
            else:
                status = "open"
            lines.append(Installment(month, due, paid, status))
        month = next_month(month)
    return lines


def close_month(
    group: Group, members: Iterable[Member], month: date, today: date
) -> tuple[MonthClosed, list[InstallmentMissed]]:
    """Close `month` for the group: an `InstallmentMissed` for each member who paid less than was due."""
    if month != month_of(month):
        raise LedgerRuleBroken("must be the first day of a month (YYYY-MM-01)", "month")
    if month_end(month) >= today:
        raise LedgerRuleBroken(f"{month:%Y-%m} has not ended yet", "month", 409)
    if group.closed_through is None:
        if month < month_of(group.founded_on):
            raise LedgerRuleBroken(f"the group was founded on {group.founded_on}", "month")
    elif month <= group.closed_through:
        raise LedgerRuleBroken(f"{month:%Y-%m} is closed already", "month", 409)
    elif month != next_month(group.closed_through):
        raise LedgerRuleBroken(
            f"months close in order: {next_month(group.closed_through):%Y-%m} must be closed first", "month", 409
        )
    missed: list[InstallmentMissed] = []
    members_due = due_total = paid_total = 0
    for member in members:
        due = commitment_due(member, month)
        if not due:
            continue
        paid = member.sajja_paid_by_month.get(month, 0)
        members_due += 1
        due_total += due
        paid_total += min(paid, due)
        if paid < due:
            missed.append(
                InstallmentMissed(
                    member_id=member.member_id, group_id=group.group_id, month=month, due_satang=due, paid_satang=paid
                )
            )
    closed = MonthClosed(
        group_id=group.group_id,
        month=month,
        members_due=members_due,
        members_missed=len(missed),
        due_satang=due_total,
        paid_satang=paid_total,
    )
    return closed, missed
