"""Events of the ledger service (topic sajja.ledger.v1). Personal data never appears here (DESIGN §3)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY
from libs.events.schemas.free_text import inline_text_stays

SavingsAccount = Literal["sajja", "special"]


class ProfitShares(EventPayload):
    """How a year's net profit is divided, in percent (adding up to 100). Defaults follow a common
    pattern in CDD savings-group rules; each group sets its own at its annual meeting."""

    reserve: Decimal = Field(default=Decimal(10), ge=0, le=100, decimal_places=2)
    dividends: Decimal = Field(default=Decimal(60), ge=0, le=100, decimal_places=2)
    borrower_rebates: Decimal = Field(default=Decimal(10), ge=0, le=100, decimal_places=2)
    welfare: Decimal = Field(default=Decimal(10), ge=0, le=100, decimal_places=2)
    community: Decimal = Field(default=Decimal(5), ge=0, le=100, decimal_places=2)
    committee: Decimal = Field(default=Decimal(5), ge=0, le=100, decimal_places=2)


class GroupRules(EventPayload):
    """A group's own rules, as data. Defaults follow common practice in CDD savings groups."""

    # Commitments are whole shares ("หุ้น") of this value, commonly 50 baht.
    share_value_satang: int = Field(default=5_000, gt=0)
    min_monthly_commitment_satang: int = Field(default=5_000, gt=0)
    max_monthly_commitment_satang: int = Field(default=500_000, gt=0)
    entrance_fee_satang: int = Field(default=0, ge=0)
    collection_day: int = Field(default=5, ge=1, le=28)
    # Sajja savings are normally returned only when a member leaves.
    sajja_withdrawable_before_exit: bool = False
    special_withdrawals_allowed: bool = True
    profit_shares: ProfitShares = Field(default_factory=ProfitShares)
    # Where members' dividends and borrower rebates go: their special savings, or cash in hand.
    dividends_paid_into: Literal["special", "cash"] = "special"


@REGISTRY.register("ledger.GroupRegistered", 1)
class GroupRegistered(EventPayload):
    group_id: uuid.UUID
    name: str
    province_code: str = Field(pattern=r"^\d{2}$")
    district_code: str = Field(pattern=r"^\d{4}$")
    subdistrict_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    village: str | None = None
    founded_on: date
    rules: GroupRules = Field(default_factory=GroupRules)


