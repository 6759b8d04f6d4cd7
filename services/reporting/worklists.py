"""What an officer works through: the groups of their area behind on their month-end close, and finding a group
by its name or id. Read from reporting's own projections (group names and month closes): a read costs the
groups of the area, never their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from libs.auth.access import Anywhere, AreaQuery, Rule, access
from libs.documents.tables import Table, TableFormat, file_response
from libs.documents.thai_dates import thai_date, thai_month
from libs.events.envelope import BANGKOK, today_in_thailand
from libs.events.http import Problem
from libs.events.runtime import Platform
from services.reporting.places import ReportingPlaces
from services.reporting.smart_grading import months_behind

AreaLevel = Literal["national", "province", "district"]

_AREA = (
    """($1 = 'national' or ($1 = 'province' and g.province_code = $2) or ($1 = 'district' and g.district_code = $2))"""
)

_LAST_CLOSES_SQL = f"""
    select g.group_id, g.name, g.province_code, g.district_code, max(c.month) as last_closed
    from "{{schema}}".group_names g
    left join "{{schema}}".group_closes c on c.group_id = g.group_id and c.month < date_trunc('month', $3::date)
    where {_AREA}
    group by g.group_id, g.name, g.province_code, g.district_code"""

_SEARCH_SQL = f"""
    select g.group_id, g.name, g.province_code, g.district_code from "{{schema}}".group_names g
    where {_AREA} and (position(lower($3) in lower(g.name)) > 0 or g.group_id::text like lower($3) || '%')
    order by g.name, g.group_id limit $4"""

MAX_LISTED = 200


def behind_first(rows: list[tuple[str, int | None]]) -> list[int]:
    """Indexes of the groups behind (never closed, or a month or more), the furthest behind first. Pure."""
    behind = [i for i, (_, months) in enumerate(rows) if months is None or months > 0]
    return sorted(behind, key=lambda i: (rows[i][1] is not None, -(rows[i][1] or 0), rows[i][0]))


def build_worklist_router(platform: Platform, schema: str) -> APIRouter:
    router = APIRouter(tags=["worklists"])
    pool = platform.pool
    group_area = ReportingPlaces(pool, schema).group_area
    last_closes_sql = _LAST_CLOSES_SQL.format(schema=schema)
    search_sql = _SEARCH_SQL.format(schema=schema)

    def _code(level: str, code: str | None) -> str:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        return code or ""

    @router.get(
        "/reporting/v1/worklists/month-closes",
        summary="The area's groups behind on their month-end close (never closed, or a month or more), furthest first",
        response_model=None,
    )
    @access(Rule("reporting:read", AreaQuery(group_area)))
    async def month_closes(
        level: Annotated[AreaLevel, Query()] = "national",
        code: str | None = None,
        as_of: Annotated[date | None, Query(description="Default: today in Thailand")] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        day = as_of or today_in_thailand()
        rows = await pool.fetch(last_closes_sql, level, _code(level, code), day)
        behind = [(r["name"], months_behind(r["last_closed"], day)) for r in rows]
        order = behind_first(behind)
        if format != "json":
            table = Table(
                title=["กลุ่มที่ยังไม่ปิดงวดบัญชีประจำเดือน", f"ข้อมูล ณ วันที่ {thai_date(day)}"],
                headings=["รหัสกลุ่ม", "ชื่อกลุ่ม", "รหัสอำเภอ", "ปิดงวดล่าสุด", "ค้าง (เดือน)"],
                rows=[
                    [
                        str(rows[i]["group_id"]),
                        rows[i]["name"],
                        rows[i]["district_code"],
                        thai_month(rows[i]["last_closed"], short=True) if rows[i]["last_closed"] else "ยังไม่เคยปิด",
                        "" if (months := behind[i][1]) is None else months,
                    ]
                    for i in order
                ],
                figures=frozenset({4}),
            )
            # A nation's worth of rows is CPU work: the file is made off the event loop.
            name = f"month-closes-{level}-{code or 'th'}-{day.isoformat()}"
            return await file_response(table, format, name)
        return {
            "level": level,
            "code": code,
            "as_of": day.isoformat(),
            "groups": len(rows),
            "behind": len(order),
            "items": [
                {
                    "group_id": str(rows[i]["group_id"]),
                    "name": rows[i]["name"],
                    "district_code": rows[i]["district_code"],
                    "last_closed": rows[i]["last_closed"].isoformat()[:7] if rows[i]["last_closed"] else None,
                    "last_closed_th": thai_month(rows[i]["last_closed"], short=True)
                    if rows[i]["last_closed"]
                    else None,
                    "months_behind": behind[i][1],
                }
                for i in order[:MAX_LISTED]
            ],
        }

    @router.get(
        "/reporting/v1/search", summary="Groups of the area whose name holds the words asked, or whose id starts so"
    )
    @access(Rule("reporting:read", AreaQuery(group_area)))
    async def search(
        q: Annotated[str, Query(min_length=2, max_length=100, description="Part of a group's name, or of its id")],
        level: Annotated[AreaLevel, Query()] = "national",
        code: str | None = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
    ) -> dict[str, object]:
        words = q.strip()
        rows = await pool.fetch(search_sql, level, _code(level, code), words, limit)
        return {
            "q": words,
            "items": [
                {
                    "group_id": str(r["group_id"]),
                    "name": r["name"],
                    "province_code": r["province_code"],
                    "district_code": r["district_code"],
                }
                for r in rows
            ],
        }

    @router.get(
        "/reporting/v1/freshness",
        summary="How fresh the figures are: when this process's projections last took events, and how late they were",
    )
    @access(Rule("reporting:read", Anywhere()))
    async def freshness(request: Request) -> dict[str, object]:
        runtime = request.app.state.read_after.runtime
        statuses = {p.projection.name: p.status for p in runtime.projectors}
        stats = statuses.get("statistics")
        when = stats.last_applied_at if stats else None
        last = datetime.fromtimestamp(when, BANGKOK) if when is not None else None
        return {
            # The statistics projection's own: the figures the pages show come from it.
            "last_applied_at": last.isoformat(timespec="seconds") if last else None,
            "delay_seconds": round(stats.delay_seconds, 1) if stats and stats.delay_seconds is not None else None,
            "waiting_streams": sum(len(s.waiting) for s in statuses.values()),
            "projections": {name: {"applied": s.applied, "running": s.running} for name, s in sorted(statuses.items())},
        }

    return router
