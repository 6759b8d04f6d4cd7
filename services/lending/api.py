"""Lending HTTP API under /lending/v1 (DESIGN §6): requests ↔ commands, problem+json errors."""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from libs.auth.access import (
    Anywhere,
    AreaQuery,
    BodyArea,
    Nationwide,
    PlaceOf,
    Rule,
    access,
    place_from_query_param,
    record_in,
    uuid_or_none,
)
from libs.auth.principal import Place
from libs.documents.tables import Table, TableFormat, file_response
from libs.documents.thai_dates import thai_date
from libs.events import free_text
from libs.events.envelope import Area
from libs.events.free_text import FreeText
from libs.events.http import Problem, actor_of, fingerprint, idempotency_key, sheet_line_key
from libs.events.money import AsciiDecimal, NonNegativeAmount, PositiveAmount, default_amount, format_baht
from libs.events.schemas.lending import (
    MAX_RATE_PER_MONTH,
    Component,
    LoanTerms,
    ProductDefined,
    ProgrammeLaunched,
)
from services.lending import domain, pawn, pawn_tickets, programmes, schedules
from services.lending.handlers import SCHEMA, LendingHandlers, today_in_thailand
from services.lending.pawn_customers import CUSTOMER_REF_PATTERN

LEVEL_TH = {"national": "ประเทศ", "province": "จังหวัด", "district": "อำเภอ", "group": "กลุ่ม"}

Key = Annotated[str, Depends(idempotency_key)]
Percent = Annotated[AsciiDecimal, Field(ge=0, le=100, max_digits=7, decimal_places=4)]
# The events' bound on a monthly rate (LoanTerms), as a percentage: one constant for both.
MAX_PERCENT_PER_MONTH = MAX_RATE_PER_MONTH * 100
PercentPerMonth = Annotated[AsciiDecimal, Field(ge=0, le=MAX_PERCENT_PER_MONTH, max_digits=7, decimal_places=4)]


def _within_the_monthly_cap(percent: Decimal, info: ValidationInfo) -> Decimal:
    """An interest rate quoted per month or per year must come to at most MAX_RATE_PER_MONTH a month
    (needs `rate_per` declared before the rate, so that it is validated first)."""
    per = info.data.get("rate_per")
    if per is not None and schedules.monthly_rate(percent / 100, per) > MAX_RATE_PER_MONTH:
        raise ValueError(f"must come to at most {MAX_PERCENT_PER_MONTH:.2f} percent a month")
    return percent


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ProductRequest(StrictRequest):
    product_id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description='e.g. "occupation"')
    name_th: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    interest_method: Literal["flat", "declining"]
    rate_per: Literal["month", "year"] = "month"
    interest_rate_percent: Percent = Field(
        description=f"e.g. 1.00 (per month) or 12.00 (per year); at most {MAX_PERCENT_PER_MONTH:.2f} a month"
    )
    min_term_months: int = Field(default=1, ge=1, le=360)
    max_term_months: int = Field(ge=1, le=360)
    max_amount: PositiveAmount
    max_savings_multiple: AsciiDecimal | None = Field(default=None, gt=0, le=100, decimal_places=2)
    guarantors_required: int = Field(default=0, ge=0, le=5)
    grace_months: int = Field(default=0, ge=0, le=24)
    penalty_rate_percent_per_month: PercentPerMonth = Decimal(0)
    allocation_order: list[Component] = Field(default=["penalty", "interest", "principal"], min_length=3, max_length=3)
    approvals_required: int = Field(default=1, ge=1, le=9)

    _rate_cap = field_validator("interest_rate_percent")(_within_the_monthly_cap)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": "occupation",
                    "name_th": "เงินกู้เพื่อการประกอบอาชีพ",
                    "name_en": "Occupation loan",
                    "interest_method": "declining",
                    "interest_rate_percent": "1.00",
                    "rate_per": "month",
                    "max_term_months": 24,
                    "max_amount": "50000.00",
                    "max_savings_multiple": "5",
                    "guarantors_required": 2,
                    "penalty_rate_percent_per_month": "1.00",
                    "approvals_required": 2,
                }
            ]
        }
    )

    def to_event(self) -> ProductDefined:
        rate = self.interest_rate_percent / 100
        return ProductDefined(
            product_id=self.product_id,
            name_th=self.name_th,
            name_en=self.name_en,
            terms=LoanTerms(
                interest_method=self.interest_method,
                rate_per_month=schedules.monthly_rate(rate, self.rate_per),
                grace_months=self.grace_months,
                penalty_rate_per_month=self.penalty_rate_percent_per_month / 100,
                allocation_order=self.allocation_order,
                approvals_required=self.approvals_required,
            ),
            min_term_months=self.min_term_months,
            max_term_months=self.max_term_months,
            max_amount_satang=self.max_amount,
            max_savings_multiple=self.max_savings_multiple,
            guarantors_required=self.guarantors_required,
        )


