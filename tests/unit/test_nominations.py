"""Nomination scores against a hand-worked record."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from services.campaign import nominations as n
from services.campaign.counters import Facts, MemberFact, SavingsMove

AS_OF = date(2024, 2, 16)
MEMBER = MemberFact(uuid.uuid4(), uuid.uuid4(), "27", "2701", date(2022, 2, 16), 10_000)
# Sajja 100.00 in 9 of the last 12 months (March 2023 – February 2024; none in May, June, July) and
# a 300.00 special deposit: 1,200.00 added in the year.
MONTHS = [date(2023, m, 5) for m in (3, 4, 8, 9, 10, 11, 12)] + [date(2024, 1, 5), date(2024, 2, 5)]
MOVES = [SavingsMove(MEMBER.member_id, "sajja", "deposit", 10_000, d, None) for d in MONTHS]
MOVES.append(SavingsMove(MEMBER.member_id, "special", "deposit", 30_000, date(2023, 6, 1), None))
FACTS = Facts([MEMBER], {}, MOVES)
LOAN = n.LoanFact(MEMBER.member_id, "occupation", [date(2023, m, 1) for m in range(8, 14 - 1)] + [date(2024, 1, 1)], 1)


def test_a_member_score_with_its_evidence() -> None:
    # Six installments due by 2024-02-16 (Aug–Dec 2023, Jan 2024), one found overdue.
    assert sum(1 for d in LOAN.due_dates if d <= AS_OF) == 6
    score = n.member_score(MEMBER, FACTS, [LOAN], AS_OF)
    # regularity 9/12 × 30 = 22.50; growth 1,200 / (12 × 100) → 20.00; membership 730 days / 365.25 / 10 × 20
    # = 3.997…; repayment 5/6 × 20 = 16.666…; occupation 10 → 73.16.
    assert score.parts == {
        "regularity": Decimal("22.50"),
        "growth": Decimal("20.00"),
        "membership": Decimal("4.00"),
        "occupation": Decimal("10.00"),
        "repayment": Decimal("16.67"),
    }
    assert score.total == Decimal("73.16")
    assert score.evidence["regularity"] == "ฝากสัจจะครบตามกำหนด 9 จาก 12 เดือน"
    assert score.evidence["repayment"] == "ชำระตรงงวด 5 จาก 6 งวด"


def test_a_member_who_never_borrowed_is_not_marked_down() -> None:
    score = n.member_score(MEMBER, FACTS, [], AS_OF)
    # (22.50 + 20.00 + 3.997… + 0) × 100 / 80 = 58.12
    assert score.total == Decimal("58.12") and "repayment" not in score.parts
    assert score.evidence["repayment"] == "ไม่เคยกู้"
