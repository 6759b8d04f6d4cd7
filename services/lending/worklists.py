"""What an officer works through in lending: the area's loans in arrears, worst first, and the applications
waiting for a checker (maker-checker) that the caller may check. Both read what lending keeps by area (the
loan portfolio's index by oldest unpaid due date; the waiting applications), so a read costs the rows it
shows; the loans shown are then read from their own streams for what is due on them. Names (members, groups)
are the ledger's: asked of its register for the rows shown, and shown only to callers who may read it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

import asyncpg
import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from libs.auth.access import AreaQuery, Rule, access, principal_of
from libs.auth.principal import Place
from libs.documents.tables import Table, TableFormat, file_response
from libs.documents.thai_dates import thai_date
from libs.events.envelope import today_in_thailand
from libs.events.errors import NotFound
from libs.events.http import Problem
from libs.events.money import format_baht
from libs.events.registry import REGISTRY
from libs.events.runtime import Platform
from services.lending import domain
from services.lending.approvals import Application
from services.lending.handlers import LendingHandlers

AreaLevel = Literal["national", "province", "district", "group"]
LEVEL_TH = {"national": "ทั่วประเทศ", "province": "จังหวัด", "district": "อำเภอ", "group": "กลุ่ม"}
PAGE = 50
MAX_PAGE = 500
FILE_ROWS = 1000  # a worklist file: the worst thousand (the JSON pages on beyond)
ERASED_TH = "(ลบข้อมูลส่วนบุคคลแล้ว)"

# The area's active loans whose oldest unpaid installment fell due before the day, worst first; one statement per
# level, so each uses its partial index (migrations/007_worklists.sql) and stops at the page's end.
_WHERE = {
    "national": "$2::text = ''",
    "province": "province_code = $2",
    "district": "district_code = $2",
    "group": "group_id = $2::uuid",
}
# After the cursor: a row comparison over the index's own columns (the area's code first), so a later page starts
# where the last one ended instead of reading past the rows before it.
_AFTER = {
    "national": "(oldest_unpaid_due_on, loan_id) > ($3::date, $4::uuid)",
    "province": "(province_code, oldest_unpaid_due_on, loan_id) > ($2, $3::date, $4::uuid)",
    "district": "(district_code, oldest_unpaid_due_on, loan_id) > ($2, $3::date, $4::uuid)",
    "group": "(oldest_unpaid_due_on, loan_id) > ($3::date, $4::uuid)",
}
_IN_ARREARS_SQL = """
    select loan_id, group_id, member_id, district_code, outstanding_satang, oldest_unpaid_due_on
    from lending.loan_portfolio
    where status = 'active' and oldest_unpaid_due_on < $1 and {where} and {after}
    order by oldest_unpaid_due_on, loan_id limit $5"""
# The area's waiting applications the caller may still check (not their own, not approved by them already: the
# rule of approvals.Application.may_check, applied here so the page holds the caller's whatever the area's count),
# oldest first, a page of them; and how many wait in all and for the caller.
_WAITING_SQL = """
    select loan_id::text, group_id::text, member_id::text, province_code, district_code, product_id, programme_id,
           principal_satang, term_months, applied_on, entered_by, approvals_required, approved_by
    from lending.loan_applications where {where} and entered_by <> $2 and not ($2 = any(approved_by))
    order by applied_on, loan_id limit $3"""
_WAITING_COUNT_SQL = """
    select count(*) as waiting,
           count(*) filter (where entered_by <> $2 and not ($2 = any(approved_by))) as for_you
    from lending.loan_applications where {where}"""
APPROVALS_SHOWN = 200
_FIRST = (date.min, uuid.UUID(int=0))


def parse_cursor(text: str | None) -> tuple[date, uuid.UUID]:
    """`<oldest unpaid due date>_<loan id>` of the previous page's last row (none: from the start)."""
    if not text:
        return _FIRST
    try:
        day, _, loan_id = text.partition("_")
        return date.fromisoformat(day), uuid.UUID(loan_id)
    except ValueError:
        raise Problem(422, "Invalid request", "after: not a cursor this list gave", "validation") from None


def may_see_names(request: Request) -> bool:
    """Members' names are the ledger's register: shown to callers who may read it (its area is checked already)."""
    principal = principal_of(request)
    return principal is not None and "ledger:read" in principal.scopes


