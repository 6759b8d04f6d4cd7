"""A synthetic nation, planned from a seed, group by group — and each group's year as the events the services
write.

Scale 1.0 is the department's December 2023 figures (DOMAIN.md §1): 31,715 groups over all 928 DOPA districts
(more groups where a district has more subdistricts), 3,262,510 members. The year runs April 2023 – March
2024, so it holds the `savings-50y` campaign's window (December 2023 – February 2024).

A group's year is the demo's (sajja_cli/demo/generator.py: members with valid national IDs and Thai names,
savings brought forward from the paper books, a year of monthly sajja deposits with some missed and some
caught up, special deposits, withdrawals, commitment raises — 50 baht in the campaign's window — exits, and
group loans with repayments on time, late or stopped), with loans to about a third of the members, pawn
tickets at an office branch in the group's district, and consents to GSB's loan referrals. Every event is
decided by the services' own domain functions (ledger: register_group, enroll_member, close_month and
the lending postings; lending: apply_for_loan, approve, start/complete_disbursement, repay,
overdue_installments; pawn tickets) or, for the plain savings moves, built as the domain builds them (a
test replays them through the domain: tests/unit/test_national_nation.py). Personal data goes to the
ledger's member register, free text to the services' free-text registers; events carry the keyed
national-ID hash and text ids. The sagas' inbox messages are recorded as answered, since their answers
are written too.

Everything is a function of (seed, scale, group number): a group is generated alone, in any process.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

import geothai
import orjson

from libs.events.envelope import BANGKOK, Actor, Area, EventPayload
from libs.events.free_text import FreeText
from libs.events.inbox import InboxMessage
from libs.events.registry import REGISTRY
from libs.events.schemas.ledger import GroupRules
from libs.events.schemas.lending import ProductDefined
from libs.events.store import PreparedEvent
from sajja_cli.demo import generator as demo
from sajja_cli.demo import names
from services.ledger import domain as ledger
from services.ledger import installments
from services.ledger.lending_postings import LENDING as LEDGER_SAGA
from services.ledger.lending_postings import decide_posting
from services.lending import domain as lending
from services.lending import pawn_tickets
from services.lending.api import ProductRequest
from services.lending.handlers import SAGA as LENDING_SAGA

GROUPS = 31_715
MEMBERS = 3_262_510
YEAR_END = date(2024, 3, 31)
MONTHS = demo.demo_months(YEAR_END, 12)  # April 2023 … March 2024
WINDOW = (8, 10)  # December 2023 … February 2024: savings-50y's window
CAMPAIGN = "savings-50y"
OPENING_DAY = MONTHS[0] - timedelta(days=1)
CONSENT = {"partner": "gsb", "purpose": "loan-referral", "notice_version": "2023-01"}
DEPARTMENT = Actor(kind="user", id="cdd-department")
PAWNSHOP = Actor(kind="partner", id="pawnshop")


def scaled(scale: float) -> tuple[int, int]:
    """(groups, members) at a scale; at least one group of the smallest size."""
    groups = max(1, round(GROUPS * scale))
    return groups, max(groups * demo.MIN_GROUP_SIZE, round(MEMBERS * scale))


# --- the plan: which district each group is in, and its size ------------------------------------------------


@dataclass(frozen=True)
class GroupSpec:
    number: int  # 0-based, in district order
    province_code: str
    district_code: str
    size: int
    first_member: int  # the nation-wide number of its first member


@cache
def _districts() -> tuple[tuple[str, str, int], ...]:
    """Every DOPA district: (province, district, number of subdistricts)."""
    return tuple(
        (d.province_code, d.code, len(geothai.subdistricts(d.code)))
        for p in geothai.provinces()
        for d in geothai.districts(p.code)
    )


@cache
def _subdistricts(district: str) -> tuple[Any, ...]:
    return tuple(geothai.subdistricts(district))


def plan(seed: int, scale: float) -> list[GroupSpec]:
    """The nation's groups: every district has some when there are enough groups (the rest follow the number
    of subdistricts, a stand-in for villages); uneven sizes adding up to the scale's members exactly."""
    groups, members = scaled(scale)
    rng = random.Random(f"{seed}:nation")
    districts = list(_districts())
    weights = [max(1, n) for _, _, n in districts]
    if groups >= len(districts):
        picked = districts + rng.choices(districts, weights=weights, k=groups - len(districts))
    else:
        picked = []
        pool, pool_weights = list(districts), list(weights)
        for _ in range(groups):
            i = rng.choices(range(len(pool)), weights=pool_weights)[0]
            picked.append(pool.pop(i))
            pool_weights.pop(i)
    picked.sort(key=lambda d: d[1])
    sizes = _sizes(rng, groups, members)
    specs, first = [], 0
    for number, ((province, district, _), size) in enumerate(zip(picked, sizes, strict=True)):
        specs.append(GroupSpec(number, province, district, size, first))
        first += size
    return specs


