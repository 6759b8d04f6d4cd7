"""Ledger domain: groups, members and their savings. Pure: state from events, commands → events."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date

from libs.events.envelope import Area, EventPayload
from libs.events.errors import RuleBroken
from libs.events.free_text import FreeText
from libs.events.money import format_baht
from libs.events.schemas.ledger import (
    CommitmentChanged,
    ConsentGranted,
    ConsentWithdrawn,
    DividendPaid,
    DividendsAllocated,
    GroupOnboarded,
    GroupRegistered,
    GroupRules,
    InstallmentMissed,
    JournalEntryPosted,
    JournalLine,
    LendingPostingRefused,
    MemberEnrolled,
    MemberExited,
    MonthClosed,
    OpeningBalanceRecorded,
    SavingsAccount,
    SavingsDeposited,
    SavingsWithdrawn,
    TransactionReversed,
)
from services.ledger.months import month_end

ACCOUNTS: tuple[SavingsAccount, ...] = ("sajja", "special")


class LedgerRuleBroken(RuleBroken):
    """A command the ledger's rules refuse."""

    problem_type = "ledger-rule"
    title = "Request refused by ledger rules"


def check_open(closed_through: date | None, on: date, field_name: str) -> None:
    """Back-dating is allowed inside an open month and refused once its month is closed."""
    if closed_through is not None and on <= month_end(closed_through):
        raise LedgerRuleBroken(
            f"{closed_through:%Y-%m} is closed; entries dated in it or earlier are refused", field_name, 409
        )


def check_cash(cash_satang: int | None, paid_out_satang: int) -> None:
    """Money paid out of the group comes from its cash in hand, which never goes below zero (when the
    caller knows the cash; the group's cash lock makes what it knows current)."""
    if cash_satang is not None and paid_out_satang > cash_satang:
        raise LedgerRuleBroken(
            f"the group holds {format_baht(cash_satang)} baht in cash, less than {format_baht(paid_out_satang)};"
            " bring money from the bank into cash first (a journal entry)",
            None,
            409,
        )


def group_stream(group_id: uuid.UUID) -> str:
    return f"group-{group_id}"


def member_stream(member_id: uuid.UUID) -> str:
    return f"member-{member_id}"


# --- Thai national ID -------------------------------------------------------------------------


def national_id_check_digit(first_twelve: str) -> int:
    """The 13th digit: 11 − (Σ dᵢ·(13−i) mod 11), mod 10."""
    total = sum(int(d) * (13 - i) for i, d in enumerate(first_twelve))
    return (11 - total % 11) % 10


def validate_national_id(national_id: str) -> str:
    digits = national_id.replace("-", "").replace(" ", "")
    if len(digits) != 13 or not (digits.isascii() and digits.isdigit()):
        raise LedgerRuleBroken("must be 13 digits (0-9)", "national_id")
    if national_id_check_digit(digits[:12]) != int(digits[12]):
        raise LedgerRuleBroken("check digit does not match; please re-check the number", "national_id")
    return digits


def national_id_hash(national_id: str, key: str) -> str:
    """Keyed hash: catches duplicates without putting the ID in events, and cannot be reversed by
    hashing all 10¹³ candidate IDs without the key."""
    return hmac.new(key.encode(), national_id.encode(), hashlib.sha256).hexdigest()


# --- Groups -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    group_id: uuid.UUID
    name: str
    area: Area
    founded_on: date
    version: int
    rules: GroupRules = field(default_factory=GroupRules)
    # First day of the last month the group closed; entries dated up to its end are refused.
    closed_through: date | None = None
    # The last day whose profit has been allocated.
    allocated_through: date | None = None
    # Requests from the lending service already answered (posted or refused): each is answered once.
    lending_requests: frozenset[uuid.UUID] = frozenset()


