"""Ledger HTTP API under /ledger/v1 (DESIGN §6): requests ↔ commands, problem+json errors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.auth.access import BodyArea, Nationwide, PartnerCheck, Rule, access, record_in
from libs.documents.tables import Table, TableFormat, file_response
from libs.documents.thai_dates import MONTHS_TH, buddhist_year, thai_date
from libs.events import free_text
from libs.events.http import Problem, actor_of, fingerprint, idempotency_key
from libs.events.money import AsciiDecimal, NonNegativeAmount, PositiveAmount, default_amount, format_baht
from libs.events.schemas.ledger import GroupRules, JournalLine, ProfitShares, SavingsAccount
from services.ledger import book_totals, books, collection, collection_report, domain, installments
from services.ledger.handlers import SCHEMA, LedgerHandlers, today_in_thailand
from services.ledger.months import month_end


class StrictRequest(BaseModel):
    # Partners' typos must fail loudly, not be dropped silently.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GroupRulesRequest(StrictRequest):
    share_value: PositiveAmount = default_amount("50.00")
    min_monthly_commitment: PositiveAmount = default_amount("50.00")
    max_monthly_commitment: PositiveAmount = default_amount("5000.00")
    entrance_fee: NonNegativeAmount = default_amount("0.00")
    collection_day: int = Field(default=5, ge=1, le=28)
    sajja_withdrawable_before_exit: bool = False
    special_withdrawals_allowed: bool = True

    def to_rules(self) -> GroupRules:
        return GroupRules(
            share_value_satang=self.share_value,
            min_monthly_commitment_satang=self.min_monthly_commitment,
            max_monthly_commitment_satang=self.max_monthly_commitment,
            entrance_fee_satang=self.entrance_fee,
            collection_day=self.collection_day,
            sajja_withdrawable_before_exit=self.sajja_withdrawable_before_exit,
            special_withdrawals_allowed=self.special_withdrawals_allowed,
        )


class RegisterGroupRequest(StrictRequest):
    name: str = Field(min_length=1, max_length=200)
    province_code: str = Field(pattern=r"^[0-9]{2}$", description="DOPA province code (2 digits)")
    district_code: str = Field(pattern=r"^[0-9]{4}$", description="DOPA district code (4 digits)")
    subdistrict_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    village: str | None = Field(default=None, max_length=200)
    founded_on: date
    rules: GroupRulesRequest = Field(default_factory=GroupRulesRequest)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "กลุ่มออมทรัพย์เพื่อการผลิตบ้านหนองบัว",
                    "province_code": "27",
                    "district_code": "2701",
                    "subdistrict_code": "270101",
                    "village": "บ้านหนองบัว หมู่ 3",
                    "founded_on": "1998-05-01",
                }
            ]
        }
    )


class Beneficiary(StrictRequest):
    full_name: str = Field(min_length=1, max_length=200)
    relationship: str = Field(min_length=1, max_length=60, description="e.g. บุตร, คู่สมรส")
    share_percent: AsciiDecimal = Field(gt=0, le=100, max_digits=5, decimal_places=2)


class EnrollMemberRequest(StrictRequest):
    national_id: str = Field(min_length=13, max_length=17, description="13-digit Thai national ID")
    full_name: str = Field(min_length=1, max_length=200)
    joined_on: date
    monthly_commitment: PositiveAmount
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 -]{9,15}$")
    beneficiaries: list[Beneficiary] = Field(default_factory=list, max_length=10)

    @field_validator("beneficiaries")
    @classmethod
    def _shares_make_a_whole(cls, value: list[Beneficiary]) -> list[Beneficiary]:
        if value and sum(b.share_percent for b in value) != 100:
            raise ValueError("beneficiaries' shares must add up to 100 percent")
        return value

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "national_id": "1101700207030",
                    "full_name": "สมศรี ใจดี",
                    "joined_on": "2023-12-01",
                    "monthly_commitment": "100.00",
                    "phone": "0812345678",
                }
            ]
        }
    )


class DepositRequest(StrictRequest):
    account: SavingsAccount
    amount: PositiveAmount
    deposited_on: date

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"account": "special", "amount": "50.00", "deposited_on": "2024-01-05"}]}
    )


Key = Annotated[str, Depends(idempotency_key)]


class WithdrawalRequest(StrictRequest):
    account: SavingsAccount
    amount: PositiveAmount
    withdrawn_on: date

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"account": "special", "amount": "20.00", "withdrawn_on": "2024-02-05"}]}
    )


class ConsentRequest(StrictRequest):
    partner: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description='e.g. "gsb"')
    purpose: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$", description='e.g. "loan-referral"')
    granted: bool
    notice_version: str | None = Field(default=None, min_length=1, max_length=40)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "2024-01"}]
        }
    )


class ReversalRequest(StrictRequest):
    transaction_id: uuid.UUID
    reason: str = Field(min_length=1, max_length=500)

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"transaction_id": "0190a5a8-0000-7000-8000-000000000001", "reason": "บันทึกซ้ำ"}]}
    )


class ExitRequest(StrictRequest):
    exited_on: date
    reason: str | None = Field(default=None, max_length=500)

    model_config = ConfigDict(json_schema_extra={"examples": [{"exited_on": "2024-03-31", "reason": "ย้ายถิ่นฐาน"}]})


class ChangeCommitmentRequest(StrictRequest):
    monthly_commitment: PositiveAmount
    effective_on: date = Field(description="The new commitment is due from this date's month")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"monthly_commitment": "150.00", "effective_on": "2024-01-01"}]}
    )


Month = Annotated[
    str,
    Field(pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$", description="A calendar month, YYYY-MM (CE, 1900-2999)"),
]


def parse_month(value: str) -> date:
    return date.fromisoformat(value + "-01")


class CloseMonthRequest(StrictRequest):
    month: Month

    model_config = ConfigDict(json_schema_extra={"examples": [{"month": "2024-01"}]})


class JournalLineRequest(StrictRequest):
    account: str = Field(pattern=r"^[0-9]{4}$", description="An account of the chart (GET …/trial-balance lists them)")
    debit: NonNegativeAmount = default_amount("0.00")
    credit: NonNegativeAmount = default_amount("0.00")
    member_id: uuid.UUID | None = Field(default=None, description="The member the line concerns, if any")


class JournalEntryRequest(StrictRequest):
    posted_on: date
    memo: str = Field(min_length=1, max_length=500)
    lines: list[JournalLineRequest] = Field(min_length=2, max_length=50)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "posted_on": "2024-06-30",
                    "memo": "ดอกเบี้ยเงินฝากธนาคาร ครึ่งปีแรก",
                    "lines": [{"account": "1010", "debit": "350.00"}, {"account": "4030", "credit": "350.00"}],
                }
            ]
        }
    )


class ProfitSharesRequest(StrictRequest):
    reserve: AsciiDecimal = Field(ge=0, le=100, decimal_places=2)
    dividends: AsciiDecimal = Field(ge=0, le=100, decimal_places=2)
    borrower_rebates: AsciiDecimal = Field(ge=0, le=100, decimal_places=2)
    welfare: AsciiDecimal = Field(ge=0, le=100, decimal_places=2)
    community: AsciiDecimal = Field(ge=0, le=100, decimal_places=2)
    committee: AsciiDecimal = Field(ge=0, le=100, decimal_places=2)


class ProfitAllocationRequest(StrictRequest):
    period_start: Month
    period_end: Month
    allocated_on: date = Field(description="The annual meeting's date: after the period, in an open month")
    shares: ProfitSharesRequest | None = Field(default=None, description="Percentages; default: the group's rules")
    paid_into: Literal["special", "cash"] | None = Field(default=None, description="Default: the group's rules")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period_start": "2024-01",
                    "period_end": "2024-12",
                    "allocated_on": "2025-01-15",
                    "shares": {
                        "reserve": "10",
                        "dividends": "60",
                        "borrower_rebates": "10",
                        "welfare": "10",
                        "community": "5",
                        "committee": "5",
                    },
                    "paid_into": "special",
                }
            ]
        }
    )


def build_router(handlers: LedgerHandlers) -> APIRouter:
    router = APIRouter(prefix="/ledger/v1", tags=["ledger"])
    # Where each record lies, for access control: groups and members by their streams' first event.
    group = record_in(handlers.pool, SCHEMA, "group", "group_id", "group")
    member = record_in(handlers.pool, SCHEMA, "member", "member_id", "member")

    async def new_group_area(body: dict[str, object]) -> tuple[str, str | None] | None:
        district = body.get("district_code")
        return ("district", district) if isinstance(district, str) else None

    def _fp(request: Request, body: BaseModel) -> str:
        return fingerprint("POST", request.url.path, body.model_dump(mode="json"))

    @router.post("/groups", status_code=201, summary="Register a savings group")
    @access(Rule("ledger:write", BodyArea(new_group_area)))
    async def register_group(body: RegisterGroupRequest, request: Request, key: Key) -> JSONResponse:
        fields = body.model_dump(exclude={"rules"}) | {"rules": body.rules.to_rules()}
        result = await handlers.register_group(key, _fp(request, body), actor_of(request), fields)
        return result.response()

    @router.post("/groups/{group_id}/members", status_code=201, summary="Enrol a member in a group")
    @access(Rule("ledger:write", group))
    async def enroll_member(group_id: uuid.UUID, body: EnrollMemberRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.enroll_member(
            key,
            _fp(request, body),
            actor_of(request),
            group_id,
            body.national_id,
            body.full_name,
            body.joined_on,
            body.monthly_commitment,
            body.phone,
            [(b.full_name, b.relationship, b.share_percent) for b in body.beneficiaries],
        )
        return result.response()

    @router.post("/members/{member_id}/deposits", status_code=201, summary="Deposit into sajja or special savings")
    @access(Rule("ledger:write", member))
    async def deposit(member_id: uuid.UUID, body: DepositRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.deposit(
            key, _fp(request, body), actor_of(request), member_id, body.account, body.amount, body.deposited_on
        )
        return result.response()

    @router.post(
        "/members/{member_id}/withdrawals",
        status_code=201,
        summary="Withdraw savings",
        responses={409: {"description": "Funds are short, or the group's rules forbid it"}},
    )
    @access(Rule("ledger:write", member))
    async def withdraw(member_id: uuid.UUID, body: WithdrawalRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.withdraw(
            key, _fp(request, body), actor_of(request), member_id, body.account, body.amount, body.withdrawn_on
        )
        return result.response()

    @router.post("/members/{member_id}/consents", status_code=201, summary="Grant or withdraw consent")
    @access(Rule("ledger:write", member))
    async def decide_consent(member_id: uuid.UUID, body: ConsentRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.decide_consent(
            key,
            _fp(request, body),
            actor_of(request),
            member_id,
            body.partner,
            body.purpose,
            body.granted,
            body.notice_version,
        )
        return result.response()

    @router.get("/members/{member_id}/consents", summary="A member's full consent history")
    @access(Rule("ledger:read", member))
    async def consent_history(member_id: uuid.UUID) -> dict[str, object]:
        history = await handlers.consent_history(member_id)
        in_force: dict[tuple[str, str], dict[str, object]] = {}
        for entry in history:
            key_ = (str(entry["partner"]), str(entry["purpose"]))
            if entry["granted"]:
                in_force[key_] = entry
            else:
                in_force.pop(key_, None)
        return {"member_id": str(member_id), "in_force": list(in_force.values()), "history": history}

    @router.post("/members/{member_id}/reversals", status_code=201, summary="Reverse a deposit or withdrawal")
    @access(Rule("ledger:write", member))
    async def reverse(member_id: uuid.UUID, body: ReversalRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.reverse(
            key, _fp(request, body), actor_of(request), member_id, body.transaction_id, body.reason
        )
        return result.response()

    @router.post("/members/{member_id}/erasure", status_code=201, summary="Erase the member's personal data (PDPA)")
    @access(Rule("ledger:write", member))
    async def erase(
        member_id: uuid.UUID, body: free_text.ErasureConfirmation, request: Request, key: Key
    ) -> JSONResponse:
        result = await handlers.erase_personal_data(
            key, fingerprint("POST", request.url.path, body.model_dump()), actor_of(request), member_id
        )
        return result.response()

    @router.post(
        "/free-texts/{text_id}/erasure",
        status_code=201,
        summary="Erase a free text (a reason, a memo) by the id its event carries (PDPA; the department only)",
    )
    @access(Rule("ledger:write", Nationwide()))
    async def erase_text(
        text_id: uuid.UUID, body: free_text.ErasureConfirmation, request: Request, key: Key
    ) -> JSONResponse:
        fp = fingerprint("POST", request.url.path, body.model_dump())
        return (await free_text.erase_command(handlers.commands, SCHEMA, key, fp, text_id)).response()

    @router.post("/members/{member_id}/exit", status_code=201, summary="The member leaves; balances are paid out")
    @access(Rule("ledger:write", member))
    async def exit_member(member_id: uuid.UUID, body: ExitRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.exit_member(
            key, _fp(request, body), actor_of(request), member_id, body.exited_on, body.reason
        )
        return result.response()

    @router.post("/members/{member_id}/commitment", status_code=201, summary="Change the monthly sajja commitment")
    @access(Rule("ledger:write", member))
    async def change_commitment(
        member_id: uuid.UUID, body: ChangeCommitmentRequest, request: Request, key: Key
    ) -> JSONResponse:
        result = await handlers.change_commitment(
            key, _fp(request, body), actor_of(request), member_id, body.monthly_commitment, body.effective_on
        )
        return result.response()

    @router.post(
        "/groups/{group_id}/month-closes",
        status_code=201,
        summary="Close a month: record missed installments; entries dated in it are refused from then on",
        responses={409: {"description": "The month has not ended, is closed already, or an earlier one is open"}},
    )
    @access(Rule("ledger:write", group))
    async def close_month(group_id: uuid.UUID, body: CloseMonthRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.close_month(
            key, _fp(request, body), actor_of(request), group_id, parse_month(body.month)
        )
        return result.response()

    @router.get(
        "/members/{member_id}/installments", summary="The member's monthly sajja installments: due, paid, missed"
    )
    @access(Rule("ledger:read", member))
    async def member_installments(
        member_id: uuid.UUID,
        from_month: Annotated[str | None, Query(alias="from", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
        to_month: Annotated[str | None, Query(alias="to", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")] = None,
    ) -> dict[str, object]:
        today = today_in_thailand()
        member = await handlers.load_member(handlers.pool, member_id)
        first = parse_month(from_month) if from_month else member.joined_on.replace(day=1)
        last = parse_month(to_month) if to_month else today.replace(day=1)
        if (last.year - first.year) * 12 + last.month - first.month > 120:
            raise domain.LedgerRuleBroken("at most 120 months at a time", "to")
        lines = await handlers.member_installments(member_id, first, last)
        return {
            "member_id": str(member_id),
            "installments": [
                {
                    "month": line.month.isoformat()[:7],
                    "due": format_baht(line.due_satang),
                    "paid": format_baht(line.paid_satang),
                    "status": line.status,
                }
                for line in lines
            ],
        }

    @router.post(
        "/groups/{group_id}/journal-entries",
        status_code=201,
        summary="Post a balanced entry to the group's books (bank interest, expenses, transfers)",
        responses={409: {"description": "The month is closed, or the group's cash is short"}},
    )
    @access(Rule("ledger:write", group))
    async def post_journal_entry(
        group_id: uuid.UUID, body: JournalEntryRequest, request: Request, key: Key
    ) -> JSONResponse:
        lines = [
            JournalLine(account=x.account, debit_satang=x.debit, credit_satang=x.credit, member_id=x.member_id)
            for x in body.lines
        ]
        result = await handlers.post_journal_entry(
            key, _fp(request, body), actor_of(request), group_id, body.posted_on, body.memo, lines
        )
        return result.response()

    @router.get("/groups/{group_id}/journal", summary="The group's journal: every money movement as balanced postings")
    @access(Rule("ledger:read", group))
    async def journal(
        group_id: uuid.UUID,
        from_date: Annotated[date | None, Query(alias="from")] = None,
        to_date: Annotated[date | None, Query(alias="to")] = None,
        after: Annotated[
            str | None,
            Query(
                pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}:[0-9]{1,9}$", description="Cursor: the `next` of the page before"
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> dict[str, object]:
        first, last = from_date or date.min, to_date or date.max
        cursor = None
        if after is not None:
            on, _, seq = after.partition(":")
            try:
                cursor = (date.fromisoformat(on), int(seq))
            except ValueError as exc:
                raise Problem(422, "Invalid request", f"after: {exc}", "validation") from exc
        entries = await handlers.journal(group_id, first, last, cursor, limit)
        last_read = entries[-1]["cursor"] if len(entries) == limit else None
        return {
            "group_id": str(group_id),
            "next": f"{last_read[0].isoformat()}:{last_read[1]}" if last_read else None,
            "entries": [
                {
                    "on": e["on"].isoformat(),
                    "event_type": e["event_type"],
                    "member_id": e["payload"].get("member_id"),
                    "memo": e["memo"],
                    "lines": [
                        {
                            "account": p.account,
                            "name_th": books.CHART[p.account][0],
                            "debit": format_baht(p.debit_satang),
                            "credit": format_baht(p.credit_satang),
                        }
                        for p in e["lines"]
                    ],
                }
                for e in entries
            ],
        }

    @router.post(
        "/groups/{group_id}/profit-allocations",
        status_code=201,
        summary="Allocate a period's net profit: funds, dividends by average savings, borrower rebates",
        responses={409: {"description": "Months still open, period allocated already, no profit, or cash short"}},
    )
    @access(Rule("ledger:write", group))
    async def allocate_profit(
        group_id: uuid.UUID, body: ProfitAllocationRequest, request: Request, key: Key
    ) -> JSONResponse:
        start = parse_month(body.period_start)
        end = month_end(parse_month(body.period_end))
        shares = ProfitShares(**body.shares.model_dump()) if body.shares else None
        result = await handlers.allocate_profit(
            key,
            _fp(request, body),
            actor_of(request),
            group_id,
            start,
            end,
            body.allocated_on,
            shares,
            body.paid_into,
        )
        return result.response()

    @router.get("/groups/{group_id}", summary="A group, read from its stream, with its area's names")
    @access(Rule("ledger:read", group))
    async def get_group(group_id: uuid.UUID) -> dict[str, object]:
        group = await handlers.load_group(handlers.pool, group_id)
        return {
            "group_id": str(group.group_id),
            "name": group.name,
            "province_code": group.area.province_code,
            "district_code": group.area.district_code,
            "founded_on": group.founded_on.isoformat(),
            "closed_through": group.closed_through.isoformat()[:7] if group.closed_through else None,
            "rules": domain.describe_rules(group.rules),
            "version": group.version,
        }

    @router.get("/groups/{group_id}/trial-balance", summary="The group's trial balance on a date", response_model=None)
    @access(Rule("ledger:read", group))
    async def trial_balance(
        group_id: uuid.UUID,
        as_of: Annotated[date | None, Query(description="Business date (default: today in Thailand)")] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        day = as_of or today_in_thailand()
        balances = await handlers.group_books(group_id, day)
        debit = sum(b.debit_satang for b in balances)
        credit = sum(b.credit_satang for b in balances)
        if format != "json":
            # As a committee prints it: each balance on its side, and the two totals.
            sides = [(b, max(b.balance_satang, 0), max(-b.balance_satang, 0)) for b in balances if b.balance_satang]
            group = await handlers.load_group(handlers.pool, group_id)
            table = Table(
                title=[f"งบทดลอง — {group.name}", f"รหัสกลุ่ม {group_id}", f"ณ วันที่ {thai_date(day)}"],
                headings=["รหัสบัญชี", "ชื่อบัญชี", "เดบิต (บาท)", "เครดิต (บาท)"],
                rows=[[b.account, books.CHART[b.account][0], format_baht(d), format_baht(c)] for b, d, c in sides]
                + [["", "รวม", format_baht(sum(d for _, d, _ in sides)), format_baht(sum(c for _, _, c in sides))]],
                figures=frozenset({2, 3}),
            )
            return await file_response(table, format, f"trial-balance-{group_id}-{day.isoformat()}")
        return {
            "group_id": str(group_id),
            "as_of": day.isoformat(),
            "accounts": [
                {
                    "code": b.account,
                    "name_th": books.CHART[b.account][0],
                    "name_en": books.CHART[b.account][1],
                    "debit": format_baht(b.debit_satang),
                    "credit": format_baht(b.credit_satang),
                    "balance": format_baht(b.balance_satang),
                }
                for b in balances
            ],
            "total_debit": format_baht(debit),
            "total_credit": format_baht(credit),
            "balanced": debit == credit,
        }

    def _lines(lines: list[books.StatementLine]) -> list[dict[str, str]]:
        return [
            {
                "code": line.account,
                "name_th": books.CHART[line.account][0],
                "name_en": books.CHART[line.account][1],
                "amount": format_baht(line.amount_satang),
            }
            for line in lines
        ]

    def _long_date(day: date) -> str:
        """31 มีนาคม 2567: the statements' figures are Arabic digits, so their dates are too (one digit system)."""
        return f"{day.day} {MONTHS_TH[day.month - 1]} {buddhist_year(day)}"

    def _section(
        heading: str, lines: list[books.StatementLine], total: str, amount: int, *more: list[str | int]
    ) -> list[list[str | int]]:
        """A statement's section as a committee prints it: its heading, its accounts (and `more` lines), its total."""
        rows: list[list[str | int]] = [["", heading, ""]]
        rows += [[x.account, books.CHART[x.account][0], format_baht(x.amount_satang)] for x in lines]
        return [*rows, *more, ["", total, format_baht(amount)]]

    def _group_equity(sheet: books.BalanceSheet) -> int:
        return sum(x.amount_satang for x in sheet.equity) + sheet.unallocated_profit_satang

    async def _statement_file(
        group_id: uuid.UUID,
        title: str,
        when: str,
        rows: list[list[str | int]],
        format: Literal["csv", "xlsx"],
        name: str,
    ) -> Response:
        group = await handlers.load_group(handlers.pool, group_id)
        table = Table(
            title=[f"{title} — {group.name}", f"รหัสกลุ่ม {group_id}", when],
            headings=["รหัสบัญชี", "ชื่อบัญชี", "จำนวนเงิน (บาท)"],
            rows=rows,
            figures=frozenset({2}),
        )
        return await file_response(table, format, name)

    @router.get("/groups/{group_id}/balance-sheet", summary="The group's balance sheet on a date", response_model=None)
    @access(Rule("ledger:read", group))
    async def balance_sheet(
        group_id: uuid.UUID,
        as_of: Annotated[date | None, Query(description="Business date (default: today in Thailand)")] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        day = as_of or today_in_thailand()
        sheet = books.balance_sheet(await handlers.group_books(group_id, day))
        if format != "json":
            rows = _section("สินทรัพย์", sheet.assets, "รวมสินทรัพย์", sheet.total_assets_satang)
            rows += _section("หนี้สิน", sheet.liabilities, "รวมหนี้สิน", sum(x.amount_satang for x in sheet.liabilities))
            unallocated: list[str | int] = ["", "กำไรที่ยังไม่ได้จัดสรร", format_baht(sheet.unallocated_profit_satang)]
            rows += _section("ทุนและกองทุน", sheet.equity, "รวมทุนและกองทุน", _group_equity(sheet), unallocated)
            rows += [["", "รวมหนี้สินและทุน", format_baht(sheet.total_claims_satang)]]
            when = f"ณ วันที่ {_long_date(day)}"
            return await _statement_file(
                group_id, "งบแสดงฐานะการเงิน", when, rows, format, f"balance-sheet-{group_id}-{day.isoformat()}"
            )
        return {
            "group_id": str(group_id),
            "as_of": day.isoformat(),
            "assets": _lines(sheet.assets),
            "liabilities": _lines(sheet.liabilities),
            "equity": _lines(sheet.equity),
            "unallocated_profit": format_baht(sheet.unallocated_profit_satang),
            "total_liabilities": format_baht(sum(x.amount_satang for x in sheet.liabilities)),
            # The group's own: its funds and the profit not yet allocated.
            "total_equity": format_baht(_group_equity(sheet)),
            "total_assets": format_baht(sheet.total_assets_satang),
            "total_liabilities_and_equity": format_baht(sheet.total_claims_satang),
            "balanced": sheet.total_assets_satang == sheet.total_claims_satang,
        }

    @router.get(
        "/groups/{group_id}/income-statement",
        summary="The group's income and expenses over a period",
        response_model=None,
    )
    @access(Rule("ledger:read", group))
    async def income_statement(
        group_id: uuid.UUID,
        first: Annotated[
            date | None, Query(alias="from", description="First business date (default: 1 January of `to`'s year)")
        ] = None,
        last: Annotated[date | None, Query(alias="to", description="Last business date (default: today)")] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        end = last or today_in_thailand()
        start = first or end.replace(month=1, day=1)
        if start > end:
            raise Problem(422, "Invalid request", "from: must not be after to", "validation")
        await handlers.load_group(handlers.pool, group_id)
        statement = books.income_statement(
            await book_totals.period_profit_and_loss(handlers.pool, group_id, start, end)
        )
        if format != "json":
            rows = _section("รายได้", statement.income, "รวมรายได้", sum(x.amount_satang for x in statement.income))
            spent = sum(x.amount_satang for x in statement.expenses)
            rows += _section("ค่าใช้จ่าย", statement.expenses, "รวมค่าใช้จ่าย", spent)
            rows += [["", "กำไร (ขาดทุน) สุทธิ", format_baht(statement.net_profit_satang)]]
            when = f"ตั้งแต่วันที่ {_long_date(start)} ถึงวันที่ {_long_date(end)}"
            name = f"income-statement-{group_id}-{start.isoformat()}-{end.isoformat()}"
            return await _statement_file(group_id, "งบกำไรขาดทุน", when, rows, format, name)
        return {
            "group_id": str(group_id),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "income": _lines(statement.income),
            "expenses": _lines(statement.expenses),
            "total_income": format_baht(sum(x.amount_satang for x in statement.income)),
            "total_expenses": format_baht(sum(x.amount_satang for x in statement.expenses)),
            "net_profit": format_baht(statement.net_profit_satang),
        }

    @router.get("/groups/{group_id}/reconciliation", summary="Books' member savings against members' balances")
    @access(Rule("ledger:read", group))
    async def reconciliation(group_id: uuid.UUID) -> dict[str, object]:
        kept = await handlers.group_books(group_id, date.max)
        balances = {b.account: b for b in kept}
        members = await handlers.member_savings_total(group_id)
        journal = {
            "sajja": -balances[books.SAJJA].balance_satang,
            "special": -balances[books.SPECIAL].balance_satang,
        }
        # An audit read: the books' day totals (what every cash check reads) against the money events folded one by
        # one. They differ only if something wrote ledger events without the totals' hook.
        mismatched = sorted(
            b.account
            for b, f in zip(kept, await handlers.group_books_folded(group_id), strict=True)
            if (b.debit_satang, b.credit_satang) != (f.debit_satang, f.credit_satang)
        )
        return {
            "group_id": str(group_id),
            "journal": {k: format_baht(v) for k, v in journal.items()},
            "members": {k: format_baht(v) for k, v in members.items()},
            "difference": {k: format_baht(journal[k] - members[k]) for k in journal},
            "books_match_events": not mismatched,
            "accounts_not_matching": mismatched,
            "reconciled": journal == members and not mismatched,
        }

    @router.get(
        "/groups/{group_id}/collection-sheet",
        summary="The month's collection sheet: each member's commitment due, what they paid in the month so far, "
        "and the idempotency key each line posts its deposit with",
    )
    @access(Rule("ledger:read", group))
    async def collection_sheet(
        group_id: uuid.UUID,
        month: Annotated[Month | None, Query(description="The month collected (default: this month)")] = None,
        round: Annotated[  # noqa: A002 - the query's public name
            int, Query(ge=1, le=31, description="A second collection in the month is a new round: new keys")
        ] = 1,
    ) -> dict[str, object]:
        today = today_in_thailand()
        first = parse_month(month) if month else today.replace(day=1)
        group, lines, names = await handlers.collection_sheet(group_id, first)
        last = month_end(first)
        closed = group.closed_through is not None and first <= group.closed_through
        # Deposits are dated on the group's collection day of the month, or today while the month runs.
        collected_on = min(first.replace(day=group.rules.collection_day), today) if first <= today else None
        return {
            "group_id": str(group_id),
            "group_name": group.name,
            "month": first.isoformat()[:7],
            "round": round,
            "collected_on": collected_on.isoformat() if collected_on else None,
            "month_ended": last < today,
            "closed": closed,
            "lines": [
                {
                    "member_id": str(line.member_id),
                    "full_name": names.get(line.member_id),
                    "commitment": format_baht(line.commitment_satang),
                    "sajja_paid": format_baht(line.sajja_paid_satang),
                    "sajja_to_pay": format_baht(line.sajja_to_pay_satang),
                    "special_paid": format_baht(line.special_paid_satang),
                    "keys": {
                        account: collection.line_key(group_id, first, line.member_id, account, round)
                        for account in ("sajja", "special")
                    },
                }
                for line in lines
            ],
            "totals": {
                "commitment": format_baht(sum(x.commitment_satang for x in lines)),
                "sajja_paid": format_baht(sum(x.sajja_paid_satang for x in lines)),
                "special_paid": format_baht(sum(x.special_paid_satang for x in lines)),
            },
        }

    async def _paper(
        group_id: uuid.UUID, month: str | None
    ) -> tuple[domain.Group, date, list[collection_report.PaperLine]]:
        first = parse_month(month) if month else today_in_thailand().replace(day=1)
        group, lines, names = await handlers.collection_sheet(group_id, first)
        paper = [
            collection_report.PaperLine(
                names.get(x.member_id) or str(x.member_id),
                x.commitment_satang,
                x.sajja_paid_satang,
                x.special_paid_satang,
            )
            for x in lines
        ]
        return group, first, paper

    def _pdf(body: bytes, name: str) -> Response:
        return Response(
            body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
        )

    @router.get(
        "/groups/{group_id}/collection-sheet/report",
        summary="The month's collection report (PDF): each member's commitment, sajja and special paid, what is short",
        response_class=Response,
    )
    @access(Rule("ledger:read", group))
    async def collection_report_pdf(
        group_id: uuid.UUID,
        month: Annotated[Month | None, Query(description="The month collected (default: this month)")] = None,
    ) -> Response:
        group, first, paper = await _paper(group_id, month)
        font_dir = handlers.settings.thai_font_dir
        body = await asyncio.to_thread(  # setting a PDF is CPU work: off the event loop
            collection_report.report_pdf, group.name, first, paper, today_in_thailand(), font_dir
        )
        return _pdf(body, f"collection-{group_id}-{first:%Y-%m}.pdf")

    @router.get(
        "/groups/{group_id}/collection-sheet/receipts",
        summary="Receipts (PDF) for the members who paid in the month",
        response_class=Response,
    )
    @access(Rule("ledger:read", group))
    async def collection_receipts_pdf(
        group_id: uuid.UUID,
        month: Annotated[Month | None, Query(description="The month collected (default: this month)")] = None,
    ) -> Response:
        group, first, paper = await _paper(group_id, month)  # the group read once, its rules with it
        received_on = min(first.replace(day=group.rules.collection_day), today_in_thailand())
        font_dir = handlers.settings.thai_font_dir
        body = await asyncio.to_thread(collection_report.receipts_pdf, group.name, first, paper, received_on, font_dir)
        return _pdf(body, f"receipts-{group_id}-{first:%Y-%m}.pdf")

    @router.get(
        "/groups/{group_id}/member-balances",
        summary="The group's members with their balances, commitment and installments missed (for its page)",
    )
    @access(Rule("ledger:read", group))
    async def member_balances(group_id: uuid.UUID) -> dict[str, object]:
        today = today_in_thailand()
        group, members, names = await handlers.group_with_members(group_id)  # each member's stream read once
        ordered = sorted(members.values(), key=lambda m: (m.exited_on is not None, m.joined_on, str(m.member_id)))
        return {
            "group_id": str(group_id),
            "group_name": group.name,
            "items": [
                {
                    "member_id": str(m.member_id),
                    "full_name": names.get(m.member_id),
                    "joined_on": m.joined_on.isoformat(),
                    "exited_on": m.exited_on.isoformat() if m.exited_on else None,
                    "monthly_commitment": format_baht(installments.commitment_due(m, today.replace(day=1))),
                    "sajja": format_baht(m.balances["sajja"]),
                    "special": format_baht(m.balances["special"]),
                    "installments_missed": len(m.missed_installments),
                }
                for m in ordered
            ],
        }

    @router.get("/groups/{group_id}/members", summary="A group's members, cursor-paginated")
    @access(Rule("ledger:read", group))
    async def list_members(
        group_id: uuid.UUID,
        request: Request,
        after: Annotated[uuid.UUID | None, Query(description="The last member_id of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, object]:
        rows = await handlers.list_members(group_id, after, limit)
        items = [
            {
                "member_id": str(r["member_id"]),
                "full_name": None if r["erased"] else r["full_name"],
                "joined_on": r["joined_on"].isoformat() if r["joined_on"] else None,
                "flags": ["no_registration_status"] if r["no_registration_status"] else [],
            }
            for r in rows
        ]
        next_link = None
        if len(rows) == limit:
            next_link = str(request.url.include_query_params(after=str(rows[-1]["member_id"]), limit=limit))
        return {"items": items, "next": next_link}

    @router.get(
        "/members/{member_id}/contact",
        summary="The contact data a consent allows sharing with a partner, read from the register now",
        responses={403: {"description": "No consent in force for this partner and purpose"}},
    )
    @access(Rule("referrals:admin", member, partner=PartnerCheck("partner")))
    async def member_contact(
        member_id: uuid.UUID,
        partner: Annotated[str, Query(pattern=r"^[a-z][a-z0-9-]{1,39}$")],
        purpose: Annotated[str, Query(pattern=r"^[a-z][a-z0-9-]{1,39}$")],
    ) -> dict[str, object]:
        member = await handlers.load_member(handlers.pool, member_id)
        notice = member.consents.get((partner, purpose))
        if notice is None:
            raise Problem(403, "No consent", f"no consent in force for {partner}/{purpose}", "no-consent")
        row = await handlers.pool.fetchrow(
            "select full_name, phone, erased_at is not null as erased from ledger.member_register where member_id = $1",
            member_id,
        )
        return {
            "member_id": str(member_id),
            "notice_version": notice,
            "full_name": None if row is None or row["erased"] else row["full_name"],
            "phone": None if row is None or row["erased"] else row["phone"],
        }

    @router.get("/members/{member_id}", summary="A member's state, read from the member's stream")
    @access(Rule("ledger:read", member))
    async def get_member(member_id: uuid.UUID) -> dict[str, object]:
        member = await handlers.load_member(handlers.pool, member_id)
        this_month = today_in_thailand().replace(day=1)
        return {
            "member_id": str(member.member_id),
            "group_id": str(member.group_id),
            "joined_on": member.joined_on.isoformat(),
            "monthly_commitment": format_baht(member.monthly_commitment_satang),
            "balances": domain.describe_balance(member),
            "status": "exited" if member.exited_on else "active",
            "exited_on": member.exited_on.isoformat() if member.exited_on else None,
            "installments": {
                "this_month": {
                    "month": this_month.isoformat()[:7],
                    "due": format_baht(installments.commitment_due(member, this_month)),
                    "paid": format_baht(member.sajja_paid_by_month.get(this_month, 0)),
                },
                "missed": [
                    {"month": m.isoformat()[:7], "due": format_baht(due), "paid": format_baht(paid)}
                    for m, due, paid in member.missed_installments
                ],
                "missed_count": len(member.missed_installments),
            },
            "version": member.version,
        }

    return router