def _sizes(rng: random.Random, groups: int, members: int) -> list[int]:
    """Uneven group sizes adding up to `members` (largest remainder), each at least the demo's minimum."""
    weights = [rng.lognormvariate(0, 0.6) for _ in range(groups)]
    spare = members - demo.MIN_GROUP_SIZE * groups
    total = sum(weights)
    shares = [spare * w / total for w in weights]
    sizes = [demo.MIN_GROUP_SIZE + int(s) for s in shares]
    for i in sorted(range(groups), key=lambda i: (int(shares[i]) - shares[i], i))[: members - sum(sizes)]:
        sizes[i] += 1
    return sizes


# --- products (written once, before the groups) ---------------------------------------------------------------


def products() -> list[ProductDefined]:
    """The demo's two group-loan products, as lending's POST /products turns them into events."""
    return [lending.define_product(ProductRequest.model_validate(p.request()).to_event()) for p in demo.PRODUCTS]


# --- a group's year as events -----------------------------------------------------------------------------------


@dataclass
class Output:
    """What one or more groups add to the stores and registers."""

    ledger: list[PreparedEvent] = field(default_factory=list)
    lending: list[PreparedEvent] = field(default_factory=list)
    ledger_texts: list[tuple[str, FreeText]] = field(default_factory=list)
    lending_texts: list[tuple[str, FreeText]] = field(default_factory=list)
    # ledger.member_register: member, group, hash, national id, name, phone, no status, joined on
    register: list[tuple[Any, ...]] = field(default_factory=list)
    # lending.payout_register: instruction, ticket, channel, bank code, account number, promptpay id
    payouts: list[tuple[Any, ...]] = field(default_factory=list)
    # <schema>.inbox, answered: message id, kind, payload JSON, outcome
    ledger_inbox: list[tuple[str, str, str, str]] = field(default_factory=list)
    lending_inbox: list[tuple[str, str, str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def extend(self, other: Output) -> None:
        for name in ("ledger", "lending", "ledger_texts", "lending_texts", "register", "payouts"):
            getattr(self, name).extend(getattr(other, name))
        self.ledger_inbox.extend(other.ledger_inbox)
        self.lending_inbox.extend(other.lending_inbox)
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v

    @property
    def events(self) -> int:
        return len(self.ledger) + len(self.lending)


def uuid7(ms: int, bits: int) -> uuid.UUID:
    """A UUIDv7 for a moment (milliseconds since the epoch) and 74 drawn bits."""
    return uuid.UUID(
        int=(ms << 80) | (0x7 << 76) | (((bits >> 62) & 0xFFF) << 64) | (0b10 << 62) | (bits & ((1 << 62) - 1))
    )


def national_id(number: int, district_code: str, older: bool) -> str:
    """A valid 13-digit Thai ID, unique to the member's nation-wide number (a bijection of it into seven
    digits), registered in the group's district."""
    body = (number * 7_919 + 1_234_567) % 10_000_000
    first = ("3" if older else "1") + district_code + f"{body:07d}"
    return first + str(ledger.national_id_check_digit(first))


class _NationalYear(demo._GroupYear):
    """The demo's group year, with loans to about a third of the members (the department's figures: 1,032,718
    borrowers among 3,262,510 members) instead of a quarter."""

    def _loan_candidates(self) -> dict[int, list[tuple[demo._Saver, demo.Product]]]:
        rng = self.rng
        weights = [demo.LOAN_SEASON[m.month] for m in self.months]
        out: dict[int, list[tuple[demo._Saver, demo.Product]]] = {}
        for s in self.savers:
            if s.plan.joined_on >= self.months[0] or s.plan.exit_month is not None:
                continue
            draw = rng.random()
            product = demo.OCCUPATION if draw < 0.30 else demo.EMERGENCY if draw < 0.36 else None
            if product is None:
                continue
            out.setdefault(rng.choices(range(len(self.months)), weights=weights)[0], []).append((s, product))
        return out


@dataclass
class _Member:
    plan: demo.MemberPlan
    member_id: uuid.UUID
    stream: str
    commitments: list[tuple[date, int]]
    balances: dict[str, int] = field(default_factory=lambda: {"sajja": 0, "special": 0})
    paid: dict[date, int] = field(default_factory=dict)
    exited_on: date | None = None
    ids: dict[str, str] = field(default_factory=dict)
    # The domain's view for the month-end close (its `paid` is this one's dict); made again on a change.
    _domain: ledger.Member | None = None

    def domain(self, group: GroupContext) -> ledger.Member:
        if self._domain is None:
            self._domain = self._make(group)
        return self._domain

    def changed(self) -> None:
        self._domain = None

    def _make(self, group: GroupContext) -> ledger.Member:
        return ledger.Member(
            self.member_id,
            group.group_id,
            group.area,
            self.plan.joined_on,
            self.commitments[-1][1],
            0,
            commitments=tuple(self.commitments),
            sajja_paid_by_month=self.paid,
            exited_on=self.exited_on,
        )


@dataclass
class GroupContext:
    group_id: uuid.UUID
    area: Area
    spec: GroupSpec


@cache
def _opening(on: date) -> datetime:
    return datetime.combine(on, time(9), BANGKOK)


@cache
def _opening_ms(on: date) -> int:
    return int(_opening(on).timestamp() * 1000)


_SECONDS = [timedelta(seconds=k) for k in range(28_800)]

# Business events happen in office hours, in order within a group's day.
_ORDER = {"enrol": 0, "consent": 1, "op": 2, "apply": 3, "disburse": 4, "repay": 5, "pawn": 6, "day": 8, "month": 9}


class GroupYear:
    """One group's year, as the events, register rows and inbox rows the platform would hold."""

    def __init__(self, seed: int, spec: GroupSpec, hash_key: str, today: date, product_events: list[ProductDefined]):
        self.seed = seed
        self.spec = spec
        self.hash_key = hash_key
        self.today = today
        self.products = {p.product_id: p for p in product_events}
        self.rng = random.Random(f"{seed}:group:{spec.number}")
        self.ids = random.Random(f"{seed}:ids:{spec.number}")
        self.out = Output()
        self.versions: dict[str, int] = {}
        self.area = Area(province_code=spec.province_code, district_code=spec.district_code)
        self._area_json = self.area.model_dump_json()
        self._actors: dict[Actor, str] = {}
        self._tick = 0
        key = f"g{spec.number:05d}"
        self.officers = (f"{key}-treasurer", f"{key}-chair", f"{key}-secretary")
        self.treasurer = Actor(kind="user", id=self.officers[0])

    # --- emitting --------------------------------------------------------------------------------------------
    def _at(self, on: date) -> datetime:
        self._tick += 1
        return _opening(on) + _SECONDS[self._tick % 28_800]

    def new_id(self, on: date) -> uuid.UUID:
        """A UUIDv7 of a moment in the day's office hours (drawn from the group's own id stream)."""
        bits = self.ids.getrandbits(99)
        return uuid7(_opening_ms(on) + (bits >> 74) % 28_800_000, bits)

    def _actor(self, actor: Actor) -> str:
        text = self._actors.get(actor)
        if text is None:
            text = self._actors[actor] = actor.model_dump_json()
        return text

    def emit(
        self,
        store: str,
        stream: str,
        on: date,
        actor: Actor,
        payload: EventPayload | tuple[str, int, dict[str, Any]],
        area: Area | None = None,
    ) -> PreparedEvent:
        if isinstance(payload, EventPayload):
            event_type, schema_version = REGISTRY.name_of(payload)
            body = payload.model_dump(mode="json")
        else:
            event_type, schema_version, body = payload
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        event = PreparedEvent(
            stream_id=stream,
            stream_version=version,
            event_id=self.new_id(on),
            event_type=event_type,
            schema_version=schema_version,
            occurred_at=self._at(on),
            actor=self._actor(actor),
            area=self._area_json if area is None else area.model_dump_json(),
            payload=orjson.dumps(body).decode(),
        )
        (self.out.ledger if store == "ledger" else self.out.lending).append(event)
        self.out.counts[event_type] = self.out.counts.get(event_type, 0) + 1
        return event

    # --- the year ----------------------------------------------------------------------------------------------
    def run(self) -> Output:
        rng, spec = self.rng, self.spec
        founded = self._founded()
        subdistrict = rng.choice(_subdistricts(spec.district_code))
        village = rng.choice(names.VILLAGES)
        group_plan = demo.GroupPlan(
            spec.number,
            f"กลุ่มออมทรัพย์เพื่อการผลิตบ้าน{village}"
            if rng.random() < 0.8
            else f"กลุ่มออมทรัพย์เพื่อการผลิตตำบล{subdistrict.name_th}",
            spec.district_code,
            subdistrict.code,
            f"บ้าน{village} หมู่ {rng.randint(1, 15)}",
            founded,
            rng.choice(demo.COLLECTION_DAYS),
        )
        self.group_id = self.new_id(founded)
        self.group_stream = ledger.group_stream(self.group_id)
        registered = ledger.register_group(
            group_id=self.group_id,
            name=group_plan.name,
            province_code=spec.province_code,
            district_code=spec.district_code,
            subdistrict_code=group_plan.subdistrict_code,
            village=group_plan.village,
            founded_on=founded,
            today=self.today,
            rules=GroupRules(collection_day=group_plan.collection_day),
        )
        self.emit("ledger", self.group_stream, founded, DEPARTMENT, registered)
        self.group = ledger.Group(self.group_id, group_plan.name, self.area, founded, 1, registered.rules)
        self.context = GroupContext(self.group_id, self.area, spec)
        plans = self._member_plans(group_plan)
        self.members = {p.number: self._enrolment(p) for p in plans}
        ops, loans = _NationalYear(rng, group_plan, plans, MONTHS).run(WINDOW)
        actions: list[tuple[date, int, int, Callable[[], None]]] = []

        def at(on: date, kind: str, act: Callable[[], None]) -> None:
            actions.append((on, _ORDER[kind], len(actions), act))

        for p in plans:
            at(p.joined_on, "enrol", lambda p=p: self._enrol(p))  # type: ignore[misc]
            if p.consents:
                at(OPENING_DAY, "consent", lambda p=p: self._consent(p))  # type: ignore[misc]
        for op in ops:
            at(op.on, "op", lambda op=op: self._member_op(op))  # type: ignore[misc]
        self.loans: dict[uuid.UUID, lending.Loan] = {}
        for loan in loans:
            self._plan_loan(loan, at)
        for ticket in self._tickets():
            self._plan_ticket(ticket, at)
        for month in MONTHS:
            end = demo.month_end(month)
            at(end, "day", lambda end=end: self._day_close(end))  # type: ignore[misc]
            at(end, "month", lambda month=month: self._close_month(month))  # type: ignore[misc]
        actions.sort()  # (date, kind, seq): seq is unique, the callables are never compared
        for _, _, _, act in actions:
            act()
        self.out.counts["groups"] = 1
        self.out.counts["members"] = len(plans)
        return self.out

    def _founded(self) -> date:
        rng = self.rng
        year = rng.randint(1985, 2012) if rng.random() < 0.7 else rng.randint(2013, MONTHS[0].year - 2)
        return date(year, rng.randint(1, 12), rng.randint(1, 28))

    def _member_plans(self, group: demo.GroupPlan) -> list[demo.MemberPlan]:
        """The demo's members (demo._members), for one group: 6 % join during the year, three times as often
        in the campaign's months; national IDs unique by construction."""
        rng, spec, start = self.rng, self.spec, MONTHS[0]
        join_weights = [3 if WINDOW[0] <= i <= WINDOW[1] else 1 for i in range(len(MONTHS))]
        plans = []
        for k in range(spec.size):
            number = spec.first_member + k
            joiner = rng.random() < 0.06
            if joiner:
                month = MONTHS[rng.choices(range(len(MONTHS)), weights=join_weights)[0]]
                joined_on = month + timedelta(days=rng.randint(0, 27))
            else:
                earliest = max(group.founded_on, date(start.year - 12, start.month, 1))
                latest = start - timedelta(days=35)
                joined_on = earliest + timedelta(days=rng.randint(0, max(0, (latest - earliest).days)))
            older = not joiner and rng.random() < 0.6
            given = rng.choice(names.GIVEN_NAMES_FEMALE if rng.random() < 0.62 else names.GIVEN_NAMES_MALE)
            phone = "0" + rng.choice("689") + f"{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.75 else None
            profile = rng.choices(("regular", "occasional", "struggling", "lapsed"), weights=(72, 18, 7, 3))[0]
            exit_month = rng.randint(1, len(MONTHS) - 1) if not joiner and rng.random() < 0.015 else None
            plans.append(
                demo.MemberPlan(
                    number=number,
                    group=group.number,
                    national_id=national_id(number, spec.district_code, older),
                    full_name=f"{given} {rng.choice(names.SURNAMES)}",
                    phone=phone,
                    joined_on=joined_on,
                    commitment=demo._weighted(rng, demo.COMMITMENTS_BAHT) * demo.BAHT,
                    profile=profile,  # type: ignore[arg-type]
                    consents=not joiner and rng.random() < (0.3 if phone else 0.1),
                    exit_month=exit_month,
                )
            )
        return plans

    def _enrolment(self, p: demo.MemberPlan) -> _Member:
        member_id = self.new_id(p.joined_on)
        return _Member(
            p,
            member_id,
            ledger.member_stream(member_id),
            [(p.joined_on.replace(day=1), p.commitment)],
            ids={"member_id": str(member_id), "group_id": str(self.group_id)},
        )

    # --- ledger ------------------------------------------------------------------------------------------------
    def _enrol(self, p: demo.MemberPlan) -> None:
        m = self.members[p.number]
        digest = ledger.national_id_hash(p.national_id, self.hash_key)
        event = ledger.enroll_member(self.group, m.member_id, p.joined_on, p.commitment, digest, self.today)
        self.emit("ledger", m.stream, p.joined_on, self.treasurer, event)
        self.out.register.append(
            (m.member_id, self.group_id, digest, p.national_id, p.full_name, p.phone, False, p.joined_on)
        )

    def _consent(self, p: demo.MemberPlan) -> None:
        m = self.members[p.number]
        payload = {"member_id": str(m.member_id), "group_id": str(self.group_id)} | CONSENT
        self.emit("ledger", m.stream, OPENING_DAY, self.treasurer, ("ledger.ConsentGranted", 1, payload))

    def _member_op(self, op: demo.MemberOp) -> None:
        m = self.members[op.member]
        base = m.ids
        if op.kind == "deposit":
            m.balances[op.account] += op.amount
            if op.account == "sajja":
                month = op.on.replace(day=1)
                m.paid[month] = m.paid.get(month, 0) + op.amount
            payload = {
                "transaction_id": str(self.new_id(op.on)),
                **base,
                "account": op.account,
                "amount_satang": op.amount,
                "deposited_on": op.on.isoformat(),
                "balance_after_satang": m.balances[op.account],
            }
            self.emit("ledger", m.stream, op.on, self.treasurer, ("ledger.SavingsDeposited", 1, payload))
        elif op.kind == "withdrawal":
            m.balances[op.account] -= op.amount
            payload = {
                "transaction_id": str(self.new_id(op.on)),
                **base,
                "account": op.account,
                "amount_satang": op.amount,
                "withdrawn_on": op.on.isoformat(),
                "balance_after_satang": m.balances[op.account],
            }
            self.emit("ledger", m.stream, op.on, self.treasurer, ("ledger.SavingsWithdrawn", 1, payload))
        elif op.kind == "raise":
            month = op.on.replace(day=1)
            previous = m.commitments[-1][1]
            m.commitments = [c for c in m.commitments if c[0] < month] + [(month, op.amount)]
            m.changed()
            payload = base | {
                "previous_monthly_commitment_satang": previous,
                "monthly_commitment_satang": op.amount,
                "effective_month": month.isoformat(),
            }
            self.emit("ledger", m.stream, op.on, self.treasurer, ("ledger.CommitmentChanged", 1, payload))
        else:
            reason = FreeText(self.new_id(op.on), "reason", op.reason or "")
            exited = ledger.exit_member(
                replace(m.domain(self.context), balances=dict(m.balances)),
                op.on,
                reason if op.reason else None,
                self.today,
            )
            m.balances = {"sajja": 0, "special": 0}
            m.exited_on = op.on
            m.changed()
            self.emit("ledger", m.stream, op.on, self.treasurer, exited)
            if op.reason:
                self.out.ledger_texts.append((m.stream, reason))

    def _close_month(self, month: date) -> None:
        members = [m.domain(self.context) for m in self.members.values() if m.plan.joined_on <= demo.month_end(month)]
        closed, missed = installments.close_month(self.group, members, month, self.today)
        on = demo.month_end(month)
        self.emit("ledger", self.group_stream, on, self.treasurer, closed)
        by_id = {m.member_id: m for m in self.members.values()}
        for event in missed:
            self.emit("ledger", by_id[event.member_id].stream, on, self.treasurer, event)
        self.group = replace(self.group, closed_through=month)

    def _posting(self, request: PreparedEvent, payload: dict[str, Any], on: date) -> PreparedEvent:
        """The ledger's answer to a lending request (decide_posting), with both inboxes' messages answered."""
        message = InboxMessage(str(request.event_id), request.event_type, payload)
        posting = decide_posting(self.group, message, 10**15, self.new_id(on))
        event = self.emit("ledger", self.group_stream, on, LEDGER_SAGA, posting)
        self.out.ledger_inbox.append((message.message_id, message.kind, request.payload, "posted"))
        answer = "nothing to do"
        if request.event_type == "lending.DisbursementRequested":
            refused = event.event_type == "ledger.LendingPostingRefused"
            answer = "LoanDisbursementFailed" if refused else "LoanDisbursed"
        self.out.lending_inbox.append((str(event.event_id), event.event_type, event.payload, answer))
        return event

    # --- lending -----------------------------------------------------------------------------------------------
    def _loan_event(self, loan_id: uuid.UUID, on: date, actor: Actor, payload: EventPayload) -> PreparedEvent:
        event = self.emit("lending", lending.loan_stream(loan_id), on, actor, payload)
        self.loans[loan_id] = lending.loan_from_events([(payload, event.stream_version)], start=self.loans.get(loan_id))  # type: ignore[assignment]
        return event

    def _plan_loan(self, plan: demo.LoanPlan, at: Callable[[date, str, Callable[[], None]], None]) -> None:
        loan_id = self.new_id(plan.applied_on)
        state: dict[str, bool] = {"refused": False}

        def apply() -> None:
            m = self.members[plan.member]
            facts = self._facts(m)
            guarantors = [(self.members[g].member_id, self._facts(self.members[g])) for g in plan.guarantors]
            purpose = FreeText(self.new_id(plan.applied_on), "purpose", plan.purpose)
            try:
                applied = lending.apply_for_loan(
                    loan_id,
                    self.products[plan.product.product_id],
                    facts,
                    guarantors,
                    plan.principal,
                    plan.term,
                    purpose,
                    plan.applied_on,
                    self.today,
                    self.officers[0],
                )
            except lending.LendingRuleBroken:
                state["refused"] = True
                self.out.counts["loans refused"] = self.out.counts.get("loans refused", 0) + 1
                return
            self._loan_event(loan_id, plan.applied_on, self.treasurer, applied)
            self.out.lending_texts.append((lending.loan_stream(loan_id), purpose))
            if plan.disbursed_on is None:
                reason = FreeText(self.new_id(plan.applied_on), "reason", plan.rejection_reason or "-")
                rejected = lending.reject(self.loans[loan_id], self.officers[1], reason)
                self._loan_event(loan_id, plan.applied_on, Actor(kind="user", id=self.officers[1]), rejected)
                self.out.lending_texts.append((lending.loan_stream(loan_id), reason))
                return
            for approver in self.officers[1:]:
                if self.loans[loan_id].status != "applied":
                    break
                approval = lending.approve(self.loans[loan_id], approver)
                self._loan_event(loan_id, plan.applied_on, Actor(kind="user", id=approver), approval)

        def disburse() -> None:
            if state["refused"] or plan.disbursed_on is None:
                return
            on = plan.disbursed_on
            [requested] = lending.start_disbursement(self.loans[loan_id], self.new_id(on), on, self.today)
            request = self._loan_event(loan_id, on, self.treasurer, requested)
            posting = self._posting(request, requested.model_dump(mode="json"), on)
            assert isinstance(requested, lending.DisbursementRequested)
            answered = json.loads(posting.payload)
            answer: EventPayload | None
            if posting.event_type == "ledger.LendingPostingRefused":
                answer = lending.fail_disbursement(self.loans[loan_id], requested.request_id, answered["reason"])
            else:
                posted_on = date.fromisoformat(answered["posted_on"])
                answer = lending.complete_disbursement(self.loans[loan_id], requested.request_id, posted_on)
            assert answer is not None
            self._loan_event(loan_id, on, LENDING_SAGA, answer)

        at(plan.applied_on, "apply", apply)
        if plan.disbursed_on is not None:
            at(plan.disbursed_on, "disburse", disburse)
        for payment in plan.payments:
            at(payment.paid_on, "repay", lambda p=payment: self._repay(loan_id, p))  # type: ignore[misc]

    def _facts(self, m: _Member) -> lending.MemberFacts:
        return lending.MemberFacts(
            m.member_id, self.group_id, self.area, m.exited_on is None, m.balances["sajja"] + m.balances["special"]
        )

    def _repay(self, loan_id: uuid.UUID, payment: demo.Payment) -> None:
        loan = self.loans.get(loan_id)
        if loan is None or loan.status != "active":
            return
        repayment_id = self.new_id(payment.paid_on)
        try:
            events = lending.repay(loan, repayment_id, payment.amount, payment.paid_on, self.today)
        except lending.LendingRuleBroken:  # more than the payoff (penalties differ): the payoff, then
            payoff = lending.position(loan, payment.paid_on).payoff_satang
            events = lending.repay(loan, repayment_id, payoff, payment.paid_on, self.today)
        for event in events:
            recorded = self._loan_event(loan_id, payment.paid_on, self.treasurer, event)
            if event.__class__.__name__ == "RepaymentReceived":
                self._posting(recorded, event.model_dump(mode="json"), payment.paid_on)

    def _day_close(self, on: date) -> None:
        """Lending's daily close at the month's end (as the demo runs it): each overdue installment once."""
        for loan_id, loan in list(self.loans.items()):
            for event in lending.overdue_installments(loan, on):
                self._loan_event(loan_id, on, DEPARTMENT, event)

    # --- pawn tickets -------------------------------------------------------------------------------------------
    def _tickets(self) -> list[demo.TicketPlan]:
        """About one ticket for every 60 members, at the office's branch in the group's district, with the
        demo's fates (redeemed, renewed, forfeited and sold, still open)."""
        rng, spec = random.Random(f"{self.seed}:pawn:{self.spec.number}"), self.spec
        count = int(spec.size / 60) + (rng.random() < (spec.size / 60) % 1)
        end = demo.month_end(MONTHS[-1])
        tickets = []
        for number in range(count):
            pledged_on = rng.choice(MONTHS) + timedelta(days=rng.randint(0, 27))
            branch = f"B{spec.district_code}"
            tickets.append(demo.plan_pawn_ticket(rng, number, branch, spec.district_code, "pc", pledged_on, end))
        return tickets

    def _plan_ticket(self, plan: demo.TicketPlan, at: Callable[[date, str, Callable[[], None]], None]) -> None:
        ticket_id = self.new_id(plan.pledged_on)
        stream = pawn_tickets.ticket_stream(ticket_id)
        history: list[tuple[EventPayload, int]] = []
        held: dict[str, pawn_tickets.Ticket | None] = {"ticket": None}

        def record(on: date, events: list[EventPayload]) -> None:
            for payload in events:
                event = self.emit("lending", stream, on, PAWNSHOP, payload)
                history.append((payload, event.stream_version))
            held["ticket"] = pawn_tickets.ticket_from_events(history)  # a few events: folded again each time

        def pledge() -> None:
            instruction_id = self.new_id(plan.pledged_on)
            description = FreeText(self.new_id(plan.pledged_on), "item_description", plan.description)
            events = pawn_tickets.pledge_item(
                ticket_id,
                instruction_id,
                plan.branch_code,
                plan.customer_ref,
                plan.category,
                description,
                plan.appraised_value,
                plan.principal,
                plan.pledged_on,
                plan.payout["channel"],  # type: ignore[arg-type]
                self.today,
            )
            record(plan.pledged_on, events)
            self.out.lending_texts.append((stream, description))
            self.out.payouts.append(
                (
                    instruction_id,
                    ticket_id,
                    plan.payout["channel"],
                    plan.payout.get("bank_code"),
                    plan.payout.get("account_number"),
                    plan.payout.get("promptpay_id"),
                )
            )
            if plan.payout["channel"] != "cash":
                ticket = held["ticket"]
                assert ticket is not None
                reference = FreeText(self.new_id(plan.pledged_on), "reference", f"TX{self.ids.getrandbits(40):012d}")
                record(
                    plan.pledged_on,
                    pawn_tickets.payout_callback(ticket, instruction_id, True, reference, None, plan.pledged_on),
                )
                self.out.lending_texts.append((stream, reference))

        def act(action: demo.PawnAction) -> None:
            ticket = held["ticket"]
            assert ticket is not None
            event: EventPayload
            if action.kind == "renewal":
                event = pawn_tickets.renew(ticket, action.on, self.today, 0)
            elif action.kind == "redemption":
                event = pawn_tickets.redeem(ticket, action.on, self.today)
            elif action.kind == "forfeiture":
                event = pawn_tickets.forfeit(ticket, action.on, self.today, 0)
            else:
                event = pawn_tickets.sell(ticket, action.on, action.sale_price, self.today)
            record(action.on, [event])

        at(plan.pledged_on, "pawn", pledge)
        for action in plan.actions:
            at(action.on, "pawn", lambda a=action: act(a))  # type: ignore[misc]


def group_year(seed: int, spec: GroupSpec, hash_key: str, today: date, product_events: list[ProductDefined]) -> Output:
    return GroupYear(seed, spec, hash_key, today, product_events).run()