def check_rules(rules: GroupRules) -> None:
    if rules.min_monthly_commitment_satang > rules.max_monthly_commitment_satang:
        raise LedgerRuleBroken("the minimum commitment is above the maximum", "rules.min_monthly_commitment")
    for name in ("min_monthly_commitment_satang", "max_monthly_commitment_satang"):
        if getattr(rules, name) % rules.share_value_satang:
            field_name = "rules." + name.removesuffix("_satang")
            raise LedgerRuleBroken(
                f"must be a whole number of shares of {format_baht(rules.share_value_satang)}", field_name
            )


def check_commitment(rules: GroupRules, satang: int, field_name: str = "monthly_commitment") -> None:
    """A commitment is a whole number of shares, inside the group's range."""
    if satang % rules.share_value_satang:
        raise LedgerRuleBroken(
            f"must be a whole number of shares of {format_baht(rules.share_value_satang)} baht", field_name
        )
    if not rules.min_monthly_commitment_satang <= satang <= rules.max_monthly_commitment_satang:
        raise LedgerRuleBroken(
            f"must be between {format_baht(rules.min_monthly_commitment_satang)} and "
            f"{format_baht(rules.max_monthly_commitment_satang)} baht under the group's rules",
            field_name,
        )


def register_group(
    group_id: uuid.UUID,
    name: str,
    province_code: str,
    district_code: str,
    subdistrict_code: str | None,
    village: str | None,
    founded_on: date,
    today: date,
    rules: GroupRules | None = None,
) -> GroupRegistered:
    if not name.strip():
        raise LedgerRuleBroken("must not be blank", "name")
    if not district_code.startswith(province_code):
        raise LedgerRuleBroken(
            f"district {district_code} is not in province {province_code} (its first two digits must match)",
            "district_code",
        )
    if subdistrict_code is not None and not subdistrict_code.startswith(district_code):
        raise LedgerRuleBroken(f"subdistrict {subdistrict_code} is not in district {district_code}", "subdistrict_code")
    if founded_on > today:
        raise LedgerRuleBroken("must not be in the future", "founded_on")
    rules = rules or GroupRules()
    check_rules(rules)
    return GroupRegistered(
        rules=rules,
        group_id=group_id,
        name=name.strip(),
        province_code=province_code,
        district_code=district_code,
        subdistrict_code=subdistrict_code,
        village=village,
        founded_on=founded_on,
    )


def group_from_events(events: Iterable[tuple[EventPayload, int]], start: Group | None = None) -> Group | None:
    """The group its events make; from `start` (the group as its stream stood at start.version), the events after
    it folded on."""
    group: Group | None = start
    for payload, version in events:
        if isinstance(payload, GroupRegistered):
            group = Group(
                payload.group_id,
                payload.name,
                Area(province_code=payload.province_code, district_code=payload.district_code),
                payload.founded_on,
                version,
                payload.rules,
            )
        elif group is not None and isinstance(payload, MonthClosed):
            group = replace(group, closed_through=payload.month, version=version)
        elif group is not None and isinstance(payload, GroupOnboarded):
            # Its own books hold everything through the opening day (a month's last day): as if closed.
            opened = payload.opening_on.replace(day=1)
            closed = max(group.closed_through or opened, opened)
            group = replace(group, closed_through=closed, version=version)
        elif group is not None and isinstance(payload, DividendsAllocated):
            group = replace(group, allocated_through=payload.period_end, version=version)
        elif (
            group is not None
            and isinstance(payload, (JournalEntryPosted, LendingPostingRefused))
            and payload.request_id
        ):
            group = replace(group, lending_requests=group.lending_requests | {payload.request_id}, version=version)
        elif group is not None:
            group = replace(group, version=version)
    return group


