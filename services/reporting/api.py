"""Reporting HTTP API under /reporting/v1: reads from projections, with read-your-writes waits."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from libs.auth.access import AreaFromRequest, AreaQuery, Nationwide, PartnerCheck, Rule, access
from libs.documents.tables import Table, TableFormat, file_response
from libs.documents.thai_dates import thai_date
from libs.events.envelope import today_in_thailand
from libs.events.http import Problem, actor_of, idempotency_key
from libs.events.money import format_baht, parse_baht
from libs.events.runtime import Platform
from services.reporting import statistics
from services.reporting.places import FEED_READ, ReportingPlaces, district_asked
from services.reporting.projections import MemberBalances
from services.reporting.referral_feed import ReferralFeed
from services.reporting.smart_handlers import SmartGrading

SCHEMA = "reporting"


class MemberBalancesResponse(BaseModel):
    member_id: uuid.UUID
    sajja: str
    special: str
    total: str


class OutcomeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"referral_id": "3f1c0a9e2b7d4c5e6f708192", "outcome": "contacted"}]},
    )

    referral_id: str = Field(min_length=1, max_length=64)
    outcome: Literal["contacted", "approved", "declined", "loan_granted"]


class GovernanceRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"item": "annual_meeting_held", "done": True, "recorded_on": "2024-03-31"}]},
    )

    item: Literal["rules_written", "committee_meets_monthly", "annual_meeting_held", "accounts_audited"]
    done: bool
    recorded_on: date


class GradingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2024-12-31"}]})

    as_of: date | None = None


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"as_of": "2024-12-31"}]})

    as_of: date | None = None


def trial_balance_sides(trial: dict[str, Any]) -> dict[str, object]:
    """A trial balance as a committee reads it: each account with a balance in its debit or its credit column,
    and the two columns' totals, which are equal when the books balance."""
    accounts = []
    total_debit = total_credit = 0
    for a in trial["accounts"]:
        balance = parse_baht(a["balance"]) if not a["balance"].startswith("-") else -parse_baht(a["balance"][1:])
        if balance == 0:
            continue
        debit, credit = max(balance, 0), max(-balance, 0)
        total_debit, total_credit = total_debit + debit, total_credit + credit
        accounts.append(
            {
                "code": a["code"],
                "name_th": a["name_th"],
                "name_en": a["name_en"],
                "balance": a["balance"],
                "debit": format_baht(debit),
                "credit": format_baht(credit),
            }
        )
    return {
        "balanced": trial["balanced"] and total_debit == total_credit,
        "accounts": accounts,
        "total_debit": format_baht(total_debit),
        "total_credit": format_baht(total_credit),
    }


