"""Lending domain: products, group loans, approvals, the payout saga's states, repayments, arrears. Pure.

How a loan's position is read (documented because every figure depends on it):
- payments are counted cumulatively against the schedule, first installment first: an installment is
  paid when the principal and the interest paid so far cover it and every one before it;
- on a date, what is *due* is the scheduled principal and interest of installments due on or before
  it, less what was paid; days past due count from the first installment not yet paid;
- a penalty accrues on the overdue amount at the product's monthly penalty rate, per day (a month
  being 30 days), from the later of that installment's due date and the last repayment;
- a repayment pays what is due in the product's allocation order; the rest pays principal ahead of
  the schedule; paying more than the whole payoff (penalty and interest due, all principal) is
  refused with the payoff amount. When the principal reaches zero the loan closes, and interest not
  yet due is not charged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from libs.events.envelope import Area, EventPayload
from libs.events.errors import RuleBroken
from libs.events.free_text import FreeText
from libs.events.money import format_baht
from libs.events.schemas.lending import (
    DisbursementRequested,
    InstallmentOverdue,
    LoanApplied,
    LoanApproved,
    LoanClosed,
    LoanDisbursed,
    LoanDisbursementFailed,
    LoanOpened,
    LoanRejected,
    LoanRescheduled,
    LoanTerms,
    LoanWrittenOff,
    ProductDefined,
    RepaymentReceived,
    ScheduledInstallment,
)
from services.lending import schedules


class LendingRuleBroken(RuleBroken):
    """A command lending's rules refuse."""

    problem_type = "lending-rule"
    title = "Refused by lending rules"


Decide = Callable[["Loan"], Sequence[EventPayload]]


def loan_stream(loan_id: uuid.UUID) -> str:
    return f"loan-{loan_id}"


def product_stream(product_id: str) -> str:
    return f"product-{product_id}"


# --- Products -----------------------------------------------------------------------------------


def define_product(product: ProductDefined) -> ProductDefined:
    if product.min_term_months > product.max_term_months:
        raise LendingRuleBroken("the shortest term is longer than the longest", "min_term_months")
    if product.terms.grace_months >= product.min_term_months:
        raise LendingRuleBroken("grace months must be fewer than the shortest term", "terms.grace_months")
    if sorted(product.terms.allocation_order) != ["interest", "penalty", "principal"]:
        raise LendingRuleBroken("must name penalty, interest and principal once each", "terms.allocation_order")
    return product


# --- What lending knows of members (its projection of the ledger) --------------------------------


@dataclass(frozen=True)
class MemberFacts:
    member_id: uuid.UUID
    group_id: uuid.UUID
    area: Area
    active: bool
    savings_satang: int


# --- Loans --------------------------------------------------------------------------------------

LoanStatus = Literal["applied", "approved", "rejected", "disbursing", "active", "closed", "written_off"]


@dataclass(frozen=True)
class Loan:
    loan_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    product_id: str
    principal_satang: int
    term_months: int
    terms: LoanTerms
    entered_by: str
    version: int
    status: LoanStatus = "applied"
    approvers: tuple[str, ...] = ()
    pending_request: uuid.UUID | None = None
    disbursed_on: date | None = None
    schedule: tuple[ScheduledInstallment, ...] = ()
    principal_paid_satang: int = 0
    interest_paid_satang: int = 0
    penalty_outstanding_satang: int = 0
    penalty_through: date | None = None
    overdue_recorded: frozenset[int] = frozenset()
    # The rejection's reason: its id in the free-text register (v2), or the text a v1 event carried.
    rejection_reason_ref: uuid.UUID | None = None
    rejection_reason: str | None = None
    failure_reason: str | None = None
    closed_on: date | None = None
    programme_id: str | None = None

    @property
    def outstanding_principal_satang(self) -> int:
        return sum(i.principal_satang for i in self.schedule) - self.principal_paid_satang