# --- Members ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    member_id: uuid.UUID
    group_id: uuid.UUID
    area: Area
    joined_on: date
    monthly_commitment_satang: int
    version: int
    balances: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACCOUNTS, 0))
    # (partner, purpose) → notice version of the consent in force; absent when none is.
    consents: dict[tuple[str, str], str] = field(default_factory=dict)
    exited_on: date | None = None
    # transaction id → (kind, account, amount, business date); and those already reversed.
    transactions: dict[uuid.UUID, tuple[str, SavingsAccount, int, date]] = field(default_factory=dict)
    reversed_transactions: frozenset[uuid.UUID] = frozenset()
    # The commitment schedule: (first month it is due, satang), in order.
    commitments: tuple[tuple[date, int], ...] = ()
    # Sajja deposits net of reversals, by the first day of the month they are dated in.
    sajja_paid_by_month: dict[date, int] = field(default_factory=dict)
    # Installments the month-end closes found short: (month, due, paid).
    missed_installments: tuple[tuple[date, int, int], ...] = ()

    @property
    def total_satang(self) -> int:
        return sum(self.balances.values())


def enroll_member(
    group: Group,
    member_id: uuid.UUID,
    joined_on: date,
    monthly_commitment_satang: int,
    national_id_digest: str,
    today: date,
) -> MemberEnrolled:
    if joined_on < group.founded_on:
        raise LedgerRuleBroken(f"must not be before the group was founded ({group.founded_on})", "joined_on")
    if joined_on > today:
        raise LedgerRuleBroken("must not be in the future", "joined_on")
    check_open(group.closed_through, joined_on, "joined_on")
    check_commitment(group.rules, monthly_commitment_satang)
    return MemberEnrolled(
        member_id=member_id,
        group_id=group.group_id,
        joined_on=joined_on,
        monthly_commitment_satang=monthly_commitment_satang,
        national_id_hash=national_id_digest,
        entrance_fee_satang=group.rules.entrance_fee_satang,
    )


def member_from_events(events: Iterable[tuple[EventPayload, int]], area: Area | None = None) -> Member | None:
    member: Member | None = None
    for payload, version in events:
        if isinstance(payload, MemberEnrolled):
            member = Member(
                payload.member_id,
                payload.group_id,
                area or Area(province_code="00", district_code="0000"),
                payload.joined_on,
                payload.monthly_commitment_satang,
                version,
                commitments=((payload.joined_on.replace(day=1), payload.monthly_commitment_satang),),
            )
        elif member is None:
            continue
        elif isinstance(payload, MemberExited):
            member = replace(member, balances=dict.fromkeys(ACCOUNTS, 0), exited_on=payload.exited_on, version=version)
        elif isinstance(payload, ConsentGranted):
            consents = dict(member.consents) | {(payload.partner, payload.purpose): payload.notice_version}
            member = replace(member, consents=consents, version=version)
        elif isinstance(payload, ConsentWithdrawn):
            consents = {k: v for k, v in member.consents.items() if k != (payload.partner, payload.purpose)}
            member = replace(member, consents=consents, version=version)
        elif isinstance(payload, CommitmentChanged):
            # A change replaces any schedule entry from its month on (a later change can supersede an earlier one).
            schedule = tuple(c for c in member.commitments if c[0] < payload.effective_month)
            member = replace(
                member,
                monthly_commitment_satang=payload.monthly_commitment_satang,
                commitments=schedule + ((payload.effective_month, payload.monthly_commitment_satang),),
                version=version,
            )
        elif isinstance(payload, DividendPaid):
            if payload.paid_into == "special":
                balances = dict(member.balances)
                balances["special"] += payload.dividend_satang + payload.rebate_satang
                member = replace(member, balances=balances, version=version)
            else:
                member = replace(member, version=version)
        elif isinstance(payload, OpeningBalanceRecorded):
            balances = dict(member.balances)
            balances[payload.account] += payload.amount_satang
            member = replace(member, balances=balances, version=version)
        elif isinstance(payload, InstallmentMissed):
            missed = (payload.month, payload.due_satang, payload.paid_satang)
            member = replace(member, missed_installments=member.missed_installments + (missed,), version=version)
        elif isinstance(payload, (SavingsDeposited, SavingsWithdrawn)):
            is_deposit = isinstance(payload, SavingsDeposited)
            on = payload.deposited_on if isinstance(payload, SavingsDeposited) else payload.withdrawn_on
            balances = dict(member.balances)
            balances[payload.account] += payload.amount_satang if is_deposit else -payload.amount_satang
            transactions = member.transactions | {
                payload.transaction_id: (
                    "deposit" if is_deposit else "withdrawal",
                    payload.account,
                    payload.amount_satang,
                    on,
                )
            }
            paid = member.sajja_paid_by_month
            if is_deposit and payload.account == "sajja":
                paid = _add_paid(paid, on, payload.amount_satang)
            member = replace(
                member, balances=balances, transactions=transactions, sajja_paid_by_month=paid, version=version
            )
        elif isinstance(payload, TransactionReversed):
            balances = dict(member.balances)
            balances[payload.account] += payload.balance_delta_satang
            paid = member.sajja_paid_by_month
            original = member.transactions.get(payload.transaction_id)
            if original is not None and original[0] == "deposit" and original[1] == "sajja":
                # An undone deposit no longer pays the installment of the month it was dated in.
                paid = _add_paid(paid, original[3], -original[2])
            member = replace(
                member,
                balances=balances,
                sajja_paid_by_month=paid,
                reversed_transactions=member.reversed_transactions | {payload.transaction_id},
                version=version,
            )
        else:
            member = replace(member, version=version)
    return member