class LoanApplicationRequest(StrictRequest):
    member_id: uuid.UUID
    product_id: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9-]{1,39}$", description="A group loan's product"
    )
    programme_id: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9-]{1,39}$", description="Or a social-policy programme to borrow from"
    )
    eligibility: dict[str, bool] = Field(
        default_factory=dict, description='Facts the officer attests for a programme, e.g. {"poor_household": true}'
    )
    principal: PositiveAmount
    term_months: int = Field(ge=1, le=360)
    purpose: str = Field(min_length=1, max_length=500)
    guarantor_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5)
    applied_on: date | None = Field(default=None, description="Default: today in Thailand")

    @model_validator(mode="after")
    def _one_source(self) -> LoanApplicationRequest:
        if (self.product_id is None) == (self.programme_id is None):
            raise ValueError("name either product_id (a group loan) or programme_id (a programme loan)")
        return self

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": "0190a5a8-0000-7000-8000-000000000001",
                    "product_id": "occupation",
                    "principal": "20000.00",
                    "term_months": 12,
                    "purpose": "ซื้อปุ๋ยและเมล็ดพันธุ์ข้าว",
                    "guarantor_ids": ["0190a5a8-0000-7000-8000-000000000002", "0190a5a8-0000-7000-8000-000000000003"],
                }
            ]
        }
    )


class ProgrammeRequest(StrictRequest):
    programme_id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    name_th: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    funding_source: Literal["central_budget", "local_budget", "partner_credit_line"]
    funder: str = Field(min_length=1, max_length=100, description='e.g. "gsb" for its credit line')
    interest_method: Literal["flat", "declining"] = "flat"
    rate_per: Literal["month", "year"] = "year"
    interest_rate_percent: Percent = Field(
        description=f"e.g. 3.00 (per year); at most {MAX_PERCENT_PER_MONTH:.2f} a month"
    )
    max_amount: PositiveAmount
    max_term_months: int = Field(ge=1, le=360)
    eligibility_required: list[str] = Field(default_factory=list, max_length=10)
    province_code: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    budget: NonNegativeAmount = default_amount("0.00")
    funded_on: date | None = None

    _rate_cap = field_validator("interest_rate_percent")(_within_the_monthly_cap)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "programme_id": "poor-households-2024",
                    "name_th": "สินเชื่อครัวเรือนยากจน ปี 2567",
                    "name_en": "Poor-household credit 2024",
                    "funding_source": "local_budget",
                    "funder": "อบจ.สระแก้ว",
                    "interest_rate_percent": "3.00",
                    "rate_per": "year",
                    "max_amount": "30000.00",
                    "max_term_months": 36,
                    "eligibility_required": ["poor_household"],
                    "province_code": "27",
                    "budget": "1000000.00",
                    "funded_on": "2024-01-02",
                }
            ]
        }
    )

    def to_event(self) -> ProgrammeLaunched:
        rate = self.interest_rate_percent / 100
        return ProgrammeLaunched(
            programme_id=self.programme_id,
            name_th=self.name_th,
            name_en=self.name_en,
            funding_source=self.funding_source,
            funder=self.funder,
            terms=LoanTerms(
                interest_method=self.interest_method, rate_per_month=schedules.monthly_rate(rate, self.rate_per)
            ),
            max_amount_satang=self.max_amount,
            max_term_months=self.max_term_months,
            eligibility_required=self.eligibility_required,
            province_code=self.province_code,
            district_code=self.district_code,
        )


class FundingRequest(StrictRequest):
    amount: PositiveAmount
    funded_on: date
    note: str = Field(min_length=1, max_length=500)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "500000.00", "funded_on": "2024-07-01", "note": "งบเพิ่มเติมกลางปี"}]}
    )


class PayoutRequest(StrictRequest):
    channel: Literal["cash", "bank_transfer", "promptpay"]
    bank_code: str | None = Field(default=None, pattern=r"^[0-9]{3}$", description="Thai bank code, e.g. 030 (GSB)")
    account_number: str | None = Field(default=None, pattern=r"^[0-9]{10,15}$")
    promptpay_id: str | None = Field(
        default=None, pattern=r"^(0[0-9]{9}|[0-9]{13})$", description="Mobile or ID number"
    )

    @model_validator(mode="after")
    def _details_match_the_channel(self) -> PayoutRequest:
        if self.channel == "bank_transfer" and not (self.bank_code and self.account_number):
            raise ValueError("a bank transfer needs bank_code and account_number")
        if self.channel == "promptpay" and not self.promptpay_id:
            raise ValueError("a PromptPay payout needs promptpay_id")
        return self