def check_borrower(member: MemberFacts | None, applied_on: date, today: date) -> MemberFacts:
    """Whoever applies — for a group loan or a programme's — is a current member lending knows."""
    if member is None:
        raise LendingRuleBroken("is not a member the lending service knows (yet)", "member_id", 404)
    if not member.active:
        raise LendingRuleBroken("the member has left the group", "member_id", 409)
    if applied_on > today:
        raise LendingRuleBroken("must not be in the future", "applied_on")
    return member


def apply_for_loan(
    loan_id: uuid.UUID,
    product: ProductDefined,
    member: MemberFacts | None,
    guarantors: Sequence[tuple[uuid.UUID, MemberFacts | None]],
    principal_satang: int,
    term_months: int,
    purpose: FreeText,
    applied_on: date,
    today: date,
    entered_by: str,
) -> LoanApplied:
    member = check_borrower(member, applied_on, today)
    if not product.min_term_months <= term_months <= product.max_term_months:
        raise LendingRuleBroken(
            f"must be between {product.min_term_months} and {product.max_term_months} months", "term_months"
        )
    if principal_satang > product.max_amount_satang:
        raise LendingRuleBroken(f"the product lends at most {format_baht(product.max_amount_satang)} baht", "principal")
    if product.max_savings_multiple is not None:
        limit = int(Decimal(member.savings_satang) * product.max_savings_multiple)
        if principal_satang > limit:
            raise LendingRuleBroken(
                f"the product lends at most {product.max_savings_multiple} times the member's savings"
                f" ({format_baht(member.savings_satang)} baht), i.e. {format_baht(limit)} baht",
                "principal",
                409,
            )
    ids = [g for g, _ in guarantors]
    if len(set(ids)) != len(ids):
        raise LendingRuleBroken("each guarantor may be named once", "guarantor_ids")
    if len(ids) < product.guarantors_required:
        raise LendingRuleBroken(f"the product needs {product.guarantors_required} guarantor(s)", "guarantor_ids")
    for i, (guarantor_id, guarantor) in enumerate(guarantors):
        where = f"guarantor_ids.{i}"
        if guarantor_id == member.member_id:
            raise LendingRuleBroken("a borrower cannot guarantee their own loan", where)
        if guarantor is None or not guarantor.active or guarantor.group_id != member.group_id:
            raise LendingRuleBroken("must be an active member of the borrower's group", where, 409)
    return LoanApplied(
        loan_id=loan_id,
        member_id=member.member_id,
        group_id=member.group_id,
        product_id=product.product_id,
        principal_satang=principal_satang,
        term_months=term_months,
        purpose_ref=purpose.text_id,
        guarantor_ids=ids,
        applied_on=applied_on,
        entered_by=entered_by,
        terms=product.terms,
    )


