"""Events of the lending service (topic sajja.lending.v1). Personal data never appears here (DESIGN §3)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY
from libs.events.schemas.free_text import inline_text_stays

InterestMethod = Literal["flat", "declining"]
Component = Literal["penalty", "interest", "principal"]


def _default_order() -> list[Component]:
    return ["penalty", "interest", "principal"]


Slug = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")

# The highest rate, interest or penalty, a loan may carry: 10 % a month. Lending's requests refuse a
# higher one at the edge from this same constant, so a request never passes and then breaks the event.
MAX_RATE_PER_MONTH = Decimal("0.1")


class LoanTerms(EventPayload):
    """A product's terms, copied onto each loan when it is applied for, so a later change to the
    product never changes a loan already made."""

    interest_method: InterestMethod
    rate_per_month: Decimal = Field(ge=0, le=MAX_RATE_PER_MONTH)
    grace_months: int = Field(default=0, ge=0)
    penalty_rate_per_month: Decimal = Field(default=Decimal(0), ge=0, le=MAX_RATE_PER_MONTH)
    allocation_order: list[Component] = Field(default_factory=_default_order)
    approvals_required: int = Field(default=1, ge=1, le=9)


@REGISTRY.register("lending.ProductDefined", 1)
class ProductDefined(EventPayload):
    """A loan product, as data."""

    product_id: str = Slug
    name_th: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    terms: LoanTerms
    min_term_months: int = Field(ge=1)
    max_term_months: int = Field(ge=1, le=360)
    max_amount_satang: int = Field(gt=0)
    # The loan may be at most this multiple of the member's savings (sajja + special); None: no limit.
    max_savings_multiple: Decimal | None = Field(default=None, gt=0)
    guarantors_required: int = Field(default=0, ge=0, le=5)


@REGISTRY.register("lending.LoanApplied", 1)
class LoanAppliedV1(EventPayload):
    model_config = ConfigDict(title="LoanApplied")

    loan_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    product_id: str
    principal_satang: int = Field(gt=0)
    term_months: int = Field(ge=1)
    purpose: str = Field(min_length=1, max_length=500)
    guarantor_ids: list[uuid.UUID] = Field(default_factory=list)
    applied_on: date
    # Who entered the application (maker); they may not approve it (checker).
    entered_by: str
    terms: LoanTerms
    # A social-policy programme loan draws the programme's budget instead of the group's cash.
    programme_id: str | None = None
    # Facts the officer attested for the programme's eligibility rules (e.g. {"poor_household": true}).
    eligibility: dict[str, bool] = Field(default_factory=dict)


@REGISTRY.register("lending.LoanApplied", 2)
class LoanApplied(EventPayload):
    """A loan application. v2: the purpose, typed by a person, is in lending's free-text register
    (libs/events/free_text.py); the event carries its id."""

    loan_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    product_id: str
    principal_satang: int = Field(gt=0)
    term_months: int = Field(ge=1)
    purpose_ref: uuid.UUID | None = None
    guarantor_ids: list[uuid.UUID] = Field(default_factory=list)
    applied_on: date
    # Who entered the application (maker); they may not approve it (checker).
    entered_by: str
    terms: LoanTerms
    # A social-policy programme loan draws the programme's budget instead of the group's cash.
    programme_id: str | None = None
    # Facts the officer attested for the programme's eligibility rules (e.g. {"poor_household": true}).
    eligibility: dict[str, bool] = Field(default_factory=dict)
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    purpose: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.LoanApplied", 1)(inline_text_stays)


@REGISTRY.register("lending.LoanApproved", 1)
class LoanApproved(EventPayload):
    """One committee approval. The loan is approved when `approvals` reaches the terms' requirement."""

    loan_id: uuid.UUID
    approved_by: str
    approvals: int = Field(ge=1)
    fully_approved: bool


@REGISTRY.register("lending.LoanRejected", 1)
class LoanRejectedV1(EventPayload):
    model_config = ConfigDict(title="LoanRejected")

    loan_id: uuid.UUID
    rejected_by: str
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.register("lending.LoanRejected", 2)
class LoanRejected(EventPayload):
    """An application rejected. v2: the reason is in lending's free-text register; the event carries its id."""

    loan_id: uuid.UUID
    rejected_by: str
    reason_ref: uuid.UUID | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reason: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.LoanRejected", 1)(inline_text_stays)


@REGISTRY.register("lending.DisbursementRequested", 1)
class DisbursementRequested(EventPayload):
    """Saga step 1: the ledger is asked to pay the loan out of the group's cash and post it to the
    group's books, or to refuse when the cash is short."""

    loan_id: uuid.UUID
    request_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    amount_satang: int = Field(gt=0)
    disbursed_on: date


