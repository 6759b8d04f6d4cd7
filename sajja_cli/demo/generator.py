"""A synthetic province for the demo: Sa Kaeo (27), planned from a seed. Pure and deterministic.

`generate(seed, scale, today)` plans a year of a province's savings groups — groups over the real
districts, members with valid national IDs, monthly sajja deposits (most pay every month, some skip),
special deposits, withdrawals, commitment raises, exits, group loans with their repayments, pawn
tickets, governance items and a savings campaign — and keeps only what is dated on or before `today`.

The plan is a function of the seed, the scale and the *month* of `today` only: every date in the
running month is drawn as if the month were over, then what lies after `today` is dropped. So a
second run later in the same month plans the same requests for what was already loaded (their
idempotency keys replay) and adds only what has since come due.

What the platform will accept is decided here, conservatively, so the loader meets no refusals:
- a group's cash for a withdrawal, an exit or a payout is counted as its cash at the end of the
  previous month less what already went out this month (this month's deposits and repayments are
  left out, since the platform may not have them yet when the payout is decided);
- a loan's limit (a multiple of savings) is counted on the savings at the end of the previous month
  less this month's withdrawals;
- repayments are made on or after the due date, never before (an early payment would prepay
  principal), each paying the installment and the penalty accrued on it, so the principal each one
  repays is the installment's principal exactly.
Money is integer satang throughout.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Literal

import geothai

from libs.events.money import format_baht
from sajja_cli.demo import names
from services.ledger.domain import national_id_check_digit
from services.lending.pawn import maturity_date

BAHT = 100
PROVINCE_CODE = "27"  # Sa Kaeo
# Rough relative numbers of savings groups by district (larger districts, more villages).
DISTRICT_WEIGHTS: dict[str, int] = {
    "2701": 18,  # เมืองสระแก้ว
    "2702": 8,  # คลองหาด
    "2703": 9,  # ตาพระยา
    "2704": 12,  # วังน้ำเย็น
    "2705": 11,  # วัฒนานคร
    "2706": 16,  # อรัญประเทศ
    "2707": 7,  # เขาฉกรรจ์
    "2708": 6,  # โคกสูง
    "2709": 6,  # วังสมบูรณ์
}
# A borrower needs two guarantors from the group, so a group has at least this many members.
MIN_GROUP_SIZE = 5
SHARE = 50 * BAHT  # the groups' default share value: commitments are whole shares
MAX_COMMITMENT = 5_000 * BAHT
COMMITMENTS_BAHT: tuple[tuple[int, int], ...] = (
    (50, 10),
    (100, 35),
    (150, 8),
    (200, 20),
    (250, 5),
    (300, 10),
    (500, 12),
)
COLLECTION_DAYS = (1, 5, 5, 10, 10, 15, 20, 25)
CONSENT = {"partner": "gsb", "purpose": "loan-referral", "notice_version": "2025-01"}
GOVERNANCE_ITEMS: tuple[tuple[str, float], ...] = (
    ("rules_written", 0.9),
    ("committee_meets_monthly", 0.6),
    ("annual_meeting_held", 0.75),
    ("accounts_audited", 0.45),
)
# Demand for loans by calendar month: planting (May–June) and the new year's expenses weigh most.
LOAN_SEASON = {1: 1.2, 2: 0.8, 3: 0.8, 4: 1.2, 5: 1.8, 6: 1.6, 7: 1.0, 8: 0.8, 9: 0.8, 10: 0.9, 11: 1.0, 12: 1.1}
PAWN_BRANCHES: tuple[tuple[str, str, float], ...] = (("SK-01", "2701", 0.6), ("SK-06", "2706", 0.4))

Account = Literal["sajja", "special"]
OpKind = Literal["deposit", "withdrawal", "raise", "exit"]
Behaviour = Literal["on_time", "late", "stopped"]
Profile = Literal["regular", "occasional", "struggling", "lapsed"]


# --- calendar ---------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def demo_months(today: date, count: int) -> tuple[date, ...]:
    """The first days of the `count` months ending with today's month."""
    last = today.replace(day=1)
    return tuple(add_months(last, k - count + 1) for k in range(count))


def campaign_window(count: int) -> tuple[int, int]:
    """The indexes of the campaign's first and last month: three months ending two months before the
    demo's last, so the campaign is over before its reports fall due (at the end of the running month);
    shorter demos take what they have."""
    last = min(count - 1, max(count - 3, 2))
    return max(0, last - 2), last


# --- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    groups: int = 150
    members: int = 15_000
    months: int = 12

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ValueError("at least one group")
        if self.members < self.groups * MIN_GROUP_SIZE:
            raise ValueError(f"at least {MIN_GROUP_SIZE} members a group ({self.groups * MIN_GROUP_SIZE} in all)")
        if not 1 <= self.months <= 60:
            raise ValueError("between 1 and 60 months")


