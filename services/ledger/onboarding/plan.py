"""An onboarding file's accepted rows as the events and register rows that bring them in. Pure.

Ids are derived, not drawn, so the same file imports once: a group's id from its district and its code in
the file, a member's from the group and the keyed hash of the national ID (never the ID itself), a deposit's
transaction id from the member, its date, account and amount (and how many identical ones came before it
in the file). What the store already holds (`Existing`) is left as it is; only what is new is planned."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from libs.events.envelope import Actor, Area, EventPayload, NewEvent
from libs.events.ids import deriver
from libs.events.schemas.ledger import (
    GroupOnboarded,
    GroupRegistered,
    GroupRules,
    MemberEnrolled,
    OpeningBalanceRecorded,
    OpeningLoanRecorded,
    SavingsDeposited,
)
from libs.events.schemas.lending import LoanOpened, LoanTerms
from libs.events.store import StreamAppend
from services.ledger import domain
from services.ledger.months import month_end
from services.ledger.onboarding.rows import DepositRow, GroupRow, ImportFile, LoanRow, MemberRow, RowProblem
from services.lending import domain as lending

# The product every loan carried over from a group's own books is filed under (its terms are its own).
CARRIED_OVER = "carried-over"

# The namespace of every id an import derives.
ONBOARDING = uuid.UUID("5a1a0c3e-7d0b-5b7e-9a51-0f1d2c3b4a59")


def group_id_for(row: GroupRow) -> uuid.UUID:
    return uuid.uuid5(ONBOARDING, f"group:{row.district_code}:{row.group_code.strip()}")


def member_id_for(group_id: uuid.UUID, national_id_hash: str) -> uuid.UUID:
    return uuid.uuid5(group_id, f"member:{national_id_hash}")


def loan_id_for(group_id: uuid.UUID, contract_no: str) -> uuid.UUID:
    return uuid.uuid5(group_id, f"loan:{contract_no.strip()}")


def loan_stream(loan_id: uuid.UUID) -> str:
    return f"loan-{loan_id}"


@dataclass(frozen=True)
class ExistingMember:
    member_id: uuid.UUID
    version: int
    balances: dict[str, int]
    transaction_ids: frozenset[uuid.UUID]
    # Loans whose opening the member's stream already records.
    opening_loans: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class ExistingGroup:
    version: int
    # First day of the last month closed (an onboarded group's opening month, at least).
    closed_through: date | None


@dataclass(frozen=True)
class Existing:
    """What the store holds of the file's groups and members."""

    groups: dict[uuid.UUID, ExistingGroup] = field(default_factory=dict)
    # (group id, national ID hash) → the member enrolled with it (through the API or an earlier import).
    members: dict[tuple[uuid.UUID, str], ExistingMember] = field(default_factory=dict)
    # Loans lending already holds (their streams exist).
    loans: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class RegisterRow:
    """The member register's row (personal data: never in an event)."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    national_id_hash: str
    national_id: str
    full_name: str
    phone: str | None
    no_registration_status: bool
    joined_on: date


@dataclass
class Plan:
    appends: list[StreamAppend] = field(default_factory=list)
    # Lending's store: the loans carried over (written in the same transaction as the ledger's side).
    lending_appends: list[StreamAppend] = field(default_factory=list)
    register: list[RegisterRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    # What is new, and what the store already held (an import of the same file again plans nothing).
    groups: int = 0
    members: int = 0
    opening_balances: int = 0
    deposits: int = 0
    loans: int = 0
    groups_already: int = 0
    members_already: int = 0
    deposits_already: int = 0
    loans_already: int = 0
    # Every group and member of the file (new or already in): its code (and sheet row) → its id.
    group_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    member_ids: list[tuple[str, int, uuid.UUID]] = field(default_factory=list)

    @property
    def events(self) -> int:
        return sum(len(a.events) for a in self.appends) + sum(len(a.events) for a in self.lending_appends)


def opening_day_problems(found: ImportFile) -> list[RowProblem]:
    """Balances come as a month's last day, as a group's books close: entries in the opening month after the
    opening day would otherwise fall in a month Sajja counts as closed."""
    return [
        RowProblem(
            found.name,
            "groups",
            g.sheet_row,
            "opening_on",
            f"วันที่ยอดยกมาต้องเป็นวันสิ้นเดือน ({month_end(g.opening_on).isoformat()})",
            f"the opening day must be a month's last day ({month_end(g.opening_on).isoformat()})",
            g.group_code,
        )
        for g in found.groups
        if g.opening_on != month_end(g.opening_on)
    ]


def national_id_hashes(found: ImportFile, hash_key: str) -> dict[str, str]:
    """Each national ID in the file → its keyed hash (as enrolment stores it)."""
    ids = {m.national_id for m in found.members}
    return {i: domain.national_id_hash(i, hash_key) for i in ids}


def plan_import(found: ImportFile, existing: Existing, hashes: dict[str, str], actor: Actor) -> Plan:
    plan = Plan()
    members_of: dict[str, list[MemberRow]] = defaultdict(list)
    for m in found.members:
        members_of[m.group_code].append(m)
    deposits_of: dict[tuple[str, str], list[DepositRow]] = defaultdict(list)
    for d in found.deposits:
        deposits_of[(d.group_code, d.national_id)].append(d)
    loans_of: dict[tuple[str, str], list[LoanRow]] = defaultdict(list)
    for loan in found.loans:
        loans_of[(loan.group_code, loan.national_id)].append(loan)
    for g in found.groups:
        group_id = group_id_for(g)
        plan.group_ids[g.group_code] = group_id
        area = Area(province_code=g.province_code, district_code=g.district_code)
        known = existing.groups.get(group_id)
        if known is None:
            rules = GroupRules(
                share_value_satang=g.share_value_satang,
                min_monthly_commitment_satang=g.min_monthly_commitment_satang,
                max_monthly_commitment_satang=g.max_monthly_commitment_satang,
                collection_day=g.collection_day,
                entrance_fee_satang=0,
            )
            registered = GroupRegistered(
                group_id=group_id,
                name=g.name,
                province_code=g.province_code,
                district_code=g.district_code,
                subdistrict_code=g.subdistrict_code,
                village=g.village,
                founded_on=g.founded_on,
                rules=rules,
            )
            onboarded = GroupOnboarded(group_id=group_id, opening_on=g.opening_on)
            plan.appends.append(
                StreamAppend(
                    domain.group_stream(group_id), 0, [_new(registered, actor, area), _new(onboarded, actor, area)]
                )
            )
            plan.groups += 1
            closed_through: date | None = g.opening_on.replace(day=1)
        else:
            plan.groups_already += 1
            closed_through = known.closed_through
        for m in members_of.get(g.group_code, []):
            _plan_member(
                plan, found, g, group_id, area, m, existing, hashes, deposits_of, loans_of, closed_through, actor
            )
    return plan


def _plan_member(
    plan: Plan,
    found: ImportFile,
    g: GroupRow,
    group_id: uuid.UUID,
    area: Area,
    m: MemberRow,
    existing: Existing,
    hashes: dict[str, str],
    deposits_of: dict[tuple[str, str], list[DepositRow]],
    loans_of: dict[tuple[str, str], list[LoanRow]],
    closed_through: date | None,
    actor: Actor,
) -> None:
    digest = hashes[m.national_id]
    known = existing.members.get((group_id, digest))
    events: list[NewEvent] = []
    if known is None:
        member_id = member_id_for(group_id, digest)
        version = 0
        balances = {"sajja": 0, "special": 0}
        seen: frozenset[uuid.UUID] = frozenset()
        enrolled = MemberEnrolled(
            member_id=member_id,
            group_id=group_id,
            joined_on=m.joined_on,
            monthly_commitment_satang=m.monthly_commitment_satang,
            national_id_hash=digest,
            entrance_fee_satang=0,  # paid long ago, into the group's own books
        )
        events.append(_new(enrolled, actor, area))
        for account, amount in (("sajja", m.opening_sajja_satang), ("special", m.opening_special_satang)):
            if amount:
                opening = OpeningBalanceRecorded(
                    transaction_id=uuid.uuid5(member_id, f"opening:{account}"),
                    member_id=member_id,
                    group_id=group_id,
                    account=account,  # type: ignore[arg-type]
                    amount_satang=amount,
                    as_of=g.opening_on,
                )
                events.append(_new(opening, actor, area))
                balances[account] += amount
                plan.opening_balances += 1
        plan.register.append(
            RegisterRow(
                member_id,
                group_id,
                digest,
                m.national_id,
                m.full_name,
                m.phone,
                m.national_id.startswith("0"),
                m.joined_on,
            )
        )
        plan.members += 1
    else:
        member_id, version, balances, seen = known.member_id, known.version, dict(known.balances), known.transaction_ids
        plan.members_already += 1
    plan.member_ids.append((g.group_code, m.sheet_row, member_id))
    recorded_loans = known.opening_loans if known is not None else frozenset()
    for loan in loans_of.get((g.group_code, m.national_id), []):
        loan_id = loan_id_for(group_id, loan.contract_no)
        fresh = False
        if loan_id not in recorded_loans:
            opening_loan = OpeningLoanRecorded(
                loan_id=loan_id,
                member_id=member_id,
                group_id=group_id,
                outstanding_satang=loan.outstanding_satang,
                as_of=g.opening_on,
            )
            events.append(_new(opening_loan, actor, area))
            fresh = True
        if loan_id not in existing.loans:
            opened = _loan_opened(loan, loan_id, member_id, group_id, g.opening_on, actor)
            plan.lending_appends.append(StreamAppend(loan_stream(loan_id), 0, [_new(opened, actor, area)]))
            fresh = True
        if fresh:
            plan.loans += 1
        else:
            plan.loans_already += 1
    occurrences: dict[tuple[date, str, int], int] = defaultdict(int)
    derive = deriver(member_id)  # uuid5(member_id, …), a deposit's id
    closed_end = month_end(closed_through) if closed_through is not None else None
    for d in sorted(deposits_of.get((g.group_code, m.national_id), []), key=lambda d: (d.deposited_on, d.sheet_row)):
        same = (d.deposited_on, d.account, d.amount_satang)
        nth = occurrences[same]
        occurrences[same] = nth + 1
        transaction_id = derive(f"deposit:{d.deposited_on}:{d.account}:{d.amount_satang}:{nth}")
        if transaction_id in seen:
            plan.deposits_already += 1
            continue
        if closed_through is not None and closed_end is not None and d.deposited_on <= closed_end:
            plan.problems.append(
                RowProblem(
                    found.name,
                    "deposits",
                    d.sheet_row,
                    "deposited_on",
                    f"เดือน {closed_through:%Y-%m} ของกลุ่มปิดแล้ว: รับรายการที่ลงวันที่ในเดือนนั้นหรือก่อนหน้าไม่ได้",
                    f"{closed_through:%Y-%m} is closed in the group's books; entries dated in it or before are refused",
                    g.group_code,
                )
            )
            continue
        balances[d.account] += d.amount_satang
        deposited = SavingsDeposited(
            transaction_id=transaction_id,
            member_id=member_id,
            group_id=group_id,
            account=d.account,
            amount_satang=d.amount_satang,
            deposited_on=d.deposited_on,
            balance_after_satang=balances[d.account],
        )
        events.append(_new(deposited, actor, area))
        plan.deposits += 1
    if events:
        plan.appends.append(StreamAppend(domain.member_stream(member_id), version, events))


def _loan_opened(
    loan: LoanRow, loan_id: uuid.UUID, member_id: uuid.UUID, group_id: uuid.UUID, opened_on: date, actor: Actor
) -> LoanOpened:
    """The loan as lending carries it on: what is left of it spread by its own terms, monthly from its next due
    date (the installments already paid are in the group's own books)."""
    terms = LoanTerms(interest_method=loan.interest_method, rate_per_month=loan.rate_per_month)
    return LoanOpened(
        loan_id=loan_id,
        member_id=member_id,
        group_id=group_id,
        product_id=CARRIED_OVER,
        principal_satang=loan.principal_satang,
        outstanding_satang=loan.outstanding_satang,
        disbursed_on=loan.disbursed_on,
        opened_on=opened_on,
        terms=terms,
        schedule=lending.installments(loan.outstanding_satang, terms, loan.installments_left, loan.next_due_on),
        entered_by=actor.id,
    )


def _new(payload: EventPayload, actor: Actor, area: Area) -> NewEvent:
    return NewEvent(payload, actor=actor, area=area)