def _add_paid(paid: dict[date, int], on: date, satang: int) -> dict[date, int]:
    month = on.replace(day=1)
    return paid | {month: paid.get(month, 0) + satang}


def check_deposit(
    member: Member, amount_satang: int, deposited_on: date, today: date, closed_through: date | None = None
) -> None:
    """A deposit's rules, without the event (an import checks a sheet of deposits by them)."""
    ensure_active(member)
    if amount_satang <= 0:
        raise LedgerRuleBroken("must be greater than zero", "amount")
    if deposited_on < member.joined_on:
        raise LedgerRuleBroken(f"must not be before the member joined ({member.joined_on})", "deposited_on")
    if deposited_on > today:
        raise LedgerRuleBroken("must not be in the future", "deposited_on")
    check_open(closed_through, deposited_on, "deposited_on")


def deposit(
    member: Member,
    transaction_id: uuid.UUID,
    account: SavingsAccount,
    amount_satang: int,
    deposited_on: date,
    today: date,
    closed_through: date | None = None,
) -> SavingsDeposited:
    check_deposit(member, amount_satang, deposited_on, today, closed_through)
    return SavingsDeposited(
        transaction_id=transaction_id,
        member_id=member.member_id,
        group_id=member.group_id,
        account=account,
        amount_satang=amount_satang,
        deposited_on=deposited_on,
        balance_after_satang=member.balances[account] + amount_satang,
    )


def describe_rules(rules: GroupRules) -> dict[str, object]:
    """The rules as the API shows them: money in baht strings, names without the _satang suffix."""
    shown: dict[str, object] = {}
    for name, value in rules.model_dump().items():
        if name.endswith("_satang"):
            shown[name.removesuffix("_satang")] = format_baht(value)
        else:
            shown[name] = value
    return shown


def describe_balance(member: Member) -> dict[str, str]:
    return {account: format_baht(member.balances[account]) for account in ACCOUNTS} | {
        "total": format_baht(member.total_satang)
    }


