"""The month's collection sheet (บันทึกการรับเงินประจำเดือน): every member of the group in the month, what their
sajja commitment asks of them for it, and what they have paid in it so far. Pure.

The sheet posts nothing itself: each line the committee fills in goes in as the ordinary deposit command, with an
idempotency key made of the sheet and the line (`line_key`), so a double click, a retry or a dropped connection
returns the first answer instead of posting twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from libs.events.http import sheet_line_key
from services.ledger.domain import Member
from services.ledger.installments import commitment_due
from services.ledger.months import month_end


@dataclass(frozen=True)
class SheetLine:
    member_id: uuid.UUID
    joined_on: date
    commitment_satang: int  # the installment due for the month
    sajja_paid_satang: int  # sajja deposited in the month, reversals taken out
    special_paid_satang: int  # special deposits in the month, reversals taken out

    @property
    def sajja_to_pay_satang(self) -> int:
        return max(0, self.commitment_satang - self.sajja_paid_satang)


def sheet_lines(members: Iterable[Member], month: date) -> list[SheetLine]:
    """Every member in the group during `month` (joined by its end, not left before it began), in joining order."""
    first, last = month.replace(day=1), month_end(month)
    lines = []
    for m in members:
        if m.joined_on > last or (m.exited_on is not None and m.exited_on < first):
            continue
        special = sum(
            amount
            for tid, (kind, account, amount, on) in m.transactions.items()
            if kind == "deposit" and account == "special" and first <= on <= last and tid not in m.reversed_transactions
        )
        lines.append(
            SheetLine(m.member_id, m.joined_on, commitment_due(m, first), m.sajja_paid_by_month.get(first, 0), special)
        )
    return sorted(lines, key=lambda line: (line.joined_on, str(line.member_id)))


def line_key(group_id: uuid.UUID, month: date, member_id: uuid.UUID, account: str, round_no: int = 1) -> str:
    """The idempotency key of a member's deposit line on the sheet."""
    return sheet_line_key(group_id, month, round_no, member_id, account)