def build_router(platform: Platform, balances: MemberBalances, feed: ReferralFeed | None = None) -> APIRouter:
    places = ReportingPlaces(platform.pool, SCHEMA)
    group, member, group_area = places.group, places.member, places.group_area
    router = APIRouter(prefix="/reporting/v1", tags=["reporting"])
    feed = feed or ReferralFeed(platform)
    smart = SmartGrading(platform)

    @router.post("/groups/{group_id}/governance", status_code=201, summary="An officer records a governance item")
    @access(Rule("reporting:write", group))
    async def governance(
        group_id: uuid.UUID, body: GovernanceRequest, request: Request, key: Annotated[str, Depends(idempotency_key)]
    ) -> dict[str, object]:
        await smart.set_governance(group_id, body.item, body.done, body.recorded_on, actor_of(request).id)
        return {"group_id": str(group_id), "item": body.item, "done": body.done}

    @router.get("/groups/{group_id}/smart", summary="The group's SMART Saving Group level, with its reasons")
    @access(Rule("reporting:read", group))
    async def smart_level(group_id: uuid.UUID, as_of: Annotated[date | None, Query()] = None) -> dict[str, object]:
        return await smart.grade(group_id, as_of or today_in_thailand())

    @router.post("/groups/{group_id}/smart/gradings", status_code=201, summary="Record a grading in the history")
    @access(Rule("reporting:write", group))
    async def record_grading(
        group_id: uuid.UUID, body: GradingRequest, key: Annotated[str, Depends(idempotency_key)]
    ) -> dict[str, object]:
        return await smart.record(group_id, body.as_of or today_in_thailand())

    @router.get("/groups/{group_id}/smart/history", summary="The group's levels over time")
    @access(Rule("reporting:read", group))
    async def grading_history(group_id: uuid.UUID) -> dict[str, object]:
        return {"group_id": str(group_id), "items": await smart.history(group_id)}

    @router.get("/groups/{group_id}/summary", summary="A group at a glance: members, savings, loans, PAR30, books")
    @access(Rule("reporting:read", group))
    async def group_summary(group_id: uuid.UUID, as_of: Annotated[date | None, Query()] = None) -> dict[str, object]:
        day = as_of or today_in_thailand()

        async def loans() -> Any:
            query = {"level": "group", "code": str(group_id), "on": day.isoformat()}
            return await platform.service_get("lending", "/lending/v1/portfolio", query)

        async def books() -> Any:
            path = f"/ledger/v1/groups/{group_id}/trial-balance"
            return await platform.service_get("ledger", path, {"as_of": day.isoformat()})

        values = await statistics.figures(pool, SCHEMA, "group", str(group_id), day)  # a few rows: first
        if not values["groups"]:
            raise Problem(404, "Not found", f"group {group_id} has no history on {day}", "not-found")
        # The other three side by side: the page waits for the slowest, not for their sum.
        portfolio, trial, grading = await asyncio.gather(loans(), books(), smart.grade(group_id, day))
        return {
            "group_id": str(group_id),
            "as_of": day.isoformat(),
            "as_of_th": thai_date(day),
            **{k: v for k, v in shown_stats(values).items() if k != "groups"},
            "loans": {
                "count": portfolio["loans"],
                "outstanding": portfolio["outstanding"],
                "buckets": portfolio["buckets"],
                "par30_percent": portfolio["par30_percent"],
            },
            "books": trial_balance_sides(trial),
            "smart_level": grading["level"],
        }

    @router.get("/smart/levels", summary="The SMART level of each of a district's groups (its table of groups)")
    @access(Rule("reporting:read", AreaFromRequest(district_asked)))
    async def smart_levels(
        district: Annotated[str, Query(pattern=r"^[0-9]{4}$")], as_of: Annotated[date | None, Query()] = None
    ) -> dict[str, object]:
        day = as_of or today_in_thailand()
        levels = await smart.district_levels(district, day)
        return {
            "district": district,
            "as_of": day.isoformat(),
            "items": [{"group_id": g, "level": level} for g, level in sorted(levels.items())],
        }

    @router.get("/smart/closest", summary="A district's groups closest to their next level", response_model=None)
    @access(Rule("reporting:read", AreaFromRequest(district_asked)))
    async def closest(
        district: Annotated[str, Query(pattern=r"^[0-9]{4}$")],
        as_of: Annotated[date | None, Query()] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        day = as_of or today_in_thailand()
        items = await smart.closest(district, day)
        if format == "json":
            return {"district": district, "items": items}
        table = Table(
            title=[
                f"กลุ่มที่ใกล้เลื่อนระดับ SMART Saving Group อำเภอ{area_names('district', district)[0]} ({district})",
                f"ข้อมูล ณ วันที่ {thai_date(day)}",
            ],
            headings=["รหัสกลุ่ม", "ชื่อกลุ่ม", "ระดับปัจจุบัน", "ระดับถัดไป", "เกณฑ์ที่ยังขาด"],
            rows=[[i["group_id"], i["name"], i["level"], i["next_level"], ", ".join(i["missing"])] for i in items],
            figures=frozenset({2, 3}),
        )
        return await file_response(table, format, f"smart-closest-{district}-{day.isoformat()}")

    def _partner(partner: str) -> None:
        if partner not in feed.partners:
            raise Problem(404, "Not found", f"no referral feed for partner {partner}", "not-found")

    @router.post("/partners/{partner}/referrals/refresh", status_code=201, summary="Refer newly eligible members")
    @access(Rule("referrals:admin", Nationwide(), partner=PartnerCheck("partner")))
    async def refresh(
        partner: str, body: RefreshRequest, key: Annotated[str, Depends(idempotency_key)]
    ) -> dict[str, object]:
        _partner(partner)
        # Idempotent by nature: a member already referred is not referred again.
        added = await feed.refresh(partner, body.as_of or today_in_thailand())
        return {"partner": partner, "referred": added}

    @router.get("/partners/{partner}/referrals", summary="The partner's referral feed (cursor: after=seq)")
    @access(FEED_READ)
    async def referrals_page(
        partner: str,
        request: Request,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, object]:
        _partner(partner)
        items = await feed.page(partner, after, limit)
        next_link = str(request.url.include_query_params(after=items[-1]["seq"], limit=limit)) if items else None
        return {"partner": partner, "items": items, "next": next_link}

    @router.get("/partners/{partner}/webhooks/deliveries", summary="Webhook deliveries not yet accepted (or all)")
    @access(FEED_READ)
    async def deliveries(
        partner: str, state: Annotated[Literal["failed", "all"], Query()] = "failed"
    ) -> dict[str, object]:
        _partner(partner)
        rows = await pool.fetch(
            "select seq, attempts, next_attempt_at, delivered_at, last_error from reporting.webhook_deliveries"
            " where partner = $1 and ($2 or (delivered_at is null and attempts > 0)) order by seq",
            partner,
            state == "all",
        )
        return {
            "partner": partner,
            "items": [
                {
                    "seq": r["seq"],
                    "attempts": r["attempts"],
                    "delivered_at": r["delivered_at"].isoformat() if r["delivered_at"] else None,
                    "next_attempt_at": r["next_attempt_at"].isoformat(),
                    "last_error": r["last_error"],
                }
                for r in rows
            ],
        }

    @router.post("/partners/{partner}/outcomes", status_code=201, summary="The partner reports what came of a referral")
    @access(Rule("referrals:admin", Nationwide(), partner=PartnerCheck("partner")))
    async def outcome(
        partner: str, body: OutcomeRequest, key: Annotated[str, Depends(idempotency_key)]
    ) -> dict[str, object]:
        _partner(partner)
        if not await feed.record_outcome(partner, body.referral_id, body.outcome):
            raise Problem(404, "Not found", f"{body.referral_id} is not a referral in {partner}'s feed", "not-found")
        return {"partner": partner, "referral_id": body.referral_id, "outcome": body.outcome}

    pool = platform.pool

    @router.get("/members/{member_id}/balances", response_model=MemberBalancesResponse)
    @access(Rule("reporting:read", member))
    async def member_balances(member_id: uuid.UUID) -> MemberBalancesResponse:
        row = await pool.fetchrow(
            f"select sajja_satang, special_satang from {balances.table} where member_id = $1", member_id
        )
        if row is None:
            raise Problem(404, "Not found", f"member {member_id} has no balances (unknown member)", "not-found")
        return MemberBalancesResponse(
            member_id=member_id,
            sajja=format_baht(row["sajja_satang"]),
            special=format_baht(row["special_satang"]),
            total=format_baht(row["sajja_satang"] + row["special_satang"]),
        )

    @router.get("/stats", summary="Groups, members, savings, borrowers and loans for an area, on any date")
    @access(Rule("reporting:read", AreaQuery(group_area)))
    async def stats(
        level: Annotated[Literal["national", "province", "district", "group"], Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code, or group id")] = None,
        as_of: Annotated[date | None, Query(description="Any past date (default: today in Thailand)")] = None,
    ) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        day = as_of or today_in_thailand()
        values = await statistics.figures(pool, SCHEMA, level, code, day)
        money = ("savings", "sajja_savings", "special_savings", "loans_outstanding")
        return {
            "level": level,
            "code": code,
            **{k: format_baht(v) if k in money else v for k, v in values.items()},
            "as_of": day.isoformat(),
        }

    @router.get(
        "/stats/breakdown",
        summary="The child areas' statistics on a date, as JSON, CSV or XLSX (Thai headings, Buddhist Era)",
        response_model=None,
    )
    @access(Rule("reporting:read", AreaQuery(group_area)))
    async def stats_breakdown(
        level: Annotated[Literal["national", "province", "district"], Query()] = "national",
        code: Annotated[str | None, Query()] = None,
        as_of: Annotated[date | None, Query()] = None,
        format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        day = as_of or today_in_thailand()
        child = {"national": "province", "province": "district"}.get(level, "group")
        rows = []
        codes = await statistics.child_codes(pool, SCHEMA, level, code)
        group_names = await statistics.group_names(pool, SCHEMA, codes) if child == "group" else {}
        # Every child area in one read of the running totals.
        found = await statistics.figures_on(pool, SCHEMA, child, codes, [day])
        for child_code in codes:
            names = area_names(child, child_code) if child != "group" else (group_names.get(child_code, ""),) * 2
            rows.append((child_code, names, found[(child_code, day)]))
        if format == "json":
            return {
                "level": level,
                "code": code,
                "child_level": child,
                "as_of": day.isoformat(),
                "items": [{"code": c, "name_th": th, "name_en": en, **shown_stats(v)} for c, (th, en), v in rows],
            }
        table = stats_table(level, code, child, [(c, th, v) for c, (th, _en), v in rows], day)
        return await file_response(table, format, f"stats-{level}-{code or 'th'}-{day.isoformat()}")

    return router


MONEY_STATS = ("savings", "sajja_savings", "special_savings", "loans_outstanding")
STAT_HEADINGS = (
    ("groups", "จำนวนกลุ่ม"),
    ("members", "จำนวนสมาชิก (คน)"),
    ("savings", "เงินออมรวม (บาท)"),
    ("sajja_savings", "เงินสัจจะสะสม (บาท)"),
    ("special_savings", "เงินสัจจะสะสมพิเศษ (บาท)"),
    ("borrowers", "สมาชิกกู้ยืม (คน)"),
    ("loans_outstanding", "เงินกู้คงค้าง (บาท)"),
)


def shown_stats(values: dict[str, int]) -> dict[str, object]:
    return {k: format_baht(v) if k in MONEY_STATS else v for k, v in values.items()}


def area_names(level: str, code: str) -> tuple[str, str]:
    """A province's or district's Thai and English names ("" for an unknown code)."""
    import geothai

    found = geothai.province(code) if level == "province" else geothai.district(code) if level == "district" else None
    return (found.name_th, found.name_en) if found else ("", "")


def stats_table(
    level: str, code: str | None, child: str, rows: list[tuple[str, str, dict[str, int]]], day: date
) -> Table:
    label = {"province": "จังหวัด", "district": "อำเภอ", "group": "กลุ่ม"}[child]
    area = "ทั่วประเทศ" if level == "national" else f"{AREA_LEVEL_TH[level]}{area_names(level, code or '')[0]} ({code})"
    return Table(
        title=[f"ข้อมูลกลุ่มออมทรัพย์เพื่อการผลิต{area}", f"ข้อมูล ณ วันที่ {thai_date(day)}"],
        headings=["รหัส", label, *[h for _, h in STAT_HEADINGS]],
        rows=[[c, name, *[str(shown_stats(values)[k]) for k, _ in STAT_HEADINGS]] for c, name, values in rows],
        figures=frozenset(range(2, 2 + len(STAT_HEADINGS))),
    )


AREA_LEVEL_TH = {"province": "จังหวัด", "district": "อำเภอ", "group": "กลุ่ม "}