class ScheduledInstallment(EventPayload):
    number: int = Field(ge=1)
    due_on: date
    principal_satang: int = Field(ge=0)
    interest_satang: int = Field(ge=0)


@REGISTRY.register("lending.LoanDisbursed", 1)
class LoanDisbursed(EventPayload):
    """Saga step 2 (the ledger posted the payout): the loan is active with its schedule."""

    loan_id: uuid.UUID
    request_id: uuid.UUID
    group_id: uuid.UUID
    member_id: uuid.UUID
    principal_satang: int = Field(gt=0)
    disbursed_on: date
    schedule: list[ScheduledInstallment]


@REGISTRY.register("lending.LoanOpened", 1)
class LoanOpened(EventPayload):
    """A loan carried over from a group's own books (an import): outstanding on the group's opening day and
    active from then, with the installments left of it. The ledger booked the receivable with the group's
    opening balances (ledger.OpeningLoanRecorded), so no saga runs."""

    loan_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    product_id: str
    principal_satang: int = Field(gt=0)  # as lent
    outstanding_satang: int = Field(gt=0)  # principal owed on `opened_on`: the schedule's principal
    disbursed_on: date
    opened_on: date
    terms: LoanTerms
    schedule: list[ScheduledInstallment]
    entered_by: str


@REGISTRY.register("lending.LoanDisbursementFailed", 1)
class LoanDisbursementFailed(EventPayload):
    """Saga step 2 (the ledger refused): the loan is not paid out; it can be requested again later."""

    loan_id: uuid.UUID
    request_id: uuid.UUID
    reason: str


@REGISTRY.register("lending.RepaymentReceived", 1)
class RepaymentReceived(EventPayload):
    """A repayment, split by the loan's allocation order. The ledger posts it to the group's books."""

    loan_id: uuid.UUID
    repayment_id: uuid.UUID
    group_id: uuid.UUID
    member_id: uuid.UUID
    paid_on: date
    amount_satang: int = Field(gt=0)
    penalty_satang: int = Field(ge=0)
    interest_satang: int = Field(ge=0)
    principal_satang: int = Field(ge=0)
    # Principal paid ahead of the schedule (part of principal_satang).
    prepaid_principal_satang: int = Field(default=0, ge=0)
    outstanding_principal_after_satang: int = Field(ge=0)
    # The due date of the first installment not yet fully paid after this repayment (None: all paid).
    oldest_unpaid_due_on: date | None
    # Set for a programme loan: its money is the programme's, not the group's (the ledger posts nothing).
    programme_id: str | None = None


@REGISTRY.register("lending.InstallmentOverdue", 1)
class InstallmentOverdue(EventPayload):
    """Recorded by the daily close when an installment passes its due date unpaid."""

    loan_id: uuid.UUID
    group_id: uuid.UUID
    member_id: uuid.UUID
    installment: int = Field(ge=1)
    due_on: date
    business_date: date
    days_past_due: int = Field(ge=1)
    overdue_satang: int = Field(gt=0)


@REGISTRY.register("lending.LoanRescheduled", 1)
class LoanRescheduledV1(EventPayload):
    """The outstanding principal re-spread over a new term from a new first due date."""

    model_config = ConfigDict(title="LoanRescheduled")

    loan_id: uuid.UUID
    rescheduled_on: date
    reason: str = Field(min_length=1, max_length=500)
    schedule: list[ScheduledInstallment]
    # What was paid before, carried so the new schedule starts from zero paid.
    outstanding_principal_satang: int = Field(gt=0)


@REGISTRY.register("lending.LoanRescheduled", 2)
class LoanRescheduled(EventPayload):
    """The outstanding principal re-spread over a new term from a new first due date. v2: the reason is in
    lending's free-text register; the event carries its id."""

    loan_id: uuid.UUID
    rescheduled_on: date
    reason_ref: uuid.UUID | None = None
    schedule: list[ScheduledInstallment]
    # What was paid before, carried so the new schedule starts from zero paid.
    outstanding_principal_satang: int = Field(gt=0)
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reason: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.LoanRescheduled", 1)(inline_text_stays)


@REGISTRY.register("lending.LoanWrittenOff", 1)
class LoanWrittenOffV1(EventPayload):
    model_config = ConfigDict(title="LoanWrittenOff")

    loan_id: uuid.UUID
    group_id: uuid.UUID
    member_id: uuid.UUID
    written_off_on: date
    principal_satang: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=500)
    programme_id: str | None = None