def change_commitment(
    member: Member,
    rules: GroupRules,
    monthly_commitment_satang: int,
    effective_on: date,
    today: date,
    closed_through: date | None = None,
) -> CommitmentChanged:
    """Raise (or lower) the monthly sajja commitment from the month of `effective_on`."""
    ensure_active(member)
    if monthly_commitment_satang == member.monthly_commitment_satang:
        raise LedgerRuleBroken("is the member's current commitment already", "monthly_commitment")
    check_commitment(rules, monthly_commitment_satang)
    if effective_on < member.joined_on.replace(day=1):
        raise LedgerRuleBroken(f"must not be before the member joined ({member.joined_on})", "effective_on")
    if (effective_on.year - today.year) * 12 + effective_on.month - today.month > 12:
        raise LedgerRuleBroken("must be within the next twelve months", "effective_on")
    check_open(closed_through, effective_on.replace(day=1), "effective_on")
    return CommitmentChanged(
        member_id=member.member_id,
        group_id=member.group_id,
        previous_monthly_commitment_satang=member.monthly_commitment_satang,
        monthly_commitment_satang=monthly_commitment_satang,
        effective_month=effective_on.replace(day=1),
    )


def withdraw(
    member: Member,
    rules: GroupRules,
    transaction_id: uuid.UUID,
    account: SavingsAccount,
    amount_satang: int,
    withdrawn_on: date,
    today: date,
    closed_through: date | None = None,
    cash_satang: int | None = None,
) -> SavingsWithdrawn:
    """Withdraw from savings: never below zero, and sajja only where the group's rules allow it."""
    ensure_active(member)
    if account == "sajja" and not rules.sajja_withdrawable_before_exit:
        raise LedgerRuleBroken(
            "sajja savings are returned when the member leaves; this group's rules allow no earlier withdrawal",
            "account",
            409,
        )
    if account == "special" and not rules.special_withdrawals_allowed:
        raise LedgerRuleBroken("this group's rules allow no withdrawals of special savings", "account", 409)
    if withdrawn_on < member.joined_on:
        raise LedgerRuleBroken(f"must not be before the member joined ({member.joined_on})", "withdrawn_on")
    if withdrawn_on > today:
        raise LedgerRuleBroken("must not be in the future", "withdrawn_on")
    check_open(closed_through, withdrawn_on, "withdrawn_on")
    balance = member.balances[account]
    if amount_satang > balance:
        raise LedgerRuleBroken(
            f"the {account} balance is {format_baht(balance)} baht, less than {format_baht(amount_satang)}",
            "amount",
            409,
        )
    check_cash(cash_satang, amount_satang)
    return SavingsWithdrawn(
        transaction_id=transaction_id,
        member_id=member.member_id,
        group_id=member.group_id,
        account=account,
        amount_satang=amount_satang,
        withdrawn_on=withdrawn_on,
        balance_after_satang=balance - amount_satang,
    )


def decide_consent(
    member: Member, partner: str, purpose: str, granted: bool, notice_version: str | None
) -> ConsentGranted | ConsentWithdrawn:
    """Grant consent to share data with a partner for a purpose, or withdraw it (at once)."""
    current = member.consents.get((partner, purpose))
    if granted:
        if not notice_version:
            raise LedgerRuleBroken("is required when consent is granted", "notice_version")
        if current == notice_version:
            raise LedgerRuleBroken(f"consent to notice {notice_version} is already in force", "granted", 409)
        return ConsentGranted(
            member_id=member.member_id,
            group_id=member.group_id,
            partner=partner,
            purpose=purpose,
            notice_version=notice_version,
        )
    if current is None:
        raise LedgerRuleBroken(f"there is no consent for {partner}/{purpose} to withdraw", "granted", 409)
    return ConsentWithdrawn(member_id=member.member_id, group_id=member.group_id, partner=partner, purpose=purpose)


def ensure_active(member: Member) -> None:
    if member.exited_on is not None:
        raise LedgerRuleBroken(f"the member left the group on {member.exited_on}", None, 409)


