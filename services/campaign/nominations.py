"""Outstanding members and groups per district, proposed from the record by a transparent score. Pure.

A member's score (0–100) is the sum of five parts, each shown with its evidence:
- savings regularity (30): the share of the last 12 months (or the months since joining, if fewer)
  with sajja deposits at least the commitment due;
- savings growth (20): sajja and special savings added over the last 12 months, against 12 months
  of the member's commitment (capped at the full 20);
- years of membership (20): 2 points a year, up to 10 years;
- on-time repayment (20): installments not found overdue by the daily close, over installments due;
  a member who never borrowed is not marked down: this part then counts in proportion to the others;
- loans used for an occupation (10): at least one loan under an occupation product.
A group's score is the mean of its members' scores, with how many members took part in the campaign.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.campaign.counters import Facts, MemberFact, commitment_on

OCCUPATION_PRODUCTS = ("occupation",)
WEIGHTS = {"regularity": 30, "growth": 20, "membership": 20, "repayment": 20, "occupation": 10}


@dataclass(frozen=True)
class LoanFact:
    member_id: uuid.UUID
    product_id: str
    due_dates: Sequence[date]
    overdue_installments: int


@dataclass(frozen=True)
class Score:
    subject_id: str
    total: Decimal
    parts: dict[str, Decimal]
    evidence: dict[str, str]


def _months_back(as_of: date, count: int) -> list[date]:
    months, year, month = [], as_of.year, as_of.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def member_score(member: MemberFact, facts: Facts, loans: Sequence[LoanFact], as_of: date) -> Score:
    changes = facts.commitment_changes.get(member.member_id, ())
    moves = [m for m in facts.moves if m.member_id == member.member_id and m.reversed_on is None and m.on_date <= as_of]
    months = [m for m in _months_back(as_of, 12) if m >= member.joined_on.replace(day=1)]
    paid = {m: 0 for m in months}
    for mv in moves:
        month = mv.on_date.replace(day=1)
        if mv.account == "sajja" and mv.kind == "deposit" and month in paid:
            paid[month] += mv.amount_satang
    met = sum(1 for m in months if paid[m] >= commitment_on(member, changes, m))
    regularity = Decimal(met) / len(months) if months else Decimal(0)

    year_ago = date(as_of.year - 1, as_of.month, min(as_of.day, 28))
    added = sum(
        (mv.amount_satang if mv.kind == "deposit" else -mv.amount_satang) for mv in moves if mv.on_date > year_ago
    )
    yardstick = 12 * max(commitment_on(member, changes, as_of.replace(day=1)), 1)
    growth = min(Decimal(1), max(Decimal(0), Decimal(added) / yardstick))

    years = Decimal((as_of - member.joined_on).days) / Decimal("365.25")
    membership = min(Decimal(1), max(Decimal(0), years / 10))

    due = sum(1 for loan in loans for d in loan.due_dates if d <= as_of)
    overdue = sum(loan.overdue_installments for loan in loans)
    repayment = None if not due else max(Decimal(0), Decimal(due - min(overdue, due)) / due)
    occupation = Decimal(1) if any(loan.product_id.startswith(OCCUPATION_PRODUCTS) for loan in loans) else Decimal(0)

    parts = {
        "regularity": regularity * WEIGHTS["regularity"],
        "growth": growth * WEIGHTS["growth"],
        "membership": membership * WEIGHTS["membership"],
        "occupation": occupation * WEIGHTS["occupation"],
    }
    if repayment is not None:
        parts["repayment"] = repayment * WEIGHTS["repayment"]
        total = sum(parts.values(), Decimal(0))
    else:
        # Never borrowed: the other parts are scaled up to 100 rather than marked down.
        total = sum(parts.values(), Decimal(0)) * Decimal(100) / (100 - WEIGHTS["repayment"])
    evidence = {
        "regularity": f"ฝากสัจจะครบตามกำหนด {met} จาก {len(months)} เดือน",
        "growth": f"เงินออมเพิ่มขึ้น {Decimal(added) / 100:.2f} บาท ใน 12 เดือน",
        "membership": f"เป็นสมาชิก {years.quantize(Decimal('0.1'))} ปี (ตั้งแต่ {member.joined_on.isoformat()})",
        "repayment": "ไม่เคยกู้" if repayment is None else f"ชำระตรงงวด {due - min(overdue, due)} จาก {due} งวด",
        "occupation": "กู้เพื่อประกอบอาชีพ" if occupation else "ไม่มีเงินกู้เพื่อประกอบอาชีพ",
    }
    return Score(str(member.member_id), _round(total), {k: _round(v) for k, v in parts.items()}, evidence)


def _round(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def rank_members(facts: Facts, loans: Iterable[LoanFact], as_of: date) -> list[Score]:
    """Every member of the place, best first (ties: longer membership, then id, so the order is stable)."""
    by_member: dict[uuid.UUID, list[LoanFact]] = {}
    for loan in loans:
        by_member.setdefault(loan.member_id, []).append(loan)
    scored = [
        (member_score(m, facts, by_member.get(m.member_id, []), as_of), m)
        for m in facts.members
        if m.joined_on <= as_of
    ]
    scored.sort(key=lambda s: (-s[0].total, s[1].joined_on, s[0].subject_id))
    return [s for s, _ in scored]


def rank_groups(facts: Facts, member_scores: Sequence[Score], taking_part: dict[str, int]) -> list[Score]:
    """Groups by the mean score of their members, with how many took part in the campaign."""
    by_id = {s.subject_id: s for s in member_scores}
    groups: dict[str, list[Score]] = {}
    for m in facts.members:
        if str(m.member_id) in by_id:
            groups.setdefault(str(m.group_id), []).append(by_id[str(m.member_id)])
    ranked = []
    for group_id, scores in groups.items():
        mean = sum((s.total for s in scores), Decimal(0)) / len(scores)
        ranked.append(
            Score(
                group_id,
                _round(mean),
                {"members_mean": _round(mean)},
                {
                    "members": f"สมาชิก {len(scores)} คน คะแนนเฉลี่ย {_round(mean)}",
                    "campaign": f"สมาชิกเข้าร่วมกิจกรรม {taking_part.get(group_id, 0)} คน",
                },
            )
        )
    ranked.sort(key=lambda s: (-s.total, s.subject_id))
    return ranked
