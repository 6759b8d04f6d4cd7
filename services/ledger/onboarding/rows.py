"""What an onboarding file holds, once read and checked: typed rows, and the problems of the rows refused.

Money is integer satang, dates are Common Era `date`s (the file may give Buddhist Era years), codes are the
DOPA codes as text. A row's `row` is its 1-based row number in its sheet (as a spreadsheet program shows it),
so a problem and a row can be found in the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

SheetKey = Literal["groups", "members", "deposits", "loans"]


@dataclass(frozen=True)
class GroupRow:
    sheet_row: int
    # The group's code in the file (the committee's or the department's registration number): with the
    # district code it names the group for every later import of the same group.
    group_code: str
    name: str
    province_code: str
    district_code: str
    subdistrict_code: str | None
    village: str | None
    founded_on: date
    # Balances in the members sheet are as of this day; the deposits sheet holds what came after it.
    opening_on: date
    share_value_satang: int
    min_monthly_commitment_satang: int
    max_monthly_commitment_satang: int
    collection_day: int


@dataclass(frozen=True)
class MemberRow:
    sheet_row: int
    group_code: str
    national_id: str  # 13 ASCII digits, check digit verified
    full_name: str
    joined_on: date
    monthly_commitment_satang: int  # the commitment in force on the opening day
    opening_sajja_satang: int
    opening_special_satang: int
    phone: str | None


@dataclass(frozen=True)
class DepositRow:
    sheet_row: int
    group_code: str
    national_id: str
    deposited_on: date
    account: Literal["sajja", "special"]
    amount_satang: int


@dataclass(frozen=True)
class LoanRow:
    """A loan outstanding on the group's opening day, with what is left of it: it comes in as an open loan
    whose remaining installments are built from `outstanding_satang` by the loan's own terms, monthly from
    `next_due_on`."""

    sheet_row: int
    group_code: str
    national_id: str
    # The group's contract number: with the group, it names the loan for every later import.
    contract_no: str
    disbursed_on: date
    principal_satang: int  # as lent
    outstanding_satang: int  # principal still owed on the opening day (0 < outstanding <= principal)
    interest_method: Literal["flat", "declining"]
    rate_per_month: Decimal  # a fraction (0.01 = 1 % a month), at most lending's MAX_RATE_PER_MONTH
    installments_left: int
    next_due_on: date  # after the opening day


@dataclass(frozen=True)
class RowProblem:
    """One refused cell (or row, when `field` is None): where it is and why, in Thai and English."""

    file: str
    sheet: str  # the sheet's name as in the file (Thai), or the CSV file's name
    row: int
    field: str | None  # the column's heading as in the file
    reason_th: str
    reason_en: str
    group_code: str | None = None  # the group the row belongs to, when known
    column: int | None = None  # 1-based column of the cell, when known (for marking it in the report)


@dataclass
class ImportFile:
    """Everything read from one file: the rows that passed every check, and the problems of those that did not.
    A row refused leaves its group with a problem: `groups_with_problems` names them, so an import of the good
    groups alone can leave those out whole."""

    name: str
    groups: list[GroupRow] = field(default_factory=list)
    members: list[MemberRow] = field(default_factory=list)
    deposits: list[DepositRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    loans: list[LoanRow] = field(default_factory=list)

    @property
    def groups_with_problems(self) -> set[str]:
        return {p.group_code for p in self.problems if p.group_code is not None}