def loan_from_events(events: Iterable[tuple[EventPayload, int]], start: Loan | None = None) -> Loan | None:
    """The loan from its events (or `start` moved on by further events)."""
    loan: Loan | None = start
    for payload, version in events:
        if isinstance(payload, LoanApplied):
            loan = Loan(
                payload.loan_id,
                payload.member_id,
                payload.group_id,
                payload.product_id,
                payload.principal_satang,
                payload.term_months,
                payload.terms,
                payload.entered_by,
                version,
                programme_id=payload.programme_id,
            )
            continue
        if isinstance(payload, LoanOpened):
            loan = Loan(
                payload.loan_id,
                payload.member_id,
                payload.group_id,
                payload.product_id,
                payload.principal_satang,
                len(payload.schedule),
                payload.terms,
                payload.entered_by,
                version,
                status="active",
                disbursed_on=payload.disbursed_on,
                schedule=tuple(payload.schedule),
            )
            continue
        if loan is None:
            continue
        loan = replace(loan, version=version)
        if isinstance(payload, LoanApproved):
            status: LoanStatus = "approved" if payload.fully_approved else loan.status
            loan = replace(loan, approvers=loan.approvers + (payload.approved_by,), status=status)
        elif isinstance(payload, LoanRejected):
            loan = replace(
                loan, status="rejected", rejection_reason_ref=payload.reason_ref, rejection_reason=payload.reason
            )
        elif isinstance(payload, DisbursementRequested):
            loan = replace(loan, status="disbursing", pending_request=payload.request_id, failure_reason=None)
        elif isinstance(payload, LoanDisbursementFailed):
            loan = replace(loan, status="approved", pending_request=None, failure_reason=payload.reason)
        elif isinstance(payload, LoanDisbursed):
            loan = replace(
                loan,
                status="active",
                pending_request=None,
                disbursed_on=payload.disbursed_on,
                schedule=tuple(payload.schedule),
            )
        elif isinstance(payload, RepaymentReceived):
            loan = replace(
                loan,
                principal_paid_satang=loan.principal_paid_satang + payload.principal_satang,
                interest_paid_satang=loan.interest_paid_satang + payload.interest_satang,
                penalty_outstanding_satang=position(loan, payload.paid_on).penalty_due_satang - payload.penalty_satang,
                penalty_through=payload.paid_on,
            )
        elif isinstance(payload, InstallmentOverdue):
            loan = replace(loan, overdue_recorded=loan.overdue_recorded | {payload.installment})
        elif isinstance(payload, LoanRescheduled):
            # The new schedule starts from what is outstanding; nothing of it is paid yet.
            loan = replace(
                loan,
                schedule=tuple(payload.schedule),
                principal_paid_satang=0,
                interest_paid_satang=0,
                overdue_recorded=frozenset(),
            )
        elif isinstance(payload, LoanWrittenOff):
            loan = replace(loan, status="written_off", closed_on=payload.written_off_on)
        elif isinstance(payload, LoanClosed) and payload.reason == "repaid":
            loan = replace(loan, status="closed", closed_on=payload.closed_on)
    return loan


def approve(loan: Loan, approver: str) -> LoanApproved:
    """A committee approval (checker). Whoever entered the application (maker) may not approve it."""
    if loan.status != "applied":
        raise LendingRuleBroken(f"the loan is {loan.status}; only an application can be approved", None, 409)
    if approver == loan.entered_by:
        raise LendingRuleBroken("the person who entered the application cannot approve it", None, 403)
    if approver in loan.approvers:
        raise LendingRuleBroken("this approver has approved the loan already", None, 409)
    count = len(loan.approvers) + 1
    return LoanApproved(
        loan_id=loan.loan_id,
        approved_by=approver,
        approvals=count,
        fully_approved=count >= loan.terms.approvals_required,
    )


def reject(loan: Loan, by: str, reason: FreeText) -> LoanRejected:
    if loan.status not in ("applied", "approved"):
        raise LendingRuleBroken(f"the loan is {loan.status}; it can no longer be rejected", None, 409)
    return LoanRejected(loan_id=loan.loan_id, rejected_by=by, reason_ref=reason.text_id)


def request_disbursement(loan: Loan, request_id: uuid.UUID, disbursed_on: date, today: date) -> DisbursementRequested:
    if loan.status == "disbursing":
        raise LendingRuleBroken("the payout is already on its way to the ledger", None, 409)
    if loan.status != "approved":
        raise LendingRuleBroken(f"the loan is {loan.status}; only an approved loan is paid out", None, 409)
    if disbursed_on > today:
        raise LendingRuleBroken("must not be in the future", "disbursed_on")
    return DisbursementRequested(
        loan_id=loan.loan_id,
        request_id=request_id,
        member_id=loan.member_id,
        group_id=loan.group_id,
        amount_satang=loan.principal_satang,
        disbursed_on=disbursed_on,
    )


def schedule_for(principal_satang: int, terms: LoanTerms, term_months: int, start: date) -> list[ScheduledInstallment]:
    """The installments of a loan paid out (or rescheduled) on `start`: the first is due a month later."""
    return installments(principal_satang, terms, term_months, schedules.due_dates(start, 2)[1])


def installments(
    principal_satang: int, terms: LoanTerms, term_months: int, first_due: date
) -> list[ScheduledInstallment]:
    """`term_months` installments of `principal_satang` by the loan's terms, the first due on `first_due` (a loan
    carried over from a group's own books starts from its next due date)."""
    return [
        ScheduledInstallment(
            number=i.number, due_on=i.due_on, principal_satang=i.principal_satang, interest_satang=i.interest_satang
        )
        for i in schedules.build_schedule(
            principal_satang, terms.interest_method, terms.rate_per_month, term_months, first_due, terms.grace_months
        )
    ]