@REGISTRY.register("lending.LoanWrittenOff", 2)
class LoanWrittenOff(EventPayload):
    """The outstanding principal written off. v2: the reason is in lending's free-text register; the event
    carries its id."""

    loan_id: uuid.UUID
    group_id: uuid.UUID
    member_id: uuid.UUID
    written_off_on: date
    principal_satang: int = Field(gt=0)
    reason_ref: uuid.UUID | None = None
    programme_id: str | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reason: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.LoanWrittenOff", 1)(inline_text_stays)


@REGISTRY.register("lending.LoanClosed", 1)
class LoanClosed(EventPayload):
    loan_id: uuid.UUID
    closed_on: date
    reason: Literal["repaid", "written_off"]


FundingSource = Literal["central_budget", "local_budget", "partner_credit_line"]


@REGISTRY.register("lending.ProgrammeLaunched", 1)
class ProgrammeLaunched(EventPayload):
    """A social-policy lending programme: who funds it, whom it lends to, on what terms."""

    programme_id: str = Slug
    name_th: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    funding_source: FundingSource
    # The partner behind a credit line (e.g. "gsb"), or the budget's owner.
    funder: str = Field(min_length=1, max_length=100)
    terms: LoanTerms
    max_amount_satang: int = Field(gt=0)
    max_term_months: int = Field(ge=1, le=360)
    # Attested facts a borrower must have, all true (e.g. ["poor_household"]).
    eligibility_required: list[str] = Field(default_factory=list)
    # Where it lends: a province, a district, or (both None) everywhere.
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    district_code: str | None = Field(default=None, pattern=r"^\d{4}$")


@REGISTRY.register("lending.ProgrammeFunded", 1)
class ProgrammeFundedV1(EventPayload):
    """Budget added to a programme (a year's entrusted budget, a credit line drawn)."""

    model_config = ConfigDict(title="ProgrammeFunded")

    programme_id: str
    amount_satang: int = Field(gt=0)
    funded_on: date
    note: str = Field(min_length=1, max_length=500)
    available_after_satang: int = Field(ge=0)


@REGISTRY.register("lending.ProgrammeFunded", 2)
class ProgrammeFunded(EventPayload):
    """Budget added to a programme (a year's entrusted budget, a credit line drawn). v2: the note is in
    lending's free-text register; the event carries its id."""

    programme_id: str
    amount_satang: int = Field(gt=0)
    funded_on: date
    note_ref: uuid.UUID | None = None
    available_after_satang: int = Field(ge=0)
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    note: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.ProgrammeFunded", 1)(inline_text_stays)


@REGISTRY.register("lending.FundsAllocated", 1)
class FundsAllocated(EventPayload):
    """A programme loan paid out of the programme's budget."""

    programme_id: str
    loan_id: uuid.UUID
    amount_satang: int = Field(gt=0)
    allocated_on: date
    province_code: str
    district_code: str
    available_after_satang: int = Field(ge=0)


@REGISTRY.register("lending.FundsReturned", 1)
class FundsReturned(EventPayload):
    """Principal repaid on a programme loan, back in the programme's budget to lend again."""

    programme_id: str
    loan_id: uuid.UUID
    amount_satang: int = Field(gt=0)
    returned_on: date
    province_code: str
    district_code: str
    available_after_satang: int = Field(ge=0)


PayoutChannel = Literal["cash", "bank_transfer", "promptpay"]


@REGISTRY.register("lending.ItemPledged", 1)
class ItemPledgedV1(EventPayload):
    """A pawn ticket (ตั๋วจำนำ). The customer is named only by the office's own pseudonymous reference;
    account details for the payout live in lending's erasable payout register."""

    model_config = ConfigDict(title="ItemPledged")

    ticket_id: uuid.UUID
    branch_code: str = Field(min_length=1, max_length=20)
    customer_ref: str = Field(min_length=1, max_length=64)
    item_category: Literal["gold", "jewellery", "electronics", "tools", "other"]
    item_description: str = Field(min_length=1, max_length=500)
    appraised_value_satang: int = Field(gt=0)
    principal_satang: int = Field(gt=0)
    pledged_on: date
    rate_table: str
    monthly_interest_satang: int = Field(ge=0)
    maturity_date: date


@REGISTRY.register("lending.ItemPledged", 2)
class ItemPledged(EventPayload):
    """A pawn ticket (ตั๋วจำนำ). The customer is named only by the office's own pseudonymous reference;
    account details for the payout live in lending's erasable payout register. v2: the item's description
    may name its owner (an engraved name) and is in lending's free-text register; the event carries its id."""

    ticket_id: uuid.UUID
    branch_code: str = Field(min_length=1, max_length=20)
    customer_ref: str = Field(min_length=1, max_length=64)
    item_category: Literal["gold", "jewellery", "electronics", "tools", "other"]
    item_description_ref: uuid.UUID | None = None
    appraised_value_satang: int = Field(gt=0)
    principal_satang: int = Field(gt=0)
    pledged_on: date
    rate_table: str
    monthly_interest_satang: int = Field(ge=0)
    maturity_date: date
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    item_description: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.ItemPledged", 1)(inline_text_stays)


