"""A savings group's double-entry books, derived from the ledger's events. Pure.

Every money event maps to one posting set whose debits equal its credits, so the trial balance of
any group on any date balances by construction — and a test holds each mapping to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# Chart of accounts for a savings group (ผังบัญชีกลุ่มออมทรัพย์เพื่อการผลิต).
CHART: dict[str, tuple[str, str]] = {
    "1010": ("เงินสด", "Cash"),
    "1100": ("ลูกหนี้เงินกู้", "Loans receivable"),
    "2010": ("เงินสัจจะสะสมของสมาชิก", "Members' sajja savings"),
    "2020": ("เงินฝากสัจจะพิเศษของสมาชิก", "Members' special savings"),
    "2100": ("เงินปันผลค้างจ่าย", "Dividends payable"),
    "3010": ("กองทุนสวัสดิการ", "Welfare fund"),
    "3020": ("ทุนสำรอง", "Reserve"),
    "4010": ("ค่าธรรมเนียมแรกเข้า", "Entrance fees"),
    "4020": ("รายได้ดอกเบี้ยเงินกู้", "Loan interest income"),
}
CASH, SAJJA, SPECIAL, ENTRANCE_FEES = "1010", "2010", "2020", "4010"
SAVINGS_ACCOUNT = {"sajja": SAJJA, "special": SPECIAL}

# The ledger events that move money, and the payload field holding their business date.
MONEY_EVENTS: dict[str, str] = {
    "ledger.MemberEnrolled": "joined_on",
    "ledger.SavingsDeposited": "deposited_on",
    "ledger.SavingsWithdrawn": "withdrawn_on",
    "ledger.TransactionReversed": "",  # dated by when it was recorded
    "ledger.MemberExited": "exited_on",
}


@dataclass(frozen=True)
class Posting:
    account: str
    debit_satang: int = 0
    credit_satang: int = 0


def postings(event_type: str, payload: Mapping[str, Any]) -> list[Posting]:
    """The posting set of one money event (empty for events that move no money)."""
    if event_type == "ledger.MemberEnrolled":
        fee = int(payload.get("entrance_fee_satang", 0))
        return [Posting(CASH, debit_satang=fee), Posting(ENTRANCE_FEES, credit_satang=fee)] if fee else []
    if event_type == "ledger.SavingsDeposited":
        amount = int(payload["amount_satang"])
        return [Posting(CASH, debit_satang=amount), Posting(SAVINGS_ACCOUNT[payload["account"]], credit_satang=amount)]
    if event_type == "ledger.SavingsWithdrawn":
        amount = int(payload["amount_satang"])
        return [Posting(SAVINGS_ACCOUNT[payload["account"]], debit_satang=amount), Posting(CASH, credit_satang=amount)]
    if event_type == "ledger.TransactionReversed":
        delta = int(payload["balance_delta_satang"])  # change to the member's savings balance
        savings = SAVINGS_ACCOUNT[payload["account"]]
        if delta < 0:  # a deposit undone: the savings liability falls, cash goes back
            return [Posting(savings, debit_satang=-delta), Posting(CASH, credit_satang=-delta)]
        return [Posting(CASH, debit_satang=delta), Posting(savings, credit_satang=delta)]
    if event_type == "ledger.MemberExited":
        sajja, special = int(payload["sajja_paid_out_satang"]), int(payload["special_paid_out_satang"])
        return [
            Posting(SAJJA, debit_satang=sajja),
            Posting(SPECIAL, debit_satang=special),
            Posting(CASH, credit_satang=sajja + special),
        ]
    return []


@dataclass(frozen=True)
class AccountBalance:
    account: str
    debit_satang: int
    credit_satang: int

    @property
    def balance_satang(self) -> int:
        """Debit-normal balance (assets positive; liabilities and income negative)."""
        return self.debit_satang - self.credit_satang


def trial_balance(posting_sets: Iterable[list[Posting]]) -> list[AccountBalance]:
    totals: dict[str, list[int]] = {code: [0, 0] for code in CHART}
    for posting_set in posting_sets:
        for p in posting_set:
            totals[p.account][0] += p.debit_satang
            totals[p.account][1] += p.credit_satang
    return [AccountBalance(code, debit, credit) for code, (debit, credit) in totals.items()]


def business_date(event_type: str, payload: Mapping[str, Any], recorded_on: date) -> date:
    field_name = MONEY_EVENTS.get(event_type)
    return date.fromisoformat(payload[field_name]) if field_name else recorded_on