@dataclass(frozen=True)
class Product:
    """A group-loan product, flat interest: the plan computes its schedules itself."""

    product_id: str
    name_th: str
    name_en: str
    rate_bp: int  # interest a month, in hundredths of a percent (100 = 1 %)
    penalty_bp: int  # penalty a month on what is overdue, likewise
    min_term: int
    max_term: int
    max_amount: int
    savings_multiple: int
    guarantors: int
    approvals: int

    def request(self) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "name_th": self.name_th,
            "name_en": self.name_en,
            "interest_method": "flat",
            "interest_rate_percent": _percent(self.rate_bp),
            "rate_per": "month",
            "min_term_months": self.min_term,
            "max_term_months": self.max_term,
            "max_amount": format_baht(self.max_amount),
            "max_savings_multiple": str(self.savings_multiple),
            "guarantors_required": self.guarantors,
            "penalty_rate_percent_per_month": _percent(self.penalty_bp),
            "approvals_required": self.approvals,
        }


def _percent(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}"


OCCUPATION = Product(
    "demo-occupation", "เงินกู้เพื่อการประกอบอาชีพ", "Occupation loan", 100, 100, 3, 24, 50_000 * BAHT, 5, 2, 2
)
EMERGENCY = Product("demo-emergency", "เงินกู้ฉุกเฉิน", "Emergency loan", 125, 100, 1, 6, 10_000 * BAHT, 2, 1, 1)
PRODUCTS = (OCCUPATION, EMERGENCY)


@dataclass(frozen=True)
class GroupPlan:
    number: int
    name: str
    district_code: str
    subdistrict_code: str
    village: str
    founded_on: date
    collection_day: int

    @property
    def key(self) -> str:
        return f"g{self.number:03d}"

    @property
    def officers(self) -> tuple[str, str, str]:
        """The users who act for the group: the treasurer enters (maker); chair and secretary approve."""
        prefix = f"sk{self.number:03d}"
        return f"{prefix}-treasurer", f"{prefix}-chair", f"{prefix}-secretary"

    def request(self) -> dict[str, object]:
        return {
            "name": self.name,
            "province_code": PROVINCE_CODE,
            "district_code": self.district_code,
            "subdistrict_code": self.subdistrict_code,
            "village": self.village,
            "founded_on": self.founded_on.isoformat(),
            "rules": {"collection_day": self.collection_day},
        }


@dataclass(frozen=True)
class MemberPlan:
    number: int
    group: int
    national_id: str
    full_name: str
    phone: str | None
    joined_on: date
    commitment: int  # at enrolment
    profile: Profile
    consents: bool
    exit_month: int | None  # the month index the member means to leave in (None: stays)

    @property
    def key(self) -> str:
        return f"m{self.number:05d}"

    def request(self) -> dict[str, object]:
        body: dict[str, object] = {
            "national_id": self.national_id,
            "full_name": self.full_name,
            "joined_on": self.joined_on.isoformat(),
            "monthly_commitment": format_baht(self.commitment),
        }
        if self.phone:
            body["phone"] = self.phone
        return body