@REGISTRY.register("ledger.MemberEnrolled", 1)
class MemberEnrolled(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    joined_on: date
    monthly_commitment_satang: int = Field(ge=0)
    # Keyed hash of the national ID: lets duplicates be caught without the ID itself leaving the register.
    national_id_hash: str
    # The group's entrance fee, paid on enrolment (group income).
    entrance_fee_satang: int = Field(default=0, ge=0)


@REGISTRY.register("ledger.SavingsDeposited", 1)
class SavingsDeposited(EventPayload):
    transaction_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    deposited_on: date
    balance_after_satang: int


@REGISTRY.register("ledger.CommitmentChanged", 1)
class CommitmentChanged(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    previous_monthly_commitment_satang: int = Field(ge=0)
    monthly_commitment_satang: int = Field(gt=0)
    # First day of the month from which the new commitment is due.
    effective_month: date


@REGISTRY.register("ledger.SavingsWithdrawn", 1)
class SavingsWithdrawn(EventPayload):
    transaction_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    withdrawn_on: date
    balance_after_satang: int = Field(ge=0)


PartnerSlug = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")


@REGISTRY.register("ledger.ConsentGranted", 1)
class ConsentGranted(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    partner: str = PartnerSlug
    purpose: str = PartnerSlug
    # The version of the notice the member was shown (PDPA: consent is to a specific notice).
    notice_version: str = Field(min_length=1, max_length=40)


@REGISTRY.register("ledger.ConsentWithdrawn", 1)
class ConsentWithdrawn(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    partner: str = PartnerSlug
    purpose: str = PartnerSlug


@REGISTRY.register("ledger.MemberExited", 1)
class MemberExitedV1(EventPayload):
    """The member leaves: both balances are paid out and the membership closes."""

    model_config = ConfigDict(title="MemberExited")

    member_id: uuid.UUID
    group_id: uuid.UUID
    exited_on: date
    sajja_paid_out_satang: int = Field(ge=0)
    special_paid_out_satang: int = Field(ge=0)
    reason: str | None = Field(default=None, max_length=500)


@REGISTRY.register("ledger.MemberExited", 2)
class MemberExited(EventPayload):
    """The member leaves: both balances are paid out and the membership closes. v2: the reason, typed by a
    person, is in the ledger's free-text register (libs/events/free_text.py); the event carries its id."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    exited_on: date
    sajja_paid_out_satang: int = Field(ge=0)
    special_paid_out_satang: int = Field(ge=0)
    reason_ref: uuid.UUID | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reason: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("ledger.MemberExited", 1)(inline_text_stays)


@REGISTRY.register("ledger.TransactionReversed", 1)
class TransactionReversedV1(EventPayload):
    """A correction: the named deposit or withdrawal is undone. Nothing is edited in place."""

    model_config = ConfigDict(title="TransactionReversed")

    member_id: uuid.UUID
    group_id: uuid.UUID
    transaction_id: uuid.UUID
    reversed_kind: Literal["deposit", "withdrawal"]
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    # The change to the account's balance: minus a reversed deposit, plus a reversed withdrawal.
    balance_delta_satang: int
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.register("ledger.TransactionReversed", 2)
class TransactionReversed(EventPayload):
    """A correction: the named deposit or withdrawal is undone. Nothing is edited in place. v2: the reason is
    in the ledger's free-text register; the event carries its id."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    transaction_id: uuid.UUID
    reversed_kind: Literal["deposit", "withdrawal"]
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    # The change to the account's balance: minus a reversed deposit, plus a reversed withdrawal.
    balance_delta_satang: int
    reason_ref: uuid.UUID | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reason: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("ledger.TransactionReversed", 1)(inline_text_stays)


@REGISTRY.register("ledger.MemberDataErased", 1)
class MemberDataErased(EventPayload):
    """The member's personal data was erased from the register (PDPA). The books stay whole."""

    member_id: uuid.UUID
    group_id: uuid.UUID


@REGISTRY.register("ledger.GroupOnboarded", 1)
class GroupOnboarded(EventPayload):
    """A group brought in from its own books (an import): its members' savings on `opening_on` come in as
    opening balances, and entries dated on or before that day are refused (the group's own books hold them),
    as if every month through it were closed."""

    group_id: uuid.UUID
    opening_on: date


@REGISTRY.register("ledger.OpeningBalanceRecorded", 1)
class OpeningBalanceRecorded(EventPayload):
    """A member's savings carried over from the group's own books, as they stood at the end of `as_of`."""

    transaction_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    as_of: date


@REGISTRY.register("ledger.OpeningLoanRecorded", 1)
class OpeningLoanRecorded(EventPayload):
    """A member's loan outstanding in the group's own books on `as_of` (an import): the group's loans receivable
    and the cash lent out of it. Lending carries the loan on (lending.LoanOpened, the same loan id)."""

    loan_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    outstanding_satang: int = Field(gt=0)
    as_of: date


@REGISTRY.register("ledger.InstallmentMissed", 1)
class InstallmentMissed(EventPayload):
    """Recorded by the month-end close: the member's sajja deposits dated in `month` fell short of the
    commitment due for it."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    # First day of the month the installment was due in.
    month: date
    due_satang: int = Field(gt=0)
    paid_satang: int = Field(ge=0)


@REGISTRY.register("ledger.MonthClosed", 1)
class MonthClosed(EventPayload):
    """The group closed a month: entries dated in it (or earlier) are refused from now on."""

    group_id: uuid.UUID
    month: date
    members_due: int = Field(ge=0)
    members_missed: int = Field(ge=0)
    due_satang: int = Field(ge=0)
    paid_satang: int = Field(ge=0)


class JournalLine(EventPayload):
    account: str = Field(pattern=r"^\d{4}$")
    debit_satang: int = Field(default=0, ge=0)
    credit_satang: int = Field(default=0, ge=0)
    # The member a line concerns, where one does (e.g. a borrower's interest).
    member_id: uuid.UUID | None = None


@REGISTRY.register("ledger.JournalEntryPosted", 1)
class JournalEntryPostedV1(EventPayload):
    """A posting to the group's books not made through a member's savings (bank interest, expenses,
    and later the lending service's disbursements and repayments). Its lines sum to zero."""

    model_config = ConfigDict(title="JournalEntryPosted")

    group_id: uuid.UUID
    entry_id: uuid.UUID
    posted_on: date
    memo: str = Field(min_length=1, max_length=500)
    lines: list[JournalLine] = Field(min_length=2)
    # Where it came from, for postings other services request (e.g. "lending:loan-…").
    source: str | None = Field(default=None, max_length=200)
    # The requesting event's id, for postings other services request: each is posted once.
    request_id: uuid.UUID | None = None


# The memos of the postings the ledger makes for the lending service (a closed vocabulary).
SystemMemo = Literal["loan_disbursement", "loan_repayment", "loan_write_off"]


@REGISTRY.register("ledger.JournalEntryPosted", 2)
class JournalEntryPosted(EventPayload):
    """A posting to the group's books not made through a member's savings (bank interest, expenses, the
    lending service's disbursements and repayments). Its lines sum to zero. v2: an officer's memo is in
    the ledger's free-text register (`memo_ref`); the ledger's own postings name theirs by `memo_code`."""

    group_id: uuid.UUID
    entry_id: uuid.UUID
    posted_on: date
    memo_ref: uuid.UUID | None = None
    memo_code: SystemMemo | None = None
    lines: list[JournalLine] = Field(min_length=2)
    # Where it came from, for postings other services request (e.g. "lending:loan-…").
    source: str | None = Field(default=None, max_length=200)
    # The requesting event's id, for postings other services request: each is posted once.
    request_id: uuid.UUID | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    memo: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("ledger.JournalEntryPosted", 1)(inline_text_stays)


class MemberProfitShare(EventPayload):
    member_id: uuid.UUID
    # Sum of the member's month-end sajja balances over the period (the average times the months).
    savings_basis_satang: int = Field(ge=0)
    interest_paid_satang: int = Field(ge=0)
    dividend_satang: int = Field(ge=0)
    rebate_satang: int = Field(ge=0)


@REGISTRY.register("ledger.DividendsAllocated", 1)
class DividendsAllocated(EventPayload):
    """The annual profit allocation: the period's net profit closed out of income and expenses and
    divided by the group's shares, to the satang (largest remainder), with each member's share."""

    group_id: uuid.UUID
    allocation_id: uuid.UUID
    period_start: date
    period_end: date
    allocated_on: date
    net_profit_satang: int = Field(gt=0)
    shares_percent: ProfitShares
    # Income and expense accounts closed: account → its net credit balance over the period.
    closed_accounts: dict[str, int]
    reserve_satang: int = Field(ge=0)
    dividends_satang: int = Field(ge=0)
    borrower_rebates_satang: int = Field(ge=0)
    welfare_satang: int = Field(ge=0)
    community_satang: int = Field(ge=0)
    committee_satang: int = Field(ge=0)
    paid_into: Literal["special", "cash"]
    members: list[MemberProfitShare]


@REGISTRY.register("ledger.DividendPaid", 1)
class DividendPaid(EventPayload):
    """A member's dividend and borrower rebate from an allocation, paid into special savings or cash."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    allocation_id: uuid.UUID
    paid_on: date
    dividend_satang: int = Field(ge=0)
    rebate_satang: int = Field(ge=0)
    paid_into: Literal["special", "cash"]
    # The special-savings balance after, when paid into it.
    balance_after_satang: int | None = None


@REGISTRY.register("ledger.LendingPostingRefused", 1)
class LendingPostingRefused(EventPayload):
    """The ledger refused a posting the lending service asked for (e.g. a payout larger than the
    group's cash). Recorded, so a redelivered request gets the same answer."""

    group_id: uuid.UUID
    request_id: uuid.UUID
    loan_id: uuid.UUID
    reason: str