def build_worklist_router(handlers: LendingHandlers, platform: Platform | None, group_place: Any) -> APIRouter:
    router = APIRouter(prefix="/lending/v1", tags=["worklists"])
    pool = handlers.pool
    kinds: dict[str, tuple[str, str]] = {}  # a product or programme never changes its names: kept once read

    async def kind_of(loan: domain.Loan) -> tuple[str, str]:
        key = loan.programme_id or loan.product_id
        if key not in kinds:
            try:
                if loan.programme_id:
                    launched = (await handlers.load_programme(pool, loan.programme_id)).launched
                    kinds[key] = (launched.name_th, launched.name_en)
                else:
                    product = await handlers.load_product(pool, loan.product_id)
                    kinds[key] = (product.name_th, product.name_en)
            except NotFound:
                kinds[key] = (key, key)
        return kinds[key]

    async def names_of(member_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Members' names and their groups' names from the ledger's register, for the rows shown."""
        if not member_ids or platform is None:
            return {}
        why = "the member register cannot be read right now; retry shortly"
        unavailable = Problem(503, "Unavailable", why, headers={"Retry-After": "2"})
        try:
            async with platform.service_client("ledger") as ledger:
                answer = await ledger.get("/ledger/v1/members/names", params=[("member_id", m) for m in member_ids])
        except (LookupError, httpx.HTTPError) as exc:
            raise unavailable from exc
        if answer.status_code != 200:
            raise unavailable
        return {item["member_id"]: item for item in answer.json()["items"]}

    def _code(level: str, code: str | None) -> str:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        if level == "group" and code:
            try:
                return str(uuid.UUID(code))
            except ValueError:
                raise Problem(422, "Invalid request", "code: a group id for level group", "validation") from None
        return code or ""

    async def in_arrears(
        level: str, code: str, day: date, after: tuple[date, uuid.UUID], limit: int
    ) -> list[asyncpg.Record]:
        sql = _IN_ARREARS_SQL.format(where=_WHERE[level], after=_AFTER[level])
        return await pool.fetch(sql, day, code, *after, limit)

    async def overdue_rows(
        request: Request, level: str, code: str, day: date, after: tuple[date, uuid.UUID], limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        rows = await in_arrears(level, code, day, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        streams = await handlers.store.read_streams(pool, [domain.loan_stream(r["loan_id"]) for r in rows])
        named = may_see_names(request)
        names = await names_of(sorted({str(r["member_id"]) for r in rows}))
        items = []
        for r in rows:
            events = streams.get(domain.loan_stream(r["loan_id"]), [])
            loan = domain.loan_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
            if loan is None:
                continue
            now = domain.position(loan, day)
            kind_th, kind_en = await kind_of(loan)
            who = names.get(str(r["member_id"]), {})
            items.append(
                {
                    "loan_id": str(r["loan_id"]),
                    "group_id": str(r["group_id"]),
                    "group_name": who.get("group_name"),
                    "member_id": str(r["member_id"]),
                    "full_name": who.get("full_name") if named else None,
                    "name_erased": bool(who.get("erased")),
                    "district_code": r["district_code"],
                    "kind": loan.programme_id and "programme" or "product",
                    "kind_id": loan.programme_id or loan.product_id,
                    "kind_th": kind_th,
                    "kind_en": kind_en,
                    "oldest_unpaid_due_on": r["oldest_unpaid_due_on"].isoformat(),
                    "days_past_due": now.days_past_due,
                    "overdue": format_baht(now.principal_due_satang + now.interest_due_satang + now.penalty_due_satang),
                    "outstanding_principal": format_baht(now.outstanding_principal_satang),
                    "cursor": f"{r['oldest_unpaid_due_on'].isoformat()}_{r['loan_id']}",
                }
            )
        return items, more

    @router.get(
        "/worklists/overdue-loans",
        summary="The area's loans in arrears to follow up, worst first: days late, amount overdue, group, member, kind",
        description="Cursor-paginated (`after`, `next`); `format=csv|xlsx` gives the worst "
        f"{FILE_ROWS:,} as a file. Ages the loans as they stand now on the day asked (default: today).",
        response_model=None,
    )
    @access(Rule("lending:read", AreaQuery(group_place)))
    async def overdue_loans(
        request: Request,
        level: Annotated[AreaLevel, Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code, or group id")] = None,
        on: Annotated[date | None, Query(description="Business date (default: today in Thailand)")] = None,
        after: Annotated[str | None, Query(description="The `next` cursor of the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        area_code = _code(level, code)
        day = on or today_in_thailand()
        if format != "json":
            items, more = await overdue_rows(request, level, area_code, day, _FIRST, FILE_ROWS)
            where = f"{LEVEL_TH[level]} {code or ''}".strip()
            table = Table(
                title=[
                    f"สัญญาเงินกู้ค้างชำระที่ต้องติดตาม {where}",
                    f"ข้อมูล ณ วันที่ {thai_date(day)}" + (f" (เฉพาะ {FILE_ROWS:,} สัญญาที่ค้างนานที่สุด)" if more else ""),
                ],
                headings=[
                    "ค้าง (วัน)",
                    "ยอดค้างชำระ (บาท)",
                    "เงินต้นคงค้าง (บาท)",
                    "กลุ่ม",
                    "สมาชิก",
                    "ประเภทเงินกู้",
                    "ครบกำหนดงวดที่ค้าง",
                    "รหัสสัญญา",
                ],
                rows=[
                    [
                        i["days_past_due"],
                        i["overdue"],
                        i["outstanding_principal"],
                        i["group_name"] or i["group_id"],
                        i["full_name"] or (ERASED_TH if i["name_erased"] else ""),
                        i["kind_th"],
                        thai_date(date.fromisoformat(i["oldest_unpaid_due_on"])),
                        i["loan_id"],
                    ]
                    for i in items
                ],
                figures=frozenset({0, 1, 2}),
            )
            name = f"overdue-loans-{level}-{code or 'th'}-{day.isoformat()}"
            return await file_response(table, format, name)
        items, more = await overdue_rows(request, level, area_code, day, parse_cursor(after), limit)
        # How many in all, and what they owe: the area's portfolio rows by due date (a few rows, not its loans).
        lines = await handlers.portfolio(level, area_code)
        late = [x for x in lines if x.oldest_unpaid_due_on is not None and x.oldest_unpaid_due_on < day]
        next_link = None
        if more and items:
            next_link = str(request.url.include_query_params(after=items[-1]["cursor"], limit=limit))
        return {
            "level": level,
            "code": code,
            "as_of": day.isoformat(),
            "loans_in_arrears": sum(x.loans for x in late),
            "outstanding_in_arrears": format_baht(sum(x.outstanding_satang for x in late)),
            "items": items,
            "next": next_link,
        }

    @router.get(
        "/worklists/approvals",
        summary="Loan applications in the area waiting for a checker that the caller may approve (not their own, "
        "not approved by them already)",
    )
    @access(Rule("lending:approve", AreaQuery(group_place)))
    async def approvals_waiting(
        request: Request,
        level: Annotated[AreaLevel, Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code, or group id")] = None,
    ) -> dict[str, object]:
        area_code = _code(level, code)
        principal = principal_of(request)
        who = principal.subject if principal else ""
        where = _WHERE[level].replace("$2", "$1")
        rows = await pool.fetch(_WAITING_SQL.format(where=where), area_code, who, APPROVALS_SHOWN)
        counts = await pool.fetchrow(_WAITING_COUNT_SQL.format(where=where), area_code, who)
        waiting = [Application(**dict(r) | {"approved_by": list(r["approved_by"])}) for r in rows]
        mine = [a for a in waiting if a.may_check(who)]
        named = may_see_names(request)
        names = await names_of(sorted({a.member_id for a in mine}))
        items = []
        for a in mine:
            n = names.get(a.member_id, {})
            items.append(
                {
                    "loan_id": a.loan_id,
                    "group_id": a.group_id,
                    "group_name": n.get("group_name"),
                    "member_id": a.member_id,
                    "full_name": n.get("full_name") if named else None,
                    "district_code": a.district_code,
                    "kind": "programme" if a.programme_id else "product",
                    "kind_id": a.programme_id or a.product_id,
                    "principal": format_baht(a.principal_satang),
                    "term_months": a.term_months,
                    "applied_on": a.applied_on.isoformat(),
                    "entered_by": a.entered_by,
                    "approvals": len(a.approved_by),
                    "approvals_required": a.approvals_required,
                    "approved_by": a.approved_by,
                }
            )
        return {
            "level": level,
            "code": code,
            "waiting": counts["waiting"],
            "for_you": counts["for_you"],
            "items": items,
        }

    return router


def group_place_of(pool: asyncpg.Pool) -> Any:
    async def group_place(group_id: str) -> Place | None:
        try:
            found = uuid.UUID(group_id)
        except ValueError:
            return None
        row = await pool.fetchrow(
            "select province_code, district_code from lending.members where group_id = $1 limit 1", found
        )
        return Place(row["province_code"], row["district_code"], group_id) if row else None

    return group_place