def start_disbursement(loan: Loan, request_id: uuid.UUID, disbursed_on: date, today: date) -> list[EventPayload]:
    """A group loan asks the ledger to pay out of the group's cash (a saga); a programme loan is paid
    out of the programme's budget at once (its budget is checked with the programme's stream)."""
    requested = request_disbursement(loan, request_id, disbursed_on, today)
    return [requested] if loan.programme_id is None else [_disbursed(loan, request_id, disbursed_on)]


def _disbursed(loan: Loan, request_id: uuid.UUID, disbursed_on: date) -> LoanDisbursed:
    return LoanDisbursed(
        loan_id=loan.loan_id,
        request_id=request_id,
        group_id=loan.group_id,
        member_id=loan.member_id,
        principal_satang=loan.principal_satang,
        disbursed_on=disbursed_on,
        schedule=schedule_for(loan.principal_satang, loan.terms, loan.term_months, disbursed_on),
    )


def complete_disbursement(loan: Loan, request_id: uuid.UUID, disbursed_on: date) -> LoanDisbursed | None:
    """The ledger posted the payout: the loan becomes active. None when this answer was handled before."""
    if loan.status != "disbursing" or loan.pending_request != request_id:
        return None
    return _disbursed(loan, request_id, disbursed_on)


def fail_disbursement(loan: Loan, request_id: uuid.UUID, reason: str) -> LoanDisbursementFailed | None:
    if loan.status != "disbursing" or loan.pending_request != request_id:
        return None
    return LoanDisbursementFailed(loan_id=loan.loan_id, request_id=request_id, reason=reason)


# --- Position, repayments, arrears ---------------------------------------------------------------


@dataclass(frozen=True)
class LoanPosition:
    on: date
    principal_due_satang: int
    interest_due_satang: int
    penalty_due_satang: int
    outstanding_principal_satang: int
    oldest_unpaid: ScheduledInstallment | None
    days_past_due: int
    paid_installments: int = 0
    statuses: dict[int, str] = field(default_factory=dict)

    @property
    def payoff_satang(self) -> int:
        return self.penalty_due_satang + self.interest_due_satang + self.outstanding_principal_satang


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def position(loan: Loan, on: date) -> LoanPosition:
    principal_scheduled = interest_scheduled = 0
    cum_principal = cum_interest = 0
    oldest: ScheduledInstallment | None = None
    statuses: dict[int, str] = {}
    paid = 0
    for inst in loan.schedule:
        cum_principal += inst.principal_satang
        cum_interest += inst.interest_satang
        covered = loan.principal_paid_satang >= cum_principal and loan.interest_paid_satang >= cum_interest
        if covered:
            paid += 1
            statuses[inst.number] = "paid"
        else:
            if oldest is None:
                oldest = inst
            statuses[inst.number] = "overdue" if inst.due_on < on else ("due" if inst.due_on == on else "upcoming")
        if inst.due_on <= on:
            principal_scheduled, interest_scheduled = cum_principal, cum_interest
    principal_due = max(0, principal_scheduled - loan.principal_paid_satang)
    interest_due = max(0, interest_scheduled - loan.interest_paid_satang)
    dpd = (on - oldest.due_on).days if oldest is not None and oldest.due_on < on else 0
    return LoanPosition(
        on,
        principal_due,
        interest_due,
        loan.penalty_outstanding_satang + _penalty_accrued(loan, on),
        loan.outstanding_principal_satang,
        oldest,
        dpd,
        paid,
        statuses,
    )