@dataclass(frozen=True)
class MemberOp:
    """One ledger command on a member: a deposit, a withdrawal, a commitment raise or the exit."""

    member: int
    seq: int  # the member's own count, for the idempotency key
    kind: OpKind
    on: date
    amount: int  # deposited or withdrawn; for a raise the new commitment; for an exit the sajja paid out
    account: Account = "sajja"
    special_paid_out: int = 0  # exit only
    reason: str | None = None  # exit only

    def request(self) -> tuple[str, dict[str, object]]:
        """The member's sub-resource to POST to, and the body."""
        body: dict[str, object]
        if self.kind == "deposit":
            body = {"account": self.account, "amount": format_baht(self.amount), "deposited_on": self.on.isoformat()}
            return "deposits", body
        if self.kind == "withdrawal":
            body = {"account": self.account, "amount": format_baht(self.amount), "withdrawn_on": self.on.isoformat()}
            return "withdrawals", body
        if self.kind == "raise":
            return "commitment", {"monthly_commitment": format_baht(self.amount), "effective_on": self.on.isoformat()}
        return "exit", {"exited_on": self.on.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class Installment:
    number: int
    due_on: date
    principal: int
    interest: int

    @property
    def total(self) -> int:
        return self.principal + self.interest


@dataclass(frozen=True)
class Payment:
    installment: int
    paid_on: date
    principal: int
    interest: int
    penalty: int

    @property
    def amount(self) -> int:
        return self.principal + self.interest + self.penalty


@dataclass(frozen=True)
class LoanPlan:
    group: int
    member: int
    product: Product
    principal: int
    term: int
    purpose: str
    guarantors: tuple[int, ...]
    applied_on: date
    disbursed_on: date | None  # None: the committee rejects the application
    rejection_reason: str | None
    behaviour: Behaviour
    installments: tuple[Installment, ...]
    payments: tuple[Payment, ...]

    @property
    def key(self) -> str:
        return f"loan-m{self.member:05d}"  # a member takes at most one loan in the demo year

    def request(self, member_id: str, guarantor_ids: Sequence[str]) -> dict[str, object]:
        return {
            "member_id": member_id,
            "product_id": self.product.product_id,
            "principal": format_baht(self.principal),
            "term_months": self.term,
            "purpose": self.purpose,
            "guarantor_ids": list(guarantor_ids),
            "applied_on": self.applied_on.isoformat(),
        }


PawnActionKind = Literal["renewal", "redemption", "forfeiture", "sale"]


@dataclass(frozen=True)
class PawnAction:
    kind: PawnActionKind
    on: date
    sale_price: int = 0


@dataclass(frozen=True)
class TicketPlan:
    number: int
    branch_code: str
    district_code: str
    customer_ref: str
    category: str
    description: str
    appraised_value: int
    principal: int
    pledged_on: date
    payout: dict[str, str]
    actions: tuple[PawnAction, ...]

    @property
    def key(self) -> str:
        return f"t{self.number:04d}"

    def request(self) -> dict[str, object]:
        return {
            "branch_code": self.branch_code,
            "province_code": PROVINCE_CODE,
            "district_code": self.district_code,
            "customer_ref": self.customer_ref,
            "item_category": self.category,
            "item_description": self.description,
            "appraised_value": format_baht(self.appraised_value),
            "principal": format_baht(self.principal),
            "pledged_on": self.pledged_on.isoformat(),
            "payout": self.payout,
        }


@dataclass(frozen=True)
class GovernanceItem:
    group: int
    item: str
    done: bool
    recorded_on: date


@dataclass(frozen=True)
class CampaignPlan:
    campaign_id: str
    name_th: str
    name_en: str
    starts_on: date
    ends_on: date
    deadlines: dict[str, str]
    targets: dict[str, dict[str, int]]
    reporting_districts: tuple[str, ...]  # districts that send their savings-promotion report
    notes: dict[str, str] = field(default_factory=dict)

    def definition(self) -> dict[str, object]:
        return {
            "campaign_id": self.campaign_id,
            "name_th": self.name_th,
            "name_en": self.name_en,
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "provinces": [PROVINCE_CODE],
            "rules": [
                {"kind": "new_member"},
                {"kind": "commitment_raise", "min_amount_satang": 50 * BAHT},
                {"kind": "special_deposit", "min_amount_satang": 50 * BAHT},
            ],
            "targets": self.targets,
            "deadlines": self.deadlines,
        }


@dataclass(frozen=True)
class Province:
    seed: int
    scale: Scale
    today: date
    months: tuple[date, ...]
    groups: tuple[GroupPlan, ...]
    members: tuple[MemberPlan, ...]
    member_ops: tuple[MemberOp, ...]
    loans: tuple[LoanPlan, ...]
    tickets: tuple[TicketPlan, ...]
    governance: tuple[GovernanceItem, ...]
    campaign: CampaignPlan
    products: tuple[Product, ...] = PRODUCTS

    @property
    def lead_month(self) -> date:
        """The month before the demo year: in the groups' history only (its sajja deposits, its close). With it, a
        year before any day of the demo year the groups' savings were already on the platform, as SMART's
        growth over 12 months compares them (#15: with the balances brought forward the day before the demo
        year, every group's year-ago savings were nothing, and every group stayed at level 1)."""
        return add_months(self.months[0], -1)

    @property
    def opening_day(self) -> date:
        """Balances brought forward from the paper books are dated the day before the lead month."""
        return self.lead_month - timedelta(days=1)

    @property
    def closed_months(self) -> tuple[date, ...]:
        """The months that have ended, the lead month first: the loader closes each, in order."""
        return (self.lead_month, *(m for m in self.months if month_end(m) < self.today))

    def month_index(self, day: date) -> int:
        """Which demo month a date falls in (the opening balances count with the first)."""
        index = (day.year - self.months[0].year) * 12 + day.month - self.months[0].month
        return max(0, index)


# --- generation -------------------------------------------------------------------------------


def generate(seed: int, scale: Scale, today: date) -> Province:
    months = demo_months(today, scale.months)
    rng = random.Random(seed)
    groups = _groups(rng, scale, months[0])
    sizes = _group_sizes(rng, scale)
    window = campaign_window(len(months))
    members = _members(rng, groups, sizes, months, window)
    by_group: dict[int, list[MemberPlan]] = {g.number: [] for g in groups}
    for m in members:
        by_group[m.group].append(m)
    ops: list[MemberOp] = []
    loans: list[LoanPlan] = []
    for group in groups:
        # Each group draws from its own stream: a change in one group's rules leaves the others' plans be.
        simulation = _GroupYear(random.Random(f"{seed}:group:{group.number}"), group, by_group[group.number], months)
        group_ops, group_loans = simulation.run(window)
        ops += group_ops
        loans += group_loans
    tickets = _tickets(random.Random(f"{seed}:pawn"), scale, months)
    governance = _governance(random.Random(f"{seed}:governance"), groups, months)
    campaign = _campaign(random.Random(f"{seed}:campaign"), groups, months, window, scale)
    plan = Province(
        seed,
        scale,
        today,
        months,
        tuple(groups),
        tuple(members),
        tuple(ops),
        tuple(loans),
        tickets,
        governance,
        campaign,
    )
    return _until(plan, today)


def _until(plan: Province, today: date) -> Province:
    """Only what is dated on or before `today` (the plan was drawn for whole months)."""
    loans = []
    for loan in plan.loans:
        if (loan.disbursed_on or loan.applied_on) > today:
            continue
        loans.append(replace(loan, payments=tuple(p for p in loan.payments if p.paid_on <= today)))
    tickets = []
    for ticket in plan.tickets:
        if ticket.pledged_on <= today:
            tickets.append(replace(ticket, actions=tuple(a for a in ticket.actions if a.on <= today)))
    return replace(
        plan,
        members=tuple(m for m in plan.members if m.joined_on <= today),
        member_ops=tuple(op for op in plan.member_ops if op.on <= today),
        loans=tuple(loans),
        tickets=tuple(tickets),
        governance=tuple(g for g in plan.governance if g.recorded_on <= today),
    )


def _weighted(rng: random.Random, choices: Sequence[tuple[int, int]]) -> int:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _groups(rng: random.Random, scale: Scale, first_month: date) -> list[GroupPlan]:
    codes = list(DISTRICT_WEIGHTS)
    weights = [DISTRICT_WEIGHTS[c] for c in codes]
    if scale.groups >= len(codes):
        # Every district has groups; the rest follow the districts' sizes.
        districts = codes + rng.choices(codes, weights=weights, k=scale.groups - len(codes))
    else:
        districts = []
        pool, pool_weights = list(codes), list(weights)
        for _ in range(scale.groups):
            pick = rng.choices(range(len(pool)), weights=pool_weights)[0]
            districts.append(pool.pop(pick))
            pool_weights.pop(pick)
    districts.sort()
    groups = []
    latest_founding = first_month.year - 2
    for number, district in enumerate(districts, start=1):
        subdistrict = rng.choice(geothai.subdistricts(district))
        village = rng.choice(names.VILLAGES)
        moo = rng.randint(1, 15)
        if rng.random() < 0.8:
            name = f"กลุ่มออมทรัพย์เพื่อการผลิตบ้าน{village}"
        else:
            name = f"กลุ่มออมทรัพย์เพื่อการผลิตตำบล{subdistrict.name_th}"
        # Most groups are decades old (the movement began in 1974); some are recent.
        year = rng.randint(1985, 2012) if rng.random() < 0.7 else rng.randint(2013, latest_founding)
        founded_on = date(year, rng.randint(1, 12), rng.randint(1, 28))
        groups.append(
            GroupPlan(
                number,
                name,
                district,
                subdistrict.code,
                f"บ้าน{village} หมู่ {moo}",
                founded_on,
                rng.choice(COLLECTION_DAYS),
            )
        )
    return groups


def _group_sizes(rng: random.Random, scale: Scale) -> list[int]:
    """Uneven group sizes adding up to the scale's members exactly (largest remainder)."""
    weights = [rng.lognormvariate(0, 0.6) for _ in range(scale.groups)]
    spare = scale.members - MIN_GROUP_SIZE * scale.groups
    shares = [spare * w / sum(weights) for w in weights]
    sizes = [MIN_GROUP_SIZE + int(s) for s in shares]
    short = scale.members - sum(sizes)
    for i in sorted(range(scale.groups), key=lambda i: (int(shares[i]) - shares[i], i))[:short]:
        sizes[i] += 1
    return sizes


def national_id(rng: random.Random, district_code: str, older: bool) -> str:
    """A valid 13-digit Thai ID: kind of person (3: registered in the 1984 census, 1: born later), the
    registering province and district, a book and a number, then the check digit."""
    first = ("3" if older else "1") + district_code + f"{rng.randint(0, 99999):05d}{rng.randint(0, 99):02d}"
    return first + str(national_id_check_digit(first))


def _members(
    rng: random.Random, groups: list[GroupPlan], sizes: list[int], months: tuple[date, ...], window: tuple[int, int]
) -> list[MemberPlan]:
    start = months[0]
    seen_ids: set[str] = set()
    members: list[MemberPlan] = []
    # New members join through the year, three times as often in the campaign's months.
    join_weights = [3 if window[0] <= i <= window[1] else 1 for i in range(len(months))]
    for group, size in zip(groups, sizes, strict=True):
        for _ in range(size):
            joiner = rng.random() < 0.06
            if joiner:
                month = months[rng.choices(range(len(months)), weights=join_weights)[0]]
                joined_on = month + timedelta(days=rng.randint(0, 27))
            else:
                earliest = max(group.founded_on, date(start.year - 12, start.month, 1))
                latest = start - timedelta(days=35)
                joined_on = earliest + timedelta(days=rng.randint(0, (latest - earliest).days))
            while True:
                nid = national_id(rng, group.district_code, older=not joiner and rng.random() < 0.6)
                if nid not in seen_ids:
                    seen_ids.add(nid)
                    break
            given = rng.choice(names.GIVEN_NAMES_FEMALE if rng.random() < 0.62 else names.GIVEN_NAMES_MALE)
            phone = None
            if rng.random() < 0.75:
                phone = "0" + rng.choice("689") + f"{rng.randint(0, 99_999_999):08d}"
            profile: Profile = rng.choices(("regular", "occasional", "struggling", "lapsed"), weights=(72, 18, 7, 3))[0]
            exit_month = None
            if not joiner and len(months) > 1 and rng.random() < 0.015:
                exit_month = rng.randint(1, len(months) - 1)
            members.append(
                MemberPlan(
                    number=len(members),
                    group=group.number,
                    national_id=nid,
                    full_name=f"{given} {rng.choice(names.SURNAMES)}",
                    phone=phone,
                    joined_on=joined_on,
                    commitment=_weighted(rng, COMMITMENTS_BAHT) * BAHT,
                    profile=profile,
                    consents=not joiner and rng.random() < (0.3 if phone else 0.1),
                    exit_month=exit_month,
                )
            )
    return members


@dataclass
class _Saver:
    plan: MemberPlan
    commitment: int
    sajja: int = 0
    special: int = 0
    seq: int = 0
    exited: bool = False
    missed_last: bool = False
    raised_for_campaign: bool = False
    pending_raise: tuple[int, int] | None = None  # (month index, new commitment)
    lapses_from: int | None = None

    @property
    def total(self) -> int:
        return self.sajja + self.special


def flat_installments(principal: int, rate_bp: int, term: int, disbursed_on: date) -> tuple[Installment, ...]:
    """A flat-interest schedule: interest on the whole principal every month, the total rounded half
    up to the satang; principal and interest each split evenly, the last installment taking what the
    division leaves. The first falls due a month after the payout, the rest monthly on that day."""
    interest_total = (2 * principal * term * rate_bp + 10_000) // 20_000
    principal_each, interest_each = principal // term, interest_total // term
    out = []
    for k in range(1, term + 1):
        last = k == term
        out.append(
            Installment(
                k,
                add_months(disbursed_on, k),
                principal - principal_each * (term - 1) if last else principal_each,
                interest_total - interest_each * (term - 1) if last else interest_each,
            )
        )
    return tuple(out)


def late_penalty(installment: Installment, penalty_bp: int, days_late: int) -> int:
    """The penalty on one installment paid `days_late` days after its due date (a month is 30 days),
    half up to the satang."""
    numerator = installment.total * penalty_bp * days_late
    return (2 * numerator + 300_000) // 600_000


class _GroupYear:
    """One group's year, month by month, keeping the group's cash and each member's balances."""

    def __init__(self, rng: random.Random, group: GroupPlan, members: list[MemberPlan], months: tuple[date, ...]):
        self.rng = rng
        self.group = group
        self.months = months
        self.savers = [_Saver(m, m.commitment) for m in members]
        self.ops: list[MemberOp] = []
        self.loans: list[LoanPlan] = []
        # Repayments (principal and interest) the group receives in each month.
        self.repaid_in = [0] * len(months)

    def _op(
        self,
        saver: _Saver,
        kind: OpKind,
        on: date,
        amount: int,
        account: Account = "sajja",
        special_paid_out: int = 0,
        reason: str | None = None,
    ) -> None:
        saver.seq += 1
        self.ops.append(MemberOp(saver.plan.number, saver.seq, kind, on, amount, account, special_paid_out, reason))

    def run(self, window: tuple[int, int]) -> tuple[list[MemberOp], list[LoanPlan]]:
        rng, start = self.rng, self.months[0]
        lead = add_months(start, -1)
        opening_day = lead - timedelta(days=1)
        for s in self.savers:
            if s.plan.joined_on >= start:
                continue
            # Savings brought forward from the paper books: most of the months since joining, paid.
            months_in = max(1, (lead.year - s.plan.joined_on.year) * 12 + lead.month - s.plan.joined_on.month)
            regularity = rng.uniform(0.6, 0.95)
            s.sajja = max(s.commitment, int(s.commitment * months_in * regularity) // SHARE * SHARE)
            self._op(s, "deposit", opening_day, s.sajja)
            if rng.random() < 0.35:
                s.special = rng.randint(5, 100) * 100 * BAHT
                self._op(s, "deposit", opening_day, s.special, account="special")
            if s.plan.profile == "lapsed":
                s.lapses_from = rng.randint(1, max(1, len(self.months) - 1))
        # The lead month (Province.lead_month): the founders' sajja deposits, as regular as each one is.
        for s in self.savers:
            if s.plan.joined_on >= start:
                continue
            day = min(28, self.group.collection_day + rng.choice((0, 0, 0, 1, 2, 3, 5)))
            if self._pays(s, 0):
                self._op(s, "deposit", max(lead.replace(day=day), s.plan.joined_on), s.commitment)
                s.sajja += s.commitment
            else:
                s.missed_last = True
        cash = sum(s.total for s in self.savers)
        candidates = self._loan_candidates()
        for index, month in enumerate(self.months):
            cash = self._month(index, month, cash, window, candidates.get(index, []))
        return self.ops, self.loans

    def _loan_candidates(self) -> dict[int, list[tuple[_Saver, Product]]]:
        """Who will ask for a loan, and in which month (one loan each over the demo)."""
        rng = self.rng
        weights = [LOAN_SEASON[m.month] for m in self.months]
        out: dict[int, list[tuple[_Saver, Product]]] = {}
        for s in self.savers:
            if s.plan.joined_on >= self.months[0] or s.plan.exit_month is not None:
                continue  # new members have too little saved; leavers do not borrow
            draw = rng.random()
            product = OCCUPATION if draw < 0.22 else EMERGENCY if draw < 0.26 else None
            if product is None:
                continue
            out.setdefault(rng.choices(range(len(self.months)), weights=weights)[0], []).append((s, product))
        return out

    def _month(
        self, index: int, month: date, cash: int, window: tuple[int, int], candidates: list[tuple[_Saver, Product]]
    ) -> int:
        rng, last_day = self.rng, month_end(month)
        in_window = window[0] <= index <= window[1]
        out = inflow = 0
        savings_at_start = {id(s): s.total for s in self.savers}
        withdrawn: dict[int, int] = {}
        for s in self.savers:
            p = s.plan
            if p.joined_on > last_day or s.exited:
                continue
            joins_now = p.joined_on >= month
            if s.pending_raise is not None and s.pending_raise[0] == index:
                s.commitment = s.pending_raise[1]
                s.pending_raise = None
                self._op(s, "raise", month, s.commitment)
            if p.exit_month == index:
                payout = s.total
                if payout <= cash - out:
                    on = month + timedelta(days=rng.randint(9, 27))
                    self._op(s, "exit", on, s.sajja, special_paid_out=s.special, reason=rng.choice(names.EXIT_REASONS))
                    out += payout
                    s.sajja = s.special = 0
                    s.exited = True
                    continue
            day = min(28, self.group.collection_day + rng.choice((0, 0, 0, 1, 2, 3, 5)))
            on = max(month.replace(day=day), p.joined_on)
            if joins_now or self._pays(s, index):
                catch_up = s.missed_last and rng.random() < 0.35
                amount = s.commitment * (2 if catch_up else 1)
                self._op(s, "deposit", on, amount)
                s.sajja += amount
                inflow += amount
                s.missed_last = False
            else:
                s.missed_last = True
            if rng.random() < (0.14 if in_window else 0.04):
                choices = (50, 100, 100, 200, 300, 500, 1000) if in_window else (100, 200, 500, 1000, 2000, 5000)
                amount = rng.choice(choices) * BAHT
                self._op(s, "deposit", on, amount, account="special")
                s.special += amount
                inflow += amount
            if s.special >= 1_000 * BAHT and rng.random() < 0.012:
                amount = int(s.special * rng.uniform(0.2, 0.7)) // (100 * BAHT) * (100 * BAHT)
                if 0 < amount <= cash - out:
                    when = on + timedelta(days=rng.randint(0, max(0, 28 - on.day)))
                    self._op(s, "withdrawal", when, amount, account="special")
                    s.special -= amount
                    out += amount
                    withdrawn[id(s)] = amount
            self._decide_raise(s, index, window)
        for s, product in candidates:
            if s.exited:
                continue
            floor = savings_at_start[id(s)] - withdrawn.get(id(s), 0)
            out += self._loan(s, product, month, floor, cash - out)
        return cash + inflow - out + self.repaid_in[index]

    def _pays(self, s: _Saver, index: int) -> bool:
        rng = self.rng
        if s.plan.profile == "regular":
            return rng.random() > 0.01
        if s.plan.profile == "occasional":
            return rng.random() > 0.12
        if s.plan.profile == "struggling":
            return rng.random() > 0.35
        return s.lapses_from is None or index < s.lapses_from

    def _decide_raise(self, s: _Saver, index: int, window: tuple[int, int]) -> None:
        """Raises decided at this month's meeting take effect next month. During the campaign, members
        raise by 50 baht (what it counts); at other times a few raise by 50 or 100."""
        rng, following = self.rng, index + 1
        if following >= len(self.months) or s.pending_raise is not None or s.plan.joined_on >= self.months[index]:
            return
        if window[0] < following <= window[1] and not s.raised_for_campaign and rng.random() < 0.08:
            step = 50 * BAHT
            s.raised_for_campaign = True
        elif not window[0] <= following <= window[1] and rng.random() < 0.003:
            step = rng.choice((50, 50, 100)) * BAHT
        else:
            return
        if s.commitment + step <= MAX_COMMITMENT:
            s.pending_raise = (following, s.commitment + step)

    def _loan(self, s: _Saver, product: Product, month: date, savings: int, cash: int) -> int:
        """Plan one application; the payout it makes (0 when there is none)."""
        rng, group = self.rng, self.group
        if product is OCCUPATION:
            wanted = rng.choice((5, 8, 10, 10, 15, 20, 20, 30, 40, 50)) * 1_000 * BAHT
            term = rng.choice((6, 10, 12, 12, 12, 12, 18, 24))
            purpose = rng.choice(names.OCCUPATION_PURPOSES)
        else:
            wanted = rng.choice((2, 3, 5, 5, 10)) * 1_000 * BAHT
            term = rng.choice((3, 4, 6))
            purpose = rng.choice(names.EMERGENCY_PURPOSES)
        # What the product allows on these savings, and what the group's cash can pay, in whole thousands.
        unit = 1_000 * BAHT
        principal = min(wanted, product.max_amount, savings * product.savings_multiple, cash) // unit * unit
        if principal < 2 * unit:
            return 0
        others = [
            o
            for o in self.savers
            if o is not s and not o.exited and o.plan.exit_month is None and o.plan.joined_on < self.months[0]
        ]
        if len(others) < product.guarantors:
            return 0
        guarantors = tuple(sorted(o.plan.number for o in rng.sample(others, product.guarantors)))
        applied_day = min(26, group.collection_day + rng.randint(1, 5))
        applied_on = month.replace(day=applied_day)
        if rng.random() < 0.03:
            self.loans.append(
                LoanPlan(
                    group.number,
                    s.plan.number,
                    product,
                    principal,
                    term,
                    purpose,
                    guarantors,
                    applied_on,
                    None,
                    rng.choice(names.REJECTION_REASONS),
                    "on_time",
                    (),
                    (),
                )
            )
            return 0
        disbursed_on = applied_on + timedelta(days=rng.randint(0, 2))
        schedule = flat_installments(principal, product.rate_bp, term, disbursed_on)
        behaviour: Behaviour = rng.choices(("on_time", "late", "stopped"), weights=(74, 16, 10))[0]
        stops_after = rng.randint(0, max(0, term - 1)) if behaviour == "stopped" else term
        payments = []
        demo_end = month_end(self.months[-1])
        for inst in schedule[:stops_after]:
            if behaviour == "late":
                late = rng.randint(3, 25)
            else:
                late = rng.randint(1, 10) if rng.random() < 0.08 else 0
            paid_on = inst.due_on + timedelta(days=late)
            if paid_on > demo_end:
                break
            payments.append(
                Payment(
                    inst.number, paid_on, inst.principal, inst.interest, late_penalty(inst, product.penalty_bp, late)
                )
            )
            paid_index = (paid_on.year - self.months[0].year) * 12 + paid_on.month - self.months[0].month
            # The group's cash counts principal and interest; the penalty is left out (it only adds).
            self.repaid_in[paid_index] += inst.total
        self.loans.append(
            LoanPlan(
                group.number,
                s.plan.number,
                product,
                principal,
                term,
                purpose,
                guarantors,
                applied_on,
                disbursed_on,
                None,
                behaviour,
                schedule,
                tuple(payments),
            )
        )
        return principal


def _tickets(rng: random.Random, scale: Scale, months: tuple[date, ...]) -> tuple[TicketPlan, ...]:
    """Pawn tickets at two of the office's branches in the province, with their fates."""
    count = max(2, round(scale.members / 60))
    demo_end = month_end(months[-1])
    tickets = []
    for number in range(1, count + 1):
        branch, district, _ = rng.choices(PAWN_BRANCHES, weights=[w for _, _, w in PAWN_BRANCHES])[0]
        month = rng.choice(months)
        pledged_on = month + timedelta(days=rng.randint(0, 27))
        tickets.append(plan_pawn_ticket(rng, number, branch, district, "sk", pledged_on, demo_end))
    return tuple(tickets)


def plan_pawn_ticket(
    rng: random.Random, number: int, branch: str, district: str, ref_prefix: str, pledged_on: date, end: date
) -> TicketPlan:
    """One pawn ticket pledged on `pledged_on`: the item and its appraisal, the loan, how it is paid out, and its
    fate (redeemed, renewed, forfeited and maybe sold, still open) up to `end`. Also the national benchmark's."""
    category = rng.choices(("gold", "jewellery", "electronics", "tools", "other"), weights=(55, 10, 15, 15, 5))[0]
    description, low, high = rng.choice(names.PAWN_ITEMS[category])
    appraised = rng.randint(low, high) // 100 * 100 * BAHT
    principal = max(500 * BAHT, int(appraised * rng.uniform(0.6, 0.9)) // (100 * BAHT) * (100 * BAHT))
    channel = rng.choices(("cash", "promptpay", "bank_transfer"), weights=(6, 3, 1))[0]
    payout: dict[str, str] = {"channel": channel}
    if channel == "promptpay":
        payout["promptpay_id"] = "0" + rng.choice("689") + f"{rng.randint(0, 99_999_999):08d}"
    elif channel == "bank_transfer":
        payout |= {
            "bank_code": rng.choice(("030", "002", "006")),
            "account_number": f"{rng.randint(0, 10**10 - 1):010d}",
        }
    actions: list[PawnAction] = []
    fate = rng.choices(("redeem", "renew-redeem", "renew", "forfeit", "open"), weights=(55, 15, 10, 12, 8))[0]
    if fate == "redeem":
        actions.append(PawnAction("redemption", pledged_on + timedelta(days=rng.randint(20, 140))))
    elif fate in ("renew-redeem", "renew"):
        renewed_on = pledged_on + timedelta(days=rng.randint(60, 140))
        actions.append(PawnAction("renewal", renewed_on))
        if fate == "renew-redeem":
            actions.append(PawnAction("redemption", renewed_on + timedelta(days=rng.randint(30, 120))))
    elif fate == "forfeit":
        forfeited_on = maturity_date(pledged_on) + timedelta(days=rng.randint(1, 20))
        actions.append(PawnAction("forfeiture", forfeited_on))
        if rng.random() < 0.6:
            price = int(appraised * rng.uniform(0.9, 1.2)) // (100 * BAHT) * (100 * BAHT)
            actions.append(PawnAction("sale", forfeited_on + timedelta(days=rng.randint(7, 40)), price))
    return TicketPlan(
        number,
        branch,
        district,
        f"{ref_prefix}-{rng.getrandbits(32):08x}",
        category,
        description,
        appraised,
        principal,
        pledged_on,
        payout,
        tuple(a for a in actions if a.on <= end),
    )


def _governance(rng: random.Random, groups: list[GroupPlan], months: tuple[date, ...]) -> tuple[GovernanceItem, ...]:
    items = []
    for group in groups:
        for item, share in GOVERNANCE_ITEMS:
            if rng.random() < share:
                month = rng.choice(months)
                items.append(GovernanceItem(group.number, item, True, month + timedelta(days=rng.randint(0, 27))))
    return tuple(items)


def _campaign(
    rng: random.Random, groups: list[GroupPlan], months: tuple[date, ...], window: tuple[int, int], scale: Scale
) -> CampaignPlan:
    starts_on, ends_on = months[window[0]], month_end(months[window[1]])
    be_year = starts_on.year + 543
    districts = sorted({g.district_code for g in groups})
    # Most districts report; a couple (when there are enough) never do.
    missing = set(rng.sample(districts, 2)) if len(districts) >= 5 else set()
    reporting = tuple(d for d in districts if d not in missing)
    return CampaignPlan(
        campaign_id=f"demo-savings-{be_year}",
        name_th=f"รณรงค์ส่งเสริมการออม กลุ่มออมทรัพย์เพื่อการผลิต จังหวัดสระแก้ว ปี {be_year}",
        name_en=f"Sa Kaeo savings-group savings drive {be_year}",
        starts_on=starts_on,
        ends_on=ends_on,
        deadlines={
            "nominations": months[window[1]].replace(day=15).isoformat(),
            # Due at the end of the demo's running month (its reports come in before it: on time, as an office
            # that reports when it should), the province's a fortnight later. A report cannot be dated back, so
            # a deadline already passed would make every report the demo sends a late one.
            "district_report": month_end(months[-1]).isoformat(),
            "province_report": (month_end(months[-1]) + timedelta(days=15)).isoformat(),
        },
        targets={
            PROVINCE_CODE: {
                "new_members": max(1, round(scale.members * 0.04)),
                "special_depositors": max(1, round(scale.members * 0.2)),
            }
        },
        reporting_districts=reporting,
        notes={d: rng.choice(names.CAMPAIGN_REPORT_NOTES) for d in reporting},
    )