@REGISTRY.register("lending.PayoutInstructed", 1)
class PayoutInstructed(EventPayload):
    """The pawn loan is to be paid to the customer: in cash at the counter, or by transfer / PromptPay
    (confirmed later by the payment side's callback)."""

    ticket_id: uuid.UUID
    instruction_id: uuid.UUID
    channel: PayoutChannel
    amount_satang: int = Field(gt=0)


@REGISTRY.register("lending.PayoutConfirmed", 1)
class PayoutConfirmedV1(EventPayload):
    model_config = ConfigDict(title="PayoutConfirmed")

    ticket_id: uuid.UUID
    instruction_id: uuid.UUID
    reference: str = Field(min_length=1, max_length=100)
    confirmed_on: date


@REGISTRY.register("lending.PayoutConfirmed", 2)
class PayoutConfirmed(EventPayload):
    """The payout reached the customer. v2: the payment side's reference is copied from its callback and may
    carry an account or phone number, so it is in lending's free-text register and the event carries its id
    (none for a cash payout at the counter)."""

    ticket_id: uuid.UUID
    instruction_id: uuid.UUID
    reference_ref: uuid.UUID | None = None
    confirmed_on: date
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reference: str | None = Field(default=None, max_length=100)


REGISTRY.upcaster("lending.PayoutConfirmed", 1)(inline_text_stays)


@REGISTRY.register("lending.PayoutFailed", 1)
class PayoutFailedV1(EventPayload):
    model_config = ConfigDict(title="PayoutFailed")

    ticket_id: uuid.UUID
    instruction_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.register("lending.PayoutFailed", 2)
class PayoutFailed(EventPayload):
    """The payout failed. v2: the payment side's reason, when it gives one, is in lending's free-text register;
    the event carries its id."""

    ticket_id: uuid.UUID
    instruction_id: uuid.UUID
    reason_ref: uuid.UUID | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    reason: str | None = Field(default=None, max_length=500)


REGISTRY.upcaster("lending.PayoutFailed", 1)(inline_text_stays)


@REGISTRY.register("lending.PawnInterestPaid", 1)
class PawnInterestPaid(EventPayload):
    """A renewal (ต่อดอก): all interest due paid; the interest start and the term restart."""

    ticket_id: uuid.UUID
    paid_on: date
    interest_satang: int = Field(ge=0)
    maturity_date: date


@REGISTRY.register("lending.PawnRedeemed", 1)
class PawnRedeemed(EventPayload):
    ticket_id: uuid.UUID
    redeemed_on: date
    principal_satang: int = Field(gt=0)
    interest_satang: int = Field(ge=0)


@REGISTRY.register("lending.PawnForfeited", 1)
class PawnForfeited(EventPayload):
    """Not redeemed or renewed within the term (and any grace): the item passes to the office."""

    ticket_id: uuid.UUID
    forfeited_on: date


@REGISTRY.register("lending.ForfeitSold", 1)
class ForfeitSold(EventPayload):
    ticket_id: uuid.UUID
    sold_on: date
    sale_price_satang: int = Field(gt=0)
    principal_satang: int = Field(gt=0)
    # Sale price less the principal lent (negative: a loss).
    gain_satang: int


@REGISTRY.register("lending.PawnCustomerConsentGranted", 1)
class PawnCustomerConsentGranted(EventPayload):
    """The pawnshop office records that its customer consents to their pawn record being shared with a
    partner for a purpose (e.g. gsb / pawn-customer-referral). The customer is named only by the office's
    pseudonymous reference, as on their tickets (stream pawn-customer-<customer_ref>)."""

    customer_ref: str = Field(min_length=1, max_length=64)
    partner: str = Slug
    purpose: str = Slug
    # The version of the notice the customer was shown (PDPA: consent is to a specific notice).
    notice_version: str = Field(min_length=1, max_length=40)


@REGISTRY.register("lending.PawnCustomerConsentWithdrawn", 1)
class PawnCustomerConsentWithdrawn(EventPayload):
    """The customer withdraws a consent; it takes effect at once (partners' feeds carry a revocation)."""

    customer_ref: str = Field(min_length=1, max_length=64)
    partner: str = Slug
    purpose: str = Slug