def _penalty_accrued(loan: Loan, on: date) -> int:
    """Penalty since the last repayment: each overdue installment's unpaid part, at the monthly penalty
    rate, for the days it has been overdue since its due date or the last repayment (a month = 30 days)."""
    rate = loan.terms.penalty_rate_per_month
    if not rate:
        return 0
    accrued = Decimal(0)
    cum_principal = cum_interest = 0
    for inst in loan.schedule:
        if inst.due_on >= on:
            break
        cum_principal += inst.principal_satang
        cum_interest += inst.interest_satang
        unpaid = min(inst.principal_satang, max(0, cum_principal - loan.principal_paid_satang)) + min(
            inst.interest_satang, max(0, cum_interest - loan.interest_paid_satang)
        )
        days = (on - max(inst.due_on, loan.penalty_through or inst.due_on)).days
        if unpaid and days > 0:
            accrued += Decimal(unpaid) * rate * days / 30
    return _half_up(accrued)


def repay(
    loan: Loan, repayment_id: uuid.UUID, amount_satang: int, paid_on: date, today: date
) -> list[RepaymentReceived | LoanClosed]:
    if loan.status != "active":
        raise LendingRuleBroken(f"the loan is {loan.status}; only an active loan takes repayments", None, 409)
    if paid_on > today:
        raise LendingRuleBroken("must not be in the future", "paid_on")
    if loan.disbursed_on is not None and paid_on < loan.disbursed_on:
        raise LendingRuleBroken(f"must not be before the payout ({loan.disbursed_on})", "paid_on")
    if loan.penalty_through is not None and paid_on < loan.penalty_through:
        raise LendingRuleBroken(f"must not be before the last repayment ({loan.penalty_through})", "paid_on")
    now = position(loan, paid_on)
    if amount_satang > now.payoff_satang:
        raise LendingRuleBroken(
            f"pays more than the whole loan: the payoff on {paid_on} is {format_baht(now.payoff_satang)} baht",
            "amount",
            409,
        )
    due = {
        "penalty": now.penalty_due_satang,
        "interest": now.interest_due_satang,
        "principal": now.principal_due_satang,
    }
    split = schedules.allocate_payment(amount_satang, due, loan.terms.allocation_order)  # type: ignore[arg-type]
    # What is left pays principal ahead of the schedule (it cannot exceed what is outstanding: the
    # payoff check above holds it).
    prepaid = split.unapplied_satang
    principal = split.principal_satang + prepaid
    outstanding_after = loan.outstanding_principal_satang - principal
    after = replace(
        loan,
        principal_paid_satang=loan.principal_paid_satang + principal,
        interest_paid_satang=loan.interest_paid_satang + split.interest_satang,
        penalty_outstanding_satang=now.penalty_due_satang - split.penalty_satang,
        penalty_through=paid_on,
    )
    oldest_after = position(after, paid_on).oldest_unpaid
    events: list[RepaymentReceived | LoanClosed] = [
        RepaymentReceived(
            loan_id=loan.loan_id,
            repayment_id=repayment_id,
            group_id=loan.group_id,
            member_id=loan.member_id,
            paid_on=paid_on,
            amount_satang=amount_satang,
            penalty_satang=split.penalty_satang,
            interest_satang=split.interest_satang,
            principal_satang=principal,
            prepaid_principal_satang=prepaid,
            outstanding_principal_after_satang=outstanding_after,
            oldest_unpaid_due_on=None if outstanding_after == 0 else (oldest_after.due_on if oldest_after else None),
            programme_id=loan.programme_id,
        )
    ]
    if outstanding_after == 0:
        events.append(LoanClosed(loan_id=loan.loan_id, closed_on=paid_on, reason="repaid"))
    return events


def overdue_installments(loan: Loan, business_date: date) -> list[InstallmentOverdue]:
    """What the daily close records for this loan: each installment past due, unpaid, not yet recorded."""
    if loan.status != "active":
        return []
    cum_principal = cum_interest = 0
    found = []
    for inst in loan.schedule:
        cum_principal += inst.principal_satang
        cum_interest += inst.interest_satang
        if inst.due_on >= business_date:
            break
        unpaid = max(0, cum_principal - loan.principal_paid_satang) + max(0, cum_interest - loan.interest_paid_satang)
        if unpaid and inst.number not in loan.overdue_recorded:
            found.append(
                InstallmentOverdue(
                    loan_id=loan.loan_id,
                    group_id=loan.group_id,
                    member_id=loan.member_id,
                    installment=inst.number,
                    due_on=inst.due_on,
                    business_date=business_date,
                    days_past_due=(business_date - inst.due_on).days,
                    overdue_satang=min(unpaid, inst.principal_satang + inst.interest_satang),
                )
            )
    return found


