"""The lending domain, pure: maker-checker, repayment allocation in the product's order, arrears over a
simulated calendar, prepayment and overpayment, rescheduling, write-off."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from libs.events.envelope import Area, EventPayload
from libs.events.free_text import FreeText
from libs.events.schemas.lending import LoanTerms, ProductDefined
from services.lending import domain

AREA = Area(province_code="27", district_code="2701")
GROUP = uuid.uuid4()
TODAY = date(2026, 11, 24)


def product(**terms: object) -> ProductDefined:
    return ProductDefined(
        product_id="occupation",
        name_th="เงินกู้",
        name_en="Loan",
        terms=LoanTerms(**({"interest_method": "flat", "rate_per_month": Decimal("0.01")} | terms)),  # type: ignore[arg-type]
        min_term_months=1,
        max_term_months=24,
        max_amount_satang=5_000_000,
    )


def facts(savings: int = 1_000_000, group: uuid.UUID = GROUP, active: bool = True) -> domain.MemberFacts:
    return domain.MemberFacts(uuid.uuid4(), group, AREA, active, savings)


class LoanBook:
    """A loan moved through its events, as the store would hold them."""

    def __init__(self, **terms: object) -> None:
        self.events: list[EventPayload] = []
        self.member = facts()
        applied = domain.apply_for_loan(
            uuid.uuid4(),
            product(**terms),
            self.member,
            [],
            1_200_000,
            12,
            FreeText.of("purpose", "ค้าขาย"),
            date(2024, 1, 2),
            TODAY,
            "maker",
        )
        self.add(applied)

    @property
    def loan(self) -> domain.Loan:
        loan = domain.loan_from_events([(e, v) for v, e in enumerate(self.events, start=1)])
        assert loan is not None
        return loan

    def add(self, *events: EventPayload) -> None:
        self.events.extend(events)

    def active(self, on: date = date(2024, 1, 15)) -> LoanBook:
        self.add(domain.approve(self.loan, "checker"))
        request = uuid.uuid4()
        self.add(domain.request_disbursement(self.loan, request, on, TODAY))
        disbursed = domain.complete_disbursement(self.loan, request, on)
        assert disbursed is not None
        self.add(disbursed)
        return self

    def pay(self, satang: int, on: date) -> list[EventPayload]:
        events = domain.repay(self.loan, uuid.uuid4(), satang, on, TODAY)
        self.add(*events)
        return list(events)


def test_maker_cannot_approve_and_each_checker_counts_once() -> None:
    book = LoanBook(approvals_required=2)
    with pytest.raises(domain.LendingRuleBroken) as maker:
        domain.approve(book.loan, "maker")
    assert maker.value.status == 403
    book.add(domain.approve(book.loan, "a"))
    assert book.loan.status == "applied"
    with pytest.raises(domain.LendingRuleBroken, match="already"):
        domain.approve(book.loan, "a")
    book.add(domain.approve(book.loan, "b"))
    assert book.loan.status == "approved" and book.loan.approvers == ("a", "b")


def test_applications_respect_the_product_limits_and_guarantors() -> None:
    p = product().model_copy(update={"max_savings_multiple": Decimal(3), "guarantors_required": 1})
    member = facts(savings=100_000)
    args = (1, FreeText.of("purpose", "x"), date(2024, 1, 2), TODAY, "maker")
    with pytest.raises(domain.LendingRuleBroken, match="3 times"):
        domain.apply_for_loan(uuid.uuid4(), p, member, [(uuid.uuid4(), facts())], 300_001, *args)
    with pytest.raises(domain.LendingRuleBroken, match="guarantor"):
        domain.apply_for_loan(uuid.uuid4(), p, member, [], 300_000, *args)
    other_group = facts(group=uuid.uuid4())
    with pytest.raises(domain.LendingRuleBroken, match="borrower's group"):
        domain.apply_for_loan(uuid.uuid4(), p, member, [(other_group.member_id, other_group)], 300_000, *args)
    with pytest.raises(domain.LendingRuleBroken, match="left the group"):
        domain.apply_for_loan(uuid.uuid4(), p, facts(active=False), [], 1, *args)
    ok = domain.apply_for_loan(uuid.uuid4(), p, member, [(uuid.uuid4(), facts())], 300_000, *args)
    assert ok.principal_satang == 300_000


def test_repayments_follow_the_products_allocation_order() -> None:
    # Flat 1 %: 12 installments of 100,000 principal + 12,000 interest, the first due 2024-02-15.
    default = LoanBook(penalty_rate_per_month=Decimal("0.03")).active()
    principal_first = LoanBook(
        penalty_rate_per_month=Decimal("0.03"), allocation_order=["principal", "interest", "penalty"]
    ).active()
    # February's installment paid 28 days late: penalty 3 % a month on 112,000 for 28 days = 3,136.
    [default_split] = default.pay(112_000, date(2024, 3, 14))
    [principal_split] = principal_first.pay(112_000, date(2024, 3, 14))
    assert (default_split.penalty_satang, default_split.interest_satang, default_split.principal_satang) == (
        3_136,
        12_000,
        96_864,
    )
    assert (principal_split.penalty_satang, principal_split.interest_satang, principal_split.principal_satang) == (
        0,
        12_000,
        100_000,
    )
    # Principal first left the penalty unpaid; it is still owed.
    assert domain.position(principal_first.loan, date(2024, 3, 14)).penalty_due_satang == 3_136
    # Two installments overdue: each accrues for its own days (Feb for 30, Mar for 1 day past 2024-03-15).
    late = LoanBook(penalty_rate_per_month=Decimal("0.03")).active()
    assert domain.position(late.loan, date(2024, 3, 16)).penalty_due_satang == 3_360 + 112


def test_arrears_over_a_simulated_calendar() -> None:
    book = LoanBook().active()  # installments of 112,000 due on the 15th from 2024-02-15
    day = date(2024, 2, 1)
    seen: dict[date, tuple[int, str]] = {}
    while day <= date(2024, 7, 1):
        if day == date(2024, 5, 20):
            # 336,000 on 2024-05-20: interest due first (four months, 48,000), then principal 288,000:
            # February and March are paid, April is 12,000 short.
            book.pay(112_000 * 3, day)
        now = domain.position(book.loan, day)
        seen[day] = (now.days_past_due, domain.bucket_of(now.days_past_due))
        day += timedelta(days=1)
    assert seen[date(2024, 2, 15)] == (0, "current")
    assert seen[date(2024, 2, 16)] == (1, "1-30")
    assert seen[date(2024, 3, 16)] == (30, "1-30")
    assert seen[date(2024, 3, 17)] == (31, "31-60")
    assert seen[date(2024, 4, 15)] == (60, "31-60")
    assert seen[date(2024, 4, 16)] == (61, "61-90")
    assert seen[date(2024, 5, 15)] == (90, "61-90")
    assert seen[date(2024, 5, 16)] == (91, "90+")
    # After the catch-up, April (due 2024-04-15) is the oldest unpaid: 35 days late.
    assert seen[date(2024, 5, 20)] == (35, "31-60")
    assert seen[date(2024, 7, 1)] == (77, "61-90")
    # The daily close records each overdue installment once.
    recorded = domain.overdue_installments(book.loan, date(2024, 7, 1))
    assert [(o.installment, o.days_past_due) for o in recorded] == [(3, 77), (4, 47), (5, 16)]
    book.add(*recorded)
    assert domain.overdue_installments(book.loan, date(2024, 7, 2)) == []


def test_prepayment_pays_principal_ahead_and_overpayment_is_refused_with_the_payoff() -> None:
    book = LoanBook().active()
    [split] = book.pay(500_000, date(2024, 2, 15))  # 112,000 due; the rest pays principal ahead
    assert (split.interest_satang, split.principal_satang, split.prepaid_principal_satang) == (12_000, 488_000, 388_000)
    assert split.outstanding_principal_after_satang == 712_000
    # Installments 2–4 are covered by principal paid ahead except their interest.
    with pytest.raises(domain.LendingRuleBroken, match="payoff on 2024-03-15 is 7240.00") as over:
        book.pay(1_000_000, date(2024, 3, 15))
    assert over.value.status == 409
    events = book.pay(724_000, date(2024, 3, 15))  # interest due 12,000 + all principal 712,000
    assert [type(e).__name__ for e in events] == ["RepaymentReceived", "LoanClosed"]
    assert book.loan.status == "closed"
    with pytest.raises(domain.LendingRuleBroken, match="closed"):
        book.pay(1, date(2024, 3, 16))


def test_reschedule_respreads_the_outstanding_principal_and_write_off_closes() -> None:
    book = LoanBook().active()
    book.pay(112_000, date(2024, 2, 15))
    with pytest.raises(domain.LendingRuleBroken, match="interest and penalty due first"):
        domain.reschedule(book.loan, 24, date(2024, 4, 1), FreeText.of("reason", "น้ำท่วม"), TODAY)
    rescheduled = domain.reschedule(book.loan, 22, date(2024, 3, 1), FreeText.of("reason", "น้ำท่วม"), TODAY)
    assert rescheduled.outstanding_principal_satang == 1_100_000
    assert sum(i.principal_satang for i in rescheduled.schedule) == 1_100_000
    assert rescheduled.schedule[0].due_on == date(2024, 4, 1) and len(rescheduled.schedule) == 22
    book.add(rescheduled)
    assert domain.position(book.loan, date(2024, 3, 20)).days_past_due == 0
    written_off, closed = domain.write_off(book.loan, date(2024, 12, 31), FreeText.of("reason", "ผู้กู้เสียชีวิต"), TODAY)
    assert written_off.principal_satang == 1_100_000  # type: ignore[union-attr]
    book.add(written_off, closed)
    assert book.loan.status == "written_off"


def test_the_saga_answers_only_the_pending_request() -> None:
    book = LoanBook()
    book.add(domain.approve(book.loan, "checker"))
    first = uuid.uuid4()
    book.add(domain.request_disbursement(book.loan, first, date(2024, 1, 15), TODAY))
    with pytest.raises(domain.LendingRuleBroken, match="already on its way"):
        domain.request_disbursement(book.loan, uuid.uuid4(), date(2024, 1, 15), TODAY)
    assert domain.complete_disbursement(book.loan, uuid.uuid4(), date(2024, 1, 15)) is None  # not this request
    failed = domain.fail_disbursement(book.loan, first, "cash short")
    assert failed is not None
    book.add(failed)
    assert book.loan.status == "approved" and book.loan.failure_reason == "cash short"
    assert domain.fail_disbursement(book.loan, first, "again") is None  # answered before


def test_portfolio_quality_by_bucket_and_par30() -> None:
    on = date(2024, 6, 30)
    lines = [
        domain.PortfolioLine(100_000, None),  # all paid so far
        domain.PortfolioLine(200_000, date(2024, 6, 30)),  # due today: current
        domain.PortfolioLine(300_000, date(2024, 5, 31)),  # 30 days: 1-30
        domain.PortfolioLine(400_000, date(2024, 5, 30)),  # 31 days: 31-60
        domain.PortfolioLine(500_000, date(2024, 3, 1)),  # 121 days: 90+
    ]
    quality = domain.portfolio_quality(lines, on)
    assert quality.loans == 5 and quality.outstanding_satang == 1_500_000
    assert quality.buckets == {
        "current": (2, 300_000),
        "1-30": (1, 300_000),
        "31-60": (1, 400_000),
        "61-90": (0, 0),
        "90+": (1, 500_000),
    }
    assert quality.par30_satang == 900_000 and quality.par30_ratio == Decimal("0.6")