class PledgeRequest(StrictRequest):
    branch_code: str = Field(min_length=1, max_length=20, description="The office's branch (สาขา) code")
    province_code: str = Field(pattern=r"^[0-9]{2}$")
    district_code: str = Field(pattern=r"^[0-9]{4}$")
    customer_ref: str = Field(
        pattern=CUSTOMER_REF_PATTERN,
        description="The office's own pseudonymous customer reference: letters, digits, '.', '_', '-' (never an ID,"
        " phone or account number)",
    )
    item_category: Literal["gold", "jewellery", "electronics", "tools", "other"]
    item_description: str = Field(min_length=1, max_length=500)
    appraised_value: PositiveAmount
    principal: PositiveAmount
    pledged_on: date
    payout: PayoutRequest

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "branch_code": "BKK-01",
                    "province_code": "10",
                    "district_code": "1001",
                    "customer_ref": "c-7f3a91",
                    "item_category": "gold",
                    "item_description": "สร้อยคอทองคำ 96.5% หนัก 1 บาท",
                    "appraised_value": "38000.00",
                    "principal": "30000.00",
                    "pledged_on": "2025-03-01",
                    "payout": {"channel": "promptpay", "promptpay_id": "0812345678"},
                }
            ]
        }
    )


class PawnDateRequest(StrictRequest):
    on: date

    model_config = ConfigDict(json_schema_extra={"examples": [{"on": "2025-05-01"}]})


class SaleRequest(StrictRequest):
    sold_on: date
    sale_price: PositiveAmount

    model_config = ConfigDict(json_schema_extra={"examples": [{"sold_on": "2025-09-06", "sale_price": "31500.00"}]})


class PayoutCallbackRequest(StrictRequest):
    succeeded: bool
    reference: str | None = Field(default=None, min_length=1, max_length=100, description="The transfer's reference")
    reason: str | None = Field(default=None, max_length=500)
    on: date | None = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"succeeded": True, "reference": "PP20250301-000123", "on": "2025-03-01"}]}
    )


class PawnConsentRequest(StrictRequest):
    partner: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description='e.g. "gsb"')
    purpose: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description='e.g. "pawn-customer-referral"')
    granted: bool
    notice_version: str | None = Field(default=None, min_length=1, max_length=40)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"partner": "gsb", "purpose": "pawn-customer-referral", "granted": True, "notice_version": "2025-01"}
            ]
        }
    )


CustomerRef = Annotated[
    str,
    Path(
        pattern=CUSTOMER_REF_PATTERN,
        description="The office's own pseudonymous customer reference (letters, digits, '.', '_', '-')",
    ),
]


class ApprovalRequest(StrictRequest):
    note: str | None = Field(default=None, max_length=500)

    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "มติกรรมการ ครั้งที่ 3/2567"}]})


class RejectionRequest(StrictRequest):
    reason: str = Field(min_length=1, max_length=500)

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "ผู้ค้ำประกันไม่ครบ"}]})


class DisbursementRequest(StrictRequest):
    disbursed_on: date

    model_config = ConfigDict(json_schema_extra={"examples": [{"disbursed_on": "2024-01-15"}]})


class RepaymentRequest(StrictRequest):
    amount: PositiveAmount
    paid_on: date

    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": "1800.00", "paid_on": "2024-02-15"}]})


class RescheduleRequest(StrictRequest):
    term_months: int = Field(ge=1, le=360)
    rescheduled_on: date
    reason: str = Field(min_length=1, max_length=500)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"term_months": 18, "rescheduled_on": "2024-06-01", "reason": "น้ำท่วมนาข้าว"}]}
    )


class WriteOffRequest(StrictRequest):
    written_off_on: date
    reason: str = Field(min_length=1, max_length=500)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"written_off_on": "2025-01-31", "reason": "ผู้กู้ถึงแก่กรรม ไม่มีทายาทรับสภาพหนี้"}]}
    )


class DayCloseRequest(StrictRequest):
    business_date: date

    model_config = ConfigDict(json_schema_extra={"examples": [{"business_date": "2024-03-01"}]})


# Pawn transactions are the pawnshop office's (its partner client); the department and auditors read them.
PAWN_WRITE = Rule("pawn:write", Anywhere())
PAWN_READ = Rule("pawn:read", Anywhere())


def quality_figures(quality: domain.PortfolioQuality) -> dict[str, object]:
    """Portfolio quality as the API shows it: counts, money as decimal strings, PAR30 as a percentage."""
    return {
        "loans": quality.loans,
        "outstanding": format_baht(quality.outstanding_satang),
        "buckets": {
            name: {"loans": count, "outstanding": format_baht(amount)}
            for name, (count, amount) in quality.buckets.items()
        },
        "par30": format_baht(quality.par30_satang),
        "par30_percent": f"{(quality.par30_ratio * 100).quantize(Decimal('0.01'))}",
    }