def reschedule(loan: Loan, term_months: int, rescheduled_on: date, reason: FreeText, today: date) -> LoanRescheduled:
    """Re-spread the outstanding principal over a new term. Interest and penalties due are paid first."""
    if loan.status != "active":
        raise LendingRuleBroken(f"the loan is {loan.status}; only an active loan can be rescheduled", None, 409)
    if rescheduled_on > today:
        raise LendingRuleBroken("must not be in the future", "rescheduled_on")
    now = position(loan, rescheduled_on)
    if now.interest_due_satang or now.penalty_due_satang:
        raise LendingRuleBroken(
            f"pay the interest and penalty due first ({format_baht(now.interest_due_satang + now.penalty_due_satang)}"
            " baht)",
            None,
            409,
        )
    if not 1 <= term_months <= 360 or term_months <= loan.terms.grace_months:
        raise LendingRuleBroken("must be between 1 and 360 months, and longer than the grace period", "term_months")
    outstanding = loan.outstanding_principal_satang
    return LoanRescheduled(
        loan_id=loan.loan_id,
        rescheduled_on=rescheduled_on,
        reason_ref=reason.text_id,
        schedule=schedule_for(outstanding, loan.terms, term_months, rescheduled_on),
        outstanding_principal_satang=outstanding,
    )


def write_off(loan: Loan, written_off_on: date, reason: FreeText, today: date) -> list[LoanWrittenOff | LoanClosed]:
    if loan.status != "active":
        raise LendingRuleBroken(f"the loan is {loan.status}; only an active loan can be written off", None, 409)
    if written_off_on > today:
        raise LendingRuleBroken("must not be in the future", "written_off_on")
    return [
        LoanWrittenOff(
            loan_id=loan.loan_id,
            group_id=loan.group_id,
            member_id=loan.member_id,
            written_off_on=written_off_on,
            principal_satang=loan.outstanding_principal_satang,
            reason_ref=reason.text_id,
            programme_id=loan.programme_id,
        ),
        LoanClosed(loan_id=loan.loan_id, closed_on=written_off_on, reason="written_off"),
    ]


def bucket_of(days_past_due: int) -> str:
    """Delinquency bucket of a loan (Fineract-style ranges)."""
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


@dataclass(frozen=True)
class PortfolioLine:
    """One loan, or (`loans` > 1) the active loans of an area that share an oldest unpaid due date: their
    outstanding principal together. Days past due depend only on that date, so they age as one."""

    outstanding_satang: int
    oldest_unpaid_due_on: date | None
    loans: int = 1


@dataclass(frozen=True)
class PortfolioQuality:
    loans: int
    outstanding_satang: int
    buckets: dict[str, tuple[int, int]]  # bucket → (loans, outstanding)
    par30_satang: int

    @property
    def par30_ratio(self) -> Decimal:
        """PAR30: outstanding principal of loans more than 30 days past due, over all outstanding."""
        if not self.outstanding_satang:
            return Decimal(0)
        return Decimal(self.par30_satang) / Decimal(self.outstanding_satang)


def portfolio_quality(lines: Iterable[PortfolioLine], on: date) -> PortfolioQuality:
    buckets = dict.fromkeys(BUCKETS, (0, 0))
    loans = outstanding = par30 = 0
    for line in lines:
        dpd = (on - line.oldest_unpaid_due_on).days if line.oldest_unpaid_due_on else 0
        bucket = bucket_of(dpd)
        count, amount = buckets[bucket]
        buckets[bucket] = (count + line.loans, amount + line.outstanding_satang)
        loans += line.loans
        outstanding += line.outstanding_satang
        if dpd > 30:
            par30 += line.outstanding_satang
    return PortfolioQuality(loans, outstanding, buckets, par30)
