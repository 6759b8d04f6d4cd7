"""A savings group's double-entry books, derived from the ledger's events. Pure.

Every money event maps to one posting set whose debits equal its credits, so the trial balance of
any group on any date balances by construction — and a test holds each mapping to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# Chart of accounts for a savings group (ผังบัญชีกลุ่มออมทรัพย์เพื่อการผลิต).
CHART: dict[str, tuple[str, str]] = {
    "1010": ("เงินสด", "Cash"),
    "1020": ("เงินฝากธนาคาร", "Bank deposits"),
    "1100": ("ลูกหนี้เงินกู้", "Loans receivable"),
    "2010": ("เงินสัจจะสะสมของสมาชิก", "Members' sajja savings"),
    "2020": ("เงินฝากสัจจะพิเศษของสมาชิก", "Members' special savings"),
    "2100": ("เงินปันผลค้างจ่าย", "Dividends payable"),
    "2110": ("เงินเฉลี่ยคืนค้างจ่าย", "Borrower rebates payable"),
    "2120": ("ค่าตอบแทนกรรมการค้างจ่าย", "Committee remuneration payable"),
    "3010": ("กองทุนสวัสดิการ", "Welfare fund"),
    "3020": ("ทุนสำรอง", "Reserve"),
    "3030": ("กองทุนสาธารณประโยชน์", "Community fund"),
    "4010": ("ค่าธรรมเนียมแรกเข้า", "Entrance fees"),
    "4020": ("รายได้ดอกเบี้ยเงินกู้", "Loan interest income"),
    "4030": ("ดอกเบี้ยเงินฝากธนาคาร", "Bank interest income"),
    "4040": ("ค่าปรับเงินกู้", "Loan penalty income"),
    "4090": ("รายได้อื่น", "Other income"),
    "5010": ("ค่าใช้จ่ายดำเนินงาน", "Operating expenses"),
    "5020": ("หนี้สูญ", "Bad debts written off"),
}
CASH, SAJJA, SPECIAL, ENTRANCE_FEES, LOAN_INTEREST = "1010", "2010", "2020", "4010", "4020"
LOANS_RECEIVABLE, LOAN_PENALTIES, BAD_DEBTS = "1100", "4040", "5020"
DIVIDENDS_PAYABLE, REBATES_PAYABLE = "2100", "2110"
# The funds a profit allocation credits, by the allocation's field names.
ALLOCATION_ACCOUNTS = {
    "reserve_satang": "3020",
    "welfare_satang": "3010",
    "community_satang": "3030",
    "committee_satang": "2120",
    "dividends_satang": DIVIDENDS_PAYABLE,
    "borrower_rebates_satang": REBATES_PAYABLE,
}
# Accounts only members' own savings commands may move, so the books always reconcile with them.
MEMBER_SAVINGS_ACCOUNTS = frozenset({SAJJA, SPECIAL})
# Dividends and rebates payable are settled only by an allocation's own payments.
ALLOCATION_ONLY_ACCOUNTS = frozenset({DIVIDENDS_PAYABLE, REBATES_PAYABLE})


def is_profit_account(account: str) -> bool:
    """Income (4xxx) and expense (5xxx) accounts: closed out by the profit allocation."""
    return account[0] in "45"


SAVINGS_ACCOUNT = {"sajja": SAJJA, "special": SPECIAL}

# The memos of the postings the ledger makes for the lending service, as the journal shows them.
SYSTEM_MEMOS: dict[str, str] = {
    "loan_disbursement": "จ่ายเงินกู้ให้สมาชิก",
    "loan_repayment": "รับชำระเงินกู้",
    "loan_write_off": "ตัดหนี้สูญ",
}

# The ledger events that move money, and the payload field holding their business date.
MONEY_EVENTS: dict[str, str] = {
    "ledger.MemberEnrolled": "joined_on",
    "ledger.OpeningBalanceRecorded": "as_of",
    "ledger.OpeningLoanRecorded": "as_of",
    "ledger.SavingsDeposited": "deposited_on",
    "ledger.SavingsWithdrawn": "withdrawn_on",
    "ledger.TransactionReversed": "",  # dated by when it was recorded
    "ledger.MemberExited": "exited_on",
    "ledger.JournalEntryPosted": "posted_on",
    "ledger.DividendsAllocated": "allocated_on",
    "ledger.DividendPaid": "paid_on",
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
    if event_type in ("ledger.SavingsDeposited", "ledger.OpeningBalanceRecorded"):
        # An opening balance: the savings the group's own books held, and the cash they stood for.
        amount = int(payload["amount_satang"])
        return [Posting(CASH, debit_satang=amount), Posting(SAVINGS_ACCOUNT[payload["account"]], credit_satang=amount)]
    if event_type == "ledger.OpeningLoanRecorded":
        # A loan the group's own books held: lent out of its cash, owed back to it.
        amount = int(payload["outstanding_satang"])
        return [Posting(LOANS_RECEIVABLE, debit_satang=amount), Posting(CASH, credit_satang=amount)]
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
    if event_type == "ledger.JournalEntryPosted":
        return [
            Posting(line["account"], int(line.get("debit_satang", 0)), int(line.get("credit_satang", 0)))
            for line in payload["lines"]
        ]
    if event_type == "ledger.DividendsAllocated":
        # Close the period's income and expenses, and credit each fund its part of the profit.
        closing = [
            Posting(account, debit_satang=net) if net > 0 else Posting(account, credit_satang=-net)
            for account, net in payload["closed_accounts"].items()
            if net
        ]
        funds = [
            Posting(account, credit_satang=int(payload[f])) for f, account in ALLOCATION_ACCOUNTS.items() if payload[f]
        ]
        return closing + funds
    if event_type == "ledger.DividendPaid":
        dividend, rebate = int(payload["dividend_satang"]), int(payload["rebate_satang"])
        to = SPECIAL if payload["paid_into"] == "special" else CASH
        return [
            Posting(DIVIDENDS_PAYABLE, debit_satang=dividend),
            Posting(REBATES_PAYABLE, debit_satang=rebate),
            Posting(to, credit_satang=dividend + rebate),
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


@dataclass(frozen=True)
class StatementLine:
    account: str
    amount_satang: int  # on the side the statement shows it: assets as debits, the rest as credits


@dataclass(frozen=True)
class BalanceSheet:
    assets: list[StatementLine]
    liabilities: list[StatementLine]
    equity: list[StatementLine]
    # Income less expenses not yet closed by a profit allocation: the members' until it is allocated.
    unallocated_profit_satang: int

    @property
    def total_assets_satang(self) -> int:
        return sum(line.amount_satang for line in self.assets)

    @property
    def total_claims_satang(self) -> int:
        """Liabilities, funds and the profit not yet allocated: equal to the assets when the books balance."""
        claims = self.liabilities + self.equity
        return sum(line.amount_satang for line in claims) + self.unallocated_profit_satang


def balance_sheet(balances: Iterable[AccountBalance]) -> BalanceSheet:
    """The statement of financial position from a trial balance (งบแสดงฐานะการเงิน)."""
    assets, liabilities, equity, profit = [], [], [], 0
    for b in balances:
        kind = b.account[0]
        if kind == "1" and b.balance_satang:
            assets.append(StatementLine(b.account, b.balance_satang))
        elif kind == "2" and b.balance_satang:
            liabilities.append(StatementLine(b.account, -b.balance_satang))
        elif kind == "3" and b.balance_satang:
            equity.append(StatementLine(b.account, -b.balance_satang))
        elif kind in "45":
            profit -= b.balance_satang
    return BalanceSheet(assets, liabilities, equity, profit)


@dataclass(frozen=True)
class IncomeStatement:
    income: list[StatementLine]
    expenses: list[StatementLine]

    @property
    def net_profit_satang(self) -> int:
        return sum(line.amount_satang for line in self.income) - sum(line.amount_satang for line in self.expenses)


def income_statement(movements: Iterable[AccountBalance]) -> IncomeStatement:
    """The income statement (งบกำไรขาดทุน) from the period's movements of the income and expense accounts."""
    income = [StatementLine(m.account, m.credit_satang - m.debit_satang) for m in movements if m.account[0] == "4"]
    expenses = [StatementLine(m.account, m.debit_satang - m.credit_satang) for m in movements if m.account[0] == "5"]
    return IncomeStatement([x for x in income if x.amount_satang], [x for x in expenses if x.amount_satang])