def exit_member(
    member: Member,
    exited_on: date,
    reason: FreeText | None,
    today: date,
    closed_through: date | None = None,
    cash_satang: int | None = None,
) -> MemberExited:
    """Close the membership and pay out both balances in full."""
    ensure_active(member)
    if exited_on < member.joined_on:
        raise LedgerRuleBroken(f"must not be before the member joined ({member.joined_on})", "exited_on")
    if exited_on > today:
        raise LedgerRuleBroken("must not be in the future", "exited_on")
    check_open(closed_through, exited_on, "exited_on")
    check_cash(cash_satang, member.total_satang)
    return MemberExited(
        member_id=member.member_id,
        group_id=member.group_id,
        exited_on=exited_on,
        sajja_paid_out_satang=member.balances["sajja"],
        special_paid_out_satang=member.balances["special"],
        reason_ref=reason.text_id if reason else None,
    )


def reverse(
    member: Member, transaction_id: uuid.UUID, reason: FreeText, cash_satang: int | None = None
) -> TransactionReversed:
    """Undo a deposit or withdrawal of this member, once, never leaving a balance below zero."""
    ensure_active(member)
    found = member.transactions.get(transaction_id)
    if found is None:
        raise LedgerRuleBroken("is not a deposit or withdrawal of this member", "transaction_id", 404)
    if transaction_id in member.reversed_transactions:
        raise LedgerRuleBroken("was reversed already", "transaction_id", 409)
    kind, account, amount, _ = found
    delta = -amount if kind == "deposit" else amount
    if member.balances[account] + delta < 0:
        raise LedgerRuleBroken(
            f"reversing it would take the {account} balance below zero (it is {format_baht(member.balances[account])})",
            "transaction_id",
            409,
        )
    if delta < 0:
        check_cash(cash_satang, -delta)
    return TransactionReversed(
        member_id=member.member_id,
        group_id=member.group_id,
        transaction_id=transaction_id,
        reversed_kind=kind,  # type: ignore[arg-type]
        account=account,
        amount_satang=amount,
        balance_delta_satang=delta,
        reason_ref=reason.text_id,
    )


def post_journal_entry(
    group: Group,
    entry_id: uuid.UUID,
    posted_on: date,
    memo: FreeText,
    lines: list[JournalLine],
    today: date,
    cash_satang: int,
    chart: Iterable[str],
    reserved_accounts: Iterable[str],
    source: str | None = None,
) -> JournalEntryPosted:
    """A balanced posting to the group's books. Members' savings and the allocation's payables move
    only through their own commands (so the books keep reconciling), and cash never goes below zero."""
    known, reserved = set(chart), set(reserved_accounts)
    for i, line in enumerate(lines):
        where = f"lines.{i}"
        if line.account not in known:
            raise LedgerRuleBroken(f"account {line.account} is not in the chart of accounts", f"{where}.account")
        if line.account in reserved:
            raise LedgerRuleBroken(
                f"account {line.account} moves only through members' own savings or an allocation", f"{where}.account"
            )
        if (line.debit_satang > 0) == (line.credit_satang > 0):
            raise LedgerRuleBroken("a line has either a debit or a credit, greater than zero", where)
    debit = sum(line.debit_satang for line in lines)
    credit = sum(line.credit_satang for line in lines)
    if debit != credit:
        raise LedgerRuleBroken(
            f"debits ({format_baht(debit)}) and credits ({format_baht(credit)}) must be equal", "lines"
        )
    if posted_on < group.founded_on or posted_on > today:
        raise LedgerRuleBroken("must fall between the group's founding and today", "posted_on")
    check_open(group.closed_through, posted_on, "posted_on")
    cash_change = sum(line.debit_satang - line.credit_satang for line in lines if line.account == "1010")
    if cash_satang + cash_change < 0:
        raise LedgerRuleBroken(
            f"the group holds {format_baht(cash_satang)} baht in cash, less than {format_baht(-cash_change)}",
            "lines",
            409,
        )
    return JournalEntryPosted(
        group_id=group.group_id,
        entry_id=entry_id,
        posted_on=posted_on,
        memo_ref=memo.text_id,
        lines=lines,
        source=source,
    )