def build_router(handlers: LendingHandlers) -> APIRouter:
    router = APIRouter(prefix="/lending/v1", tags=["lending"])
    pool = handlers.pool
    # Where each record lies, for access control: loans by their stream, members and groups by what
    # lending has projected from the ledger.
    loan = record_in(pool, SCHEMA, "loan", "loan_id", "loan")

    async def member_place(member_id: str) -> Place | None:
        found = uuid_or_none(member_id)
        facts = await handlers.member_facts(pool, found) if found else None
        return Place(facts.area.province_code, facts.area.district_code, str(facts.group_id)) if facts else None

    async def group_place(group_id: str) -> Place | None:
        found = uuid_or_none(group_id)
        row = found and await pool.fetchrow(
            "select province_code, district_code from lending.members where group_id = $1 limit 1", found
        )
        return Place(row["province_code"], row["district_code"], group_id) if row else None

    async def applicant_place(body: dict[str, object]) -> Place | None:
        return await member_place(str(body.get("member_id", "")))

    member = PlaceOf(place_from_query_param("member_id", member_place), "member")

    def _fp(request: Request, body: BaseModel) -> str:
        return fingerprint("POST", request.url.path, body.model_dump(mode="json"))

    async def loan_command(
        request: Request,
        key: str,
        body: BaseModel,
        loan_id: uuid.UUID,
        decide: domain.Decide,
        status: int = 201,
        texts: list[FreeText] | None = None,
    ) -> JSONResponse:
        result = await handlers.loan_command(
            key, _fp(request, body), actor_of(request), loan_id, decide, status, texts or []
        )
        return result.response()

    @router.post("/products", status_code=201, summary="Define a loan product (its terms are data)")
    @access(Rule("lending:admin", Nationwide()))
    async def define_product(body: ProductRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.define_product(key, _fp(request, body), actor_of(request), body.to_event())
        return result.response()

    @router.get("/products/{product_id}", summary="A loan product")
    @access(Rule("lending:read", Anywhere()))
    async def get_product(product_id: str) -> dict[str, object]:
        product = await handlers.load_product(handlers.pool, product_id)
        return describe_product(product)

    @router.post("/programmes", status_code=201, summary="Launch a social-policy lending programme, with its budget")
    @access(Rule("lending:admin", Nationwide()))
    async def launch_programme(body: ProgrammeRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.launch_programme(
            key,
            _fp(request, body),
            actor_of(request),
            body.to_event(),
            body.budget,
            body.funded_on or today_in_thailand(),
        )
        return result.response()

    @router.post("/programmes/{programme_id}/funding", status_code=201, summary="Add budget to a programme")
    @access(Rule("lending:admin", Nationwide()))
    async def fund_programme(programme_id: str, body: FundingRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.fund_programme(
            key, _fp(request, body), actor_of(request), programme_id, body.amount, body.funded_on, body.note
        )
        return result.response()

    @router.get("/programmes/{programme_id}", summary="A programme's budget, what it lent, what came back, by area")
    @access(Rule("lending:read", Nationwide()))
    async def get_programme(
        programme_id: str,
        on: Annotated[date | None, Query(description="Figures up to this date (default: today)")] = None,
        since: Annotated[date | None, Query(description="Also give the growth of outstanding since this date")] = None,
        level: Annotated[Literal["national", "province", "district"], Query()] = "province",
    ) -> dict[str, object]:
        day = on or today_in_thailand()
        programme = await handlers.load_programme(handlers.pool, programme_id)
        events = await handlers.programme_events(programme_id)
        now = programmes.figures_by_area(events, day, level)
        before = programmes.figures_by_area(events, since, level) if since else {}
        p = programme.launched
        return {
            "programme_id": p.programme_id,
            "name_th": p.name_th,
            "name_en": p.name_en,
            "funding_source": p.funding_source,
            "funder": p.funder,
            "funded": format_baht(programme.funded_satang),
            "lent": format_baht(programme.allocated_satang),
            "returned": format_baht(programme.returned_satang),
            "outstanding": format_baht(programme.outstanding_satang),
            "available": format_baht(programme.available_satang),
            "as_of": day.isoformat(),
            "by_area": [
                {
                    "code": code,
                    "outstanding": format_baht(f.outstanding_satang),
                    "lent": format_baht(f.allocated_satang),
                    "returned": format_baht(f.returned_satang),
                    **(
                        {
                            "growth_since": format_baht(
                                f.outstanding_satang - (before[code].outstanding_satang if code in before else 0)
                            )
                        }
                        if since
                        else {}
                    ),
                }
                for code, f in now.items()
            ],
        }

    @router.post("/loans", status_code=201, summary="Apply for a loan (the person entering it is the maker)")
    @access(Rule("lending:write", BodyArea(applicant_place)))
    async def apply(body: LoanApplicationRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.apply_for_loan(
            key,
            _fp(request, body),
            actor_of(request),
            body.member_id,
            body.product_id or "",
            body.principal,
            body.term_months,
            body.purpose,
            body.guarantor_ids,
            body.applied_on or today_in_thailand(),
            body.programme_id,
            body.eligibility,
        )
        return result.response()

    @router.post(
        "/loans/{loan_id}/approvals",
        status_code=201,
        summary="A committee member approves (checker): the signed-in user, never the one who entered it",
        responses={403: {"description": "The approver entered the application (maker-checker)"}},
    )
    @access(Rule("lending:approve", loan))
    async def approve(loan_id: uuid.UUID, body: ApprovalRequest, request: Request, key: Key) -> JSONResponse:
        approver = actor_of(request).id
        if approver == "anonymous":
            raise Problem(400, "Approver required", "An approval is made by a signed-in user.", "approver")
        return await loan_command(request, key, body, loan_id, lambda loan: [domain.approve(loan, approver)])

    @router.post("/loans/{loan_id}/rejections", status_code=201, summary="Reject an application, with a reason")
    @access(Rule("lending:approve", loan))
    async def reject(loan_id: uuid.UUID, body: RejectionRequest, request: Request, key: Key) -> JSONResponse:
        by = actor_of(request).id
        reason = FreeText.of("reason", body.reason)
        return await loan_command(
            request, key, body, loan_id, lambda loan: [domain.reject(loan, by, reason)], texts=[reason]
        )

    @router.post(
        "/loans/{loan_id}/disbursements",
        status_code=202,
        summary="Pay the approved loan out: the ledger posts it from the group's cash, or refuses",
        description="Answers 202 at once; `GET /loans/{loan_id}?wait=5` returns when the ledger has answered.",
    )
    @access(Rule("lending:write", loan))
    async def disburse(loan_id: uuid.UUID, body: DisbursementRequest, request: Request, key: Key) -> JSONResponse:
        request_id = uuid.uuid4()
        today = today_in_thailand()
        return await loan_command(
            request,
            key,
            body,
            loan_id,
            lambda loan: domain.start_disbursement(loan, request_id, body.disbursed_on, today),
            202,
        )

    @router.post("/loans/{loan_id}/repayments", status_code=201, summary="Record a repayment")
    @access(Rule("lending:write", loan))
    async def repay(loan_id: uuid.UUID, body: RepaymentRequest, request: Request, key: Key) -> JSONResponse:
        repayment_id = uuid.uuid4()
        today = today_in_thailand()
        return await loan_command(
            request, key, body, loan_id, lambda loan: domain.repay(loan, repayment_id, body.amount, body.paid_on, today)
        )

    @router.post("/loans/{loan_id}/reschedules", status_code=201, summary="Re-spread the outstanding principal")
    @access(Rule("lending:approve", loan))
    async def reschedule(loan_id: uuid.UUID, body: RescheduleRequest, request: Request, key: Key) -> JSONResponse:
        today = today_in_thailand()
        reason = FreeText.of("reason", body.reason)
        return await loan_command(
            request,
            key,
            body,
            loan_id,
            lambda loan: [domain.reschedule(loan, body.term_months, body.rescheduled_on, reason, today)],
            texts=[reason],
        )

    @router.post("/loans/{loan_id}/write-offs", status_code=201, summary="Write the outstanding principal off")
    @access(Rule("lending:approve", loan))
    async def write_off(loan_id: uuid.UUID, body: WriteOffRequest, request: Request, key: Key) -> JSONResponse:
        today = today_in_thailand()
        reason = FreeText.of("reason", body.reason)
        return await loan_command(
            request,
            key,
            body,
            loan_id,
            lambda loan: domain.write_off(loan, body.written_off_on, reason, today),
            texts=[reason],
        )

    @router.post(
        "/free-texts/{text_id}/erasure",
        status_code=201,
        summary="Erase a free text (a reason, a note, a description, a payout reference) by the id its event"
        " carries (PDPA; the department only)",
    )
    @access(Rule("lending:admin", Nationwide()))
    async def erase_text(
        text_id: uuid.UUID, body: free_text.ErasureConfirmation, request: Request, key: Key
    ) -> JSONResponse:
        fp = fingerprint("POST", request.url.path, body.model_dump())
        return (await free_text.erase_command(handlers.commands, SCHEMA, key, fp, text_id)).response()

    @router.post("/day-closes", status_code=201, summary="Daily close: record installments that fell overdue")
    @access(Rule("lending:admin", Nationwide()))
    async def close_day(body: DayCloseRequest, request: Request, key: Key) -> JSONResponse:
        # The close picks its loans from the portfolio read model: first let it reflect everything stored.
        read_after = getattr(request.app.state, "read_after", None)
        if read_after is not None:
            await read_after.caught_up(SCHEMA, await handlers.store_position())
        result = await handlers.close_day(key, _fp(request, body), actor_of(request), body.business_date)
        return result.response()

    group = PlaceOf(place_from_query_param("group_id", group_place), "group")

    @router.get(
        "/groups/{group_id}/installments-due",
        summary="The group's active loans with what is due on them by a month's collection day, for its collection "
        "sheet (and the idempotency key each line's repayment is sent with)",
    )
    @access(Rule("lending:read", group))
    async def installments_due(
        group_id: uuid.UUID,
        month: Annotated[
            str | None, Query(pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM (default: now)")
        ] = None,
        on: Annotated[date | None, Query(description="The day collected (default: the month's end or today)")] = None,
        round: Annotated[int, Query(ge=1, le=31)] = 1,  # noqa: A002 - the query's public name
    ) -> dict[str, object]:
        today = today_in_thailand()
        first = date.fromisoformat(month + "-01") if month else today.replace(day=1)
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        day = on or min(last, today)
        loans = await handlers.active_loans_of_group(group_id)
        lines = []
        for loan in sorted(loans, key=lambda x: (x.disbursed_on or date.min, str(x.loan_id))):
            now = domain.position(loan, day)
            due = now.principal_due_satang + now.interest_due_satang + now.penalty_due_satang
            lines.append(
                {
                    "loan_id": str(loan.loan_id),
                    "member_id": str(loan.member_id),
                    "disbursed_on": loan.disbursed_on.isoformat() if loan.disbursed_on else None,
                    "due": format_baht(due),
                    "outstanding_principal": format_baht(now.outstanding_principal_satang),
                    "payoff": format_baht(now.payoff_satang),
                    "days_past_due": now.days_past_due,
                    "key": sheet_line_key(group_id, first, round, loan.loan_id, "repayment"),
                }
            )
        return {"group_id": str(group_id), "month": first.isoformat()[:7], "on": day.isoformat(), "loans": lines}

    @router.get("/members/{member_id}", summary="What lending knows of a member (from the ledger topic)")
    @access(Rule("lending:read", member))
    async def get_member(member_id: uuid.UUID) -> dict[str, object]:
        facts = await handlers.member_facts(handlers.pool, member_id)
        if facts is None:
            raise Problem(404, "Not found", f"member {member_id} is unknown to lending", "not-found")
        return {
            "member_id": str(facts.member_id),
            "group_id": str(facts.group_id),
            "province_code": facts.area.province_code,
            "district_code": facts.area.district_code,
            "active": facts.active,
            "savings": format_baht(facts.savings_satang),
        }

    @router.get(
        "/portfolio",
        summary="Portfolio quality: delinquency buckets and PAR30 for an area, on a date",
        response_model=None,
    )
    @access(Rule("lending:read", AreaQuery(group_place)))
    async def portfolio(
        level: Annotated[Literal["national", "province", "district", "group"], Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code, or group id")] = None,
        on: Annotated[date | None, Query(description="Business date (default: today in Thailand)")] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        day = on or today_in_thailand()
        quality = domain.portfolio_quality(await handlers.portfolio(level, code), day)
        if format != "json":
            bucket_th = {"current": "ปกติ (ไม่ค้างชำระ)", "90+": "ค้างชำระเกิน 90 วัน"}
            rows: list[list[str | int]] = [
                [bucket_th.get(name, f"ค้างชำระ {name} วัน"), count, format_baht(amount)]
                for name, (count, amount) in quality.buckets.items()
            ]
            rows.append(["รวม", quality.loans, format_baht(quality.outstanding_satang)])
            rows.append(
                [
                    f"PAR30 ({(quality.par30_ratio * 100).quantize(Decimal('0.01'))}%)",
                    "",
                    format_baht(quality.par30_satang),
                ]
            )
            table = Table(
                title=[
                    f"คุณภาพสินเชื่อกลุ่ม ระดับ{LEVEL_TH[level]} {code or ''}".strip(),
                    f"ข้อมูล ณ วันที่ {thai_date(day)}",
                ],
                headings=["ช่วงการค้างชำระ", "จำนวนสัญญา", "เงินต้นคงค้าง (บาท)"],
                rows=rows,
                figures=frozenset({1, 2}),
            )
            return await file_response(table, format, f"portfolio-{level}-{code or 'th'}-{day.isoformat()}")
        return {"level": level, "code": code, "as_of": day.isoformat(), **quality_figures(quality)}

    @router.get(
        "/portfolio/breakdown",
        summary="Portfolio quality of each child area with active loans (provinces, districts or groups), on a date",
    )
    @access(Rule("lending:read", AreaQuery(group_place)))
    async def portfolio_breakdown(
        level: Annotated[Literal["national", "province", "district"], Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code")] = None,
        on: Annotated[date | None, Query(description="Business date (default: today in Thailand)")] = None,
    ) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        day = on or today_in_thailand()
        children = await handlers.portfolio_breakdown(level, code)
        return {
            "level": level,
            "code": code,
            "child_level": {"national": "province", "province": "district"}.get(level, "group"),
            "as_of": day.isoformat(),
            "items": [
                {"code": child, **quality_figures(domain.portfolio_quality(lines, day))}
                for child, lines in children.items()
            ],
        }

    # --- pawn loans: the pawnshop office's partner endpoints ----------------------------------
    grace_days = handlers.settings.pawn_forfeit_grace_days

    async def ticket_command(
        request: Request,
        key: str,
        body: BaseModel,
        ticket_id: uuid.UUID,
        decide: Any,
        texts: list[FreeText | None] | None = None,
    ) -> JSONResponse:
        result = await handlers.ticket_command(
            key, _fp(request, body), actor_of(request), ticket_id, decide, texts or []
        )
        return result.response()

    @router.post("/pawn/tickets", status_code=201, summary="Pledge an item: a ticket and its payout instruction")
    @access(PAWN_WRITE)
    async def pledge(body: PledgeRequest, request: Request, key: Key) -> JSONResponse:
        fields = {
            "branch_code": body.branch_code,
            "customer_ref": body.customer_ref,
            "item_category": body.item_category,
            "item_description": body.item_description,
            "appraised_value_satang": body.appraised_value,
            "principal_satang": body.principal,
            "pledged_on": body.pledged_on,
        }
        area = Area(province_code=body.province_code, district_code=body.district_code)
        result = await handlers.pledge(
            key, _fp(request, body), actor_of(request), area, fields, body.payout.model_dump()
        )
        return result.response()

    @router.post(
        "/pawn/payouts/{instruction_id}/callback",
        status_code=201,
        summary="The payment side confirms (or fails) a transfer / PromptPay payout",
    )
    @access(PAWN_WRITE)
    async def payout_callback(
        instruction_id: uuid.UUID, body: PayoutCallbackRequest, request: Request, key: Key
    ) -> JSONResponse:
        ticket_id = await handlers.ticket_of_instruction(instruction_id)
        on = body.on or today_in_thailand()
        # Copied from the payment side, they may carry account or phone numbers: kept in the register.
        reference = FreeText.optional("reference", body.reference)
        reason = FreeText.optional("reason", body.reason)
        return await ticket_command(
            request,
            key,
            body,
            ticket_id,
            lambda t: pawn_tickets.payout_callback(t, instruction_id, body.succeeded, reference, reason, on),
            [reference, reason],
        )

    @router.post("/pawn/tickets/{ticket_id}/renewals", status_code=201, summary="Pay the interest due (ต่อดอก)")
    @access(PAWN_WRITE)
    async def renew(ticket_id: uuid.UUID, body: PawnDateRequest, request: Request, key: Key) -> JSONResponse:
        today = today_in_thailand()
        return await ticket_command(
            request, key, body, ticket_id, lambda t: [pawn_tickets.renew(t, body.on, today, grace_days)]
        )

    @router.post("/pawn/tickets/{ticket_id}/redemptions", status_code=201, summary="Redeem (ไถ่ถอน)")
    @access(PAWN_WRITE)
    async def redeem(ticket_id: uuid.UUID, body: PawnDateRequest, request: Request, key: Key) -> JSONResponse:
        today = today_in_thailand()
        return await ticket_command(request, key, body, ticket_id, lambda t: [pawn_tickets.redeem(t, body.on, today)])

    @router.post("/pawn/tickets/{ticket_id}/forfeitures", status_code=201, summary="Forfeit after the term (หลุดจำนำ)")
    @access(PAWN_WRITE)
    async def forfeit(ticket_id: uuid.UUID, body: PawnDateRequest, request: Request, key: Key) -> JSONResponse:
        today = today_in_thailand()
        return await ticket_command(
            request, key, body, ticket_id, lambda t: [pawn_tickets.forfeit(t, body.on, today, grace_days)]
        )

    @router.post("/pawn/tickets/{ticket_id}/sales", status_code=201, summary="Sell a forfeited item")
    @access(PAWN_WRITE)
    async def sell(ticket_id: uuid.UUID, body: SaleRequest, request: Request, key: Key) -> JSONResponse:
        today = today_in_thailand()
        return await ticket_command(
            request, key, body, ticket_id, lambda t: [pawn_tickets.sell(t, body.sold_on, body.sale_price, today)]
        )

    @router.post(
        "/pawn/customers/{customer_ref}/consents",
        status_code=201,
        summary="The office records a pawn customer's consent to a partner and purpose, or its withdrawal",
    )
    @access(PAWN_WRITE)
    async def decide_pawn_consent(
        customer_ref: CustomerRef, body: PawnConsentRequest, request: Request, key: Key
    ) -> JSONResponse:
        result = await handlers.decide_pawn_consent(
            key,
            _fp(request, body),
            actor_of(request),
            customer_ref,
            body.partner,
            body.purpose,
            body.granted,
            body.notice_version,
        )
        return result.response()

    @router.get("/pawn/customers/{customer_ref}/consents", summary="A pawn customer's consents: in force, and history")
    @access(PAWN_READ)
    async def pawn_consent_history(customer_ref: CustomerRef) -> dict[str, object]:
        history = await handlers.pawn_consent_history(customer_ref)
        in_force: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in history:
            if entry["granted"]:
                in_force[(entry["partner"], entry["purpose"])] = entry
            else:
                in_force.pop((entry["partner"], entry["purpose"]), None)
        return {"customer_ref": customer_ref, "in_force": list(in_force.values()), "history": history}

    @router.get("/pawn/tickets/{ticket_id}", summary="A pawn ticket: status, interest due on a date, term")
    @access(PAWN_READ)
    async def get_ticket(
        ticket_id: uuid.UUID, on: Annotated[date | None, Query(description="Default: today in Thailand")] = None
    ) -> dict[str, object]:
        day = on or today_in_thailand()
        ticket, _ = await handlers.load_ticket(handlers.pool, ticket_id)
        p = ticket.pledged
        texts = await handlers.texts([p.item_description_ref])
        description = texts.get(p.item_description_ref) if p.item_description_ref else p.item_description
        open_ = ticket.status == "pawned"
        return {
            "ticket_id": str(ticket_id),
            "status": ticket.status,
            "branch_code": p.branch_code,
            "customer_ref": p.customer_ref,
            "item_category": p.item_category,
            "item_description": description,
            "appraised_value": format_baht(p.appraised_value_satang),
            "principal": format_baht(p.principal_satang),
            "rate_table": p.rate_table,
            "monthly_interest": format_baht(p.monthly_interest_satang),
            "pledged_on": p.pledged_on.isoformat(),
            "interest_from": ticket.term_start.isoformat(),
            "maturity_date": pawn.maturity_date(ticket.term_start).isoformat(),
            "as_of": day.isoformat(),
            "interest_due": format_baht(pawn_tickets.interest_due(ticket, day))
            if open_ and day >= ticket.term_start
            else None,
            "may_forfeit": open_ and pawn.may_forfeit(ticket.term_start, day, grace_days),
            "payout": {"channel": ticket.channel, "reference": ticket.payout_reference},
        }

    @router.get("/loans/{loan_id}", summary="A loan: status, schedule, what is due, days past due")
    @access(Rule("lending:read", loan))
    async def get_loan(
        loan_id: uuid.UUID,
        on: Annotated[date | None, Query(description="Business date (default: today in Thailand)")] = None,
        wait: Annotated[float, Query(ge=0, le=30, description="Seconds to wait while the payout is pending")] = 0,
    ) -> dict[str, object]:
        loan, _ = await handlers.wait_while_disbursing(loan_id, wait)
        texts = await handlers.texts([loan.rejection_reason_ref])
        return describe_loan(loan, on or today_in_thailand(), texts)

    return router


def describe_product(product: ProductDefined) -> dict[str, object]:
    return {
        "product_id": product.product_id,
        "name_th": product.name_th,
        "name_en": product.name_en,
        "interest_method": product.terms.interest_method,
        "rate_percent_per_month": str(product.terms.rate_per_month * 100),
        "min_term_months": product.min_term_months,
        "max_term_months": product.max_term_months,
        "max_amount": format_baht(product.max_amount_satang),
        "max_savings_multiple": str(product.max_savings_multiple) if product.max_savings_multiple else None,
        "guarantors_required": product.guarantors_required,
        "grace_months": product.terms.grace_months,
        "penalty_rate_percent_per_month": str(product.terms.penalty_rate_per_month * 100),
        "allocation_order": product.terms.allocation_order,
        "approvals_required": product.terms.approvals_required,
    }


def describe_loan(loan: domain.Loan, on: date, texts: Mapping[uuid.UUID, str | None]) -> dict[str, object]:
    """The loan as the API shows it; `texts` holds the free texts it refers to (its rejection's reason)."""
    now = domain.position(loan, on)
    ref = loan.rejection_reason_ref
    return {
        "loan_id": str(loan.loan_id),
        "member_id": str(loan.member_id),
        "group_id": str(loan.group_id),
        "product_id": loan.product_id,
        "status": loan.status,
        "principal": format_baht(loan.principal_satang),
        "term_months": loan.term_months,
        "approvals": list(loan.approvers),
        "rejection_reason": texts.get(ref) if ref else loan.rejection_reason,
        "disbursement_failure": loan.failure_reason,
        "disbursed_on": loan.disbursed_on.isoformat() if loan.disbursed_on else None,
        "closed_on": loan.closed_on.isoformat() if loan.closed_on else None,
        "as_of": on.isoformat(),
        "outstanding_principal": format_baht(now.outstanding_principal_satang),
        "due": {
            "principal": format_baht(now.principal_due_satang),
            "interest": format_baht(now.interest_due_satang),
            "penalty": format_baht(now.penalty_due_satang),
        },
        "payoff": format_baht(now.payoff_satang),
        "days_past_due": now.days_past_due,
        "bucket": domain.bucket_of(now.days_past_due),
        "schedule": [
            {
                "number": i.number,
                "due_on": i.due_on.isoformat(),
                "principal": format_baht(i.principal_satang),
                "interest": format_baht(i.interest_satang),
                "total": format_baht(i.principal_satang + i.interest_satang),
                "status": now.statuses.get(i.number, "upcoming"),
            }
            for i in loan.schedule
        ],
        "version": loan.version,
    }