def account_balance(account: str, posting_sets: Iterable[list[Posting]]) -> int:
    """Debit-normal balance of one account."""
    return sum(p.debit_satang - p.credit_satang for ps in posting_sets for p in ps if p.account == account)


MoneyEvent = tuple[str, Mapping[str, Any], date]  # (event type, payload, business date)


def period_profit(money: Iterable[MoneyEvent], first: date, last: date) -> dict[str, int]:
    """Each income and expense account's net credit over the period (allocations' own closing left out)."""
    net: dict[str, int] = {}
    for event_type, payload, on in money:
        if event_type == "ledger.DividendsAllocated" or not first <= on <= last:
            continue
        for p in postings(event_type, payload):
            if is_profit_account(p.account):
                net[p.account] = net.get(p.account, 0) + p.credit_satang - p.debit_satang
    return {account: amount for account, amount in sorted(net.items()) if amount}


def sajja_movements(money: Iterable[MoneyEvent]) -> dict[uuid.UUID, list[tuple[date, int]]]:
    """Each member's dated changes to sajja savings, as the books record them."""
    moves: dict[uuid.UUID, list[tuple[date, int]]] = {}
    for event_type, payload, on in money:
        member = payload.get("member_id")
        for p in postings(event_type, payload):
            if p.account == SAJJA and member:
                moves.setdefault(uuid.UUID(member), []).append((on, p.credit_satang - p.debit_satang))
    return moves


def interest_paid(money: Iterable[MoneyEvent], first: date, last: date) -> dict[uuid.UUID, int]:
    """Loan interest each member paid in the period, from journal lines that name the member."""
    paid: dict[uuid.UUID, int] = {}
    for event_type, payload, on in money:
        if event_type != "ledger.JournalEntryPosted" or not first <= on <= last:
            continue
        for line in payload["lines"]:
            if line["account"] == LOAN_INTEREST and line.get("member_id"):
                member = uuid.UUID(line["member_id"])
                paid[member] = (
                    paid.get(member, 0) + int(line.get("credit_satang", 0)) - int(line.get("debit_satang", 0))
                )
    return {m: v for m, v in paid.items() if v > 0}


def business_date(event_type: str, payload: Mapping[str, Any], recorded_on: date) -> date:
    field_name = MONEY_EVENTS.get(event_type)
    return date.fromisoformat(payload[field_name]) if field_name else recorded_on
