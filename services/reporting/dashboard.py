"""The operations dashboard: the page and its assets, live updates, and the reads only it needs.

The page (static HTML, JavaScript and Chart.js, no build step) reads the public APIs of every service
through the gateway — the same ones partners and officers use — so what it shows is what they get.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

import asyncpg
import geothai
from fastapi import APIRouter, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import FileResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from libs.auth.access import PUBLIC, Anywhere, AreaFromRequest, AreaQuery, PartnerCheck, Rule, access, principal_of
from libs.documents.tables import XLSX, Table, TableFormat, file_response
from libs.documents.thai_dates import thai_date, thai_date_short
from libs.events.envelope import today_in_thailand
from libs.events.http import Problem
from libs.events.money import format_baht, parse_baht
from libs.events.runtime import Platform
from services.reporting import statistics
from services.reporting.api import STAT_HEADINGS
from services.reporting.audit import entries as audit_entries
from services.reporting.live import LiveFeed, concerns
from services.reporting.places import ReportingPlaces, province_in_path
from services.reporting.province_report import ProvinceReport, to_pdf, to_spreadsheet
from services.reporting.referral_feed import pipeline_counts

STATIC = Path(__file__).with_name("dashboard_static")
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",
}
OUTCOMES = ("contacted", "approved", "declined", "loan_granted")
Level = Literal["national", "province", "district", "group"]


class _Stream:
    """One open live stream (a weakly referenced token in its caller's count)."""


def index_file() -> FileResponse:
    return FileResponse(
        STATIC / "index.html", media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


async def trail(pool: asyncpg.Pool, schema: str, level: str, code: str | None) -> list[dict[str, str | None]]:
    """The way down from the nation to an area, each step with its Thai and English names."""
    steps: list[dict[str, str | None]] = [
        {"level": "national", "code": None, "name_th": "ทั่วประเทศ", "name_en": "Thailand"}
    ]
    province = district = None
    row = None
    if level == "group":
        row = await pool.fetchrow(
            f'select name, province_code, district_code from "{schema}".group_names where group_id::text = $1', code
        )
        if row is None:
            raise Problem(404, "Not found", f"group {code} is not known to reporting", "not-found")
        province, district = row["province_code"], row["district_code"]
    elif level == "district":
        district = code
        found = geothai.district(code or "")
        if found is None:
            raise Problem(404, "Not found", f"district {code} is not a DOPA district code", "not-found")
        province = found.province_code
    elif level == "province":
        province = code
    if province:
        p = geothai.province(province)
        if p is None:
            raise Problem(404, "Not found", f"province {province} is not a DOPA province code", "not-found")
        steps.append({"level": "province", "code": p.code, "name_th": p.name_th, "name_en": p.name_en})
    if district:
        d = geothai.district(district)
        steps.append(
            {
                "level": "district",
                "code": district,
                "name_th": d.name_th if d else "",
                "name_en": d.name_en if d else "",
            }
        )
    if level == "group" and row is not None:
        steps.append({"level": "group", "code": code, "name_th": row["name"], "name_en": row["name"]})
    return steps


def build_dashboard_router(platform: Platform, schema: str, live: LiveFeed) -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    pool = platform.pool
    group_area = ReportingPlaces(pool, schema).group_area

    @router.get("/reporting", include_in_schema=False)
    @access(PUBLIC)
    async def to_dashboard() -> RedirectResponse:
        return RedirectResponse("/reporting/")

    @router.get("/reporting/", include_in_schema=False)
    @access(PUBLIC)
    async def dashboard() -> FileResponse:
        return index_file()

    @router.get("/reporting/static/{name}", include_in_schema=False)
    @access(PUBLIC)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:  # only the files the page is made of: no path from the request reaches the disk
            raise Problem(404, "Not found", f"no dashboard asset {name}", "not-found")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    # Streams held open per caller in this process. A stream that never started is collected, and leaves.
    open_streams: dict[str, weakref.WeakSet[_Stream]] = defaultdict(weakref.WeakSet)

    @router.get("/reporting/v1/live", summary="Server-sent events: a notice each time the projections apply events")
    @access(Rule("reporting:read", Anywhere()))
    async def live_updates(request: Request) -> EventSourceResponse:
        principal = principal_of(request)
        caller = f"{principal.kind}:{principal.subject}" if principal else "-"
        streams = open_streams[caller]
        if len(streams) >= platform.settings.live_streams_per_caller:
            raise Problem(
                429,
                "Too many live streams",
                f"at most {platform.settings.live_streams_per_caller} live streams at once: close one first",
                "rate-limit",
                headers={"Retry-After": "5"},
            )
        stream = _Stream()
        streams.add(stream)

        async def notices() -> AsyncIterator[ServerSentEvent]:
            held = stream  # the generator keeps its place in the count for as long as it lives
            try:
                async for event in _notices():
                    yield event
            finally:
                streams.discard(held)

        async def _notices() -> AsyncIterator[ServerSentEvent]:
            async with live.subscription() as queue:
                yield ServerSentEvent(event="hello", data=json.dumps({"listening": live.listening.is_set()}))
                while not await request.is_disconnected():
                    try:
                        body = await asyncio.wait_for(queue.get(), timeout=5)
                    except TimeoutError:
                        continue
                    if concerns(body, principal):
                        yield ServerSentEvent(event="applied", data=json.dumps(body))

        # Pings keep proxies from closing a quiet stream; X-Accel-Buffering stops nginx buffering it.
        return EventSourceResponse(notices(), ping=15, headers={"X-Accel-Buffering": "no"})

    @router.get("/reporting/v1/places", summary="The way from the nation down to an area, with names (Thai, English)")
    @access(Rule("reporting:read", AreaQuery(group_area)))
    async def places(level: Annotated[Level, Query()] = "national", code: str | None = None) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        return {"level": level, "code": code, "trail": await trail(pool, schema, level, code)}

    @router.get(
        "/reporting/v1/stats/series",
        summary="Month-end figures for an area over the last months, for charts",
        response_model=None,
    )
    @access(Rule("reporting:read", AreaQuery(group_area)))
    async def stats_series(
        level: Annotated[Level, Query()] = "national",
        code: str | None = None,
        as_of: Annotated[date | None, Query(description="The last point (default: today in Thailand)")] = None,
        months: Annotated[int, Query(ge=1, le=60)] = 12,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        last = as_of or today_in_thailand()
        if months > (available := statistics.months_through(last)):
            message = (
                f"at most {available} month ends up to {last.isoformat()} (the calendar starts in January of year 1)"
            )
            raise Problem(
                422,
                "Invalid request",
                f"months: {message}",
                "validation",
                errors=[{"field": "months", "message": message}],
            )
        days = statistics.month_ends(last, months)
        values = await statistics.series(pool, schema, level, code, days)
        money = ("savings", "sajja_savings", "special_savings", "loans_outstanding")
        if format != "json":
            columns = [(k, h) for k, h in STAT_HEADINGS if k != "borrowers"]
            where = (await trail(pool, schema, level, code))[-1]["name_th"]
            table = Table(
                title=[f"ข้อมูลกลุ่มออมทรัพย์เพื่อการผลิต ณ สิ้นเดือน — {where}"],
                headings=["วันที่", *[h for _, h in columns]],
                rows=[
                    [thai_date(d), *[format_baht(point[k]) if k in money else point[k] for k, _ in columns]]
                    for d, point in zip(days, values, strict=True)
                ],
                figures=frozenset(range(1, 1 + len(columns))),
            )
            return await file_response(table, format, f"stats-series-{level}-{code or 'th'}-{days[-1].isoformat()}")
        return {
            "level": level,
            "code": code,
            "points": [
                {
                    "date": d.isoformat(),
                    "date_th": thai_date_short(d),
                    **{k: format_baht(v) if k in money else v for k, v in point.items()},
                }
                for d, point in zip(days, values, strict=True)
            ],
        }

    @router.get(
        "/reporting/v1/partners/{partner}/pipeline",
        summary="The referral pipeline for an area: referred, revoked, and what the partner reported back",
        response_model=None,
    )
    @access(Rule("reporting:read", AreaQuery(group_area), partner=PartnerCheck("partner")))
    async def pipeline(
        partner: str,
        level: Annotated[Level, Query()] = "national",
        code: str | None = None,
        as_of: Annotated[
            date | None, Query(description="Where the pipeline stood at the end of that day (default: today)")
        ] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        today = min(as_of, today_in_thailand()) if as_of else today_in_thailand()
        kinds, outcomes = await pipeline_counts(pool, partner, level, code, today)
        if format != "json":
            labels = {
                "referred": "ส่งต่อ",
                "contacted": "ติดต่อแล้ว",
                "approved": "อนุมัติ",
                "declined": "ไม่อนุมัติ",
                "loan_granted": "ได้รับสินเชื่อ",
                "revoked": "ถอนความยินยอม",
            }
            figures = {"referred": kinds.get("referral", 0), "revoked": kinds.get("revocation", 0), **outcomes}
            table = Table(
                title=[
                    f"การส่งต่อลูกค้าให้ {partner} — {(await trail(pool, schema, level, code))[-1]['name_th']}",
                    f"ข้อมูล ณ วันที่ {thai_date(today)}",
                ],
                headings=["ขั้นตอน", "จำนวน"],
                rows=[[label, figures.get(key, 0)] for key, label in labels.items()],
                figures=frozenset({1}),
            )
            return await file_response(table, format, f"referrals-{partner}-{level}-{code or 'th'}-{today.isoformat()}")
        return {
            "partner": partner,
            "level": level,
            "code": code,
            "referred": kinds.get("referral", 0),
            "revoked": kinds.get("revocation", 0),
            **{outcome: outcomes.get(outcome, 0) for outcome in OUTCOMES},
            "as_of": today.isoformat(),
            "as_of_th": thai_date(today),
        }

    @router.get(
        "/reporting/v1/provinces/{province_code}/report",
        summary="The province report: districts' figures, portfolio quality, referrals — as PDF or XLSX",
        response_class=Response,
    )
    @access(Rule("reporting:read", AreaFromRequest(province_in_path)))
    async def province_report(
        province_code: Annotated[str, FastAPIPath(pattern=r"^[0-9]{2}$")],
        as_of: Annotated[date | None, Query()] = None,
        format: Literal["pdf", "xlsx"] = "pdf",  # noqa: A002 - the query's public name
    ) -> Response:
        province = geothai.province(province_code)
        if province is None:
            raise Problem(404, "Not found", f"province {province_code} is not a DOPA province code", "not-found")
        day = as_of or today_in_thailand()
        codes = await statistics.child_codes(pool, schema, "province", province_code)
        figures = await statistics.figures_on(pool, schema, "district", codes, [day])
        districts = []
        for code in codes:
            found = geothai.district(code)
            districts.append((code, found.name_th if found else "", figures[(code, day)]))
        portfolio = await platform.service_get(
            "lending", "/lending/v1/portfolio", {"level": "province", "code": province_code, "on": day.isoformat()}
        )
        kinds, outcomes = await pipeline_counts(pool, "gsb", "province", province_code, day)
        report = ProvinceReport(
            code=province_code,
            name_th=province.name_th,
            as_of=day,
            province=await statistics.figures(pool, schema, "province", province_code, day),
            districts=districts,
            buckets={name: (b["loans"], parse_baht(b["outstanding"])) for name, b in portfolio["buckets"].items()},
            par30_satang=parse_baht(portfolio["par30"]),
            par30_percent=portfolio["par30_percent"],
            pipeline={"referred": kinds.get("referral", 0), "revoked": kinds.get("revocation", 0), **outcomes},
        )
        name = f"province-report-{province_code}-{day.isoformat()}.{format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if format == "pdf":  # setting a PDF (twice, if its signature would fall alone) is CPU work: off the loop
            body = await asyncio.to_thread(to_pdf, report, platform.settings.thai_font_dir)
            return Response(body, media_type="application/pdf", headers=headers)
        return Response(await asyncio.to_thread(to_spreadsheet, report), media_type=XLSX, headers=headers)

    @router.get("/reporting/v1/audit", summary="Who did what: every event's actor, area and time, filtered")
    @access(Rule("audit:read", AreaFromRequest(audit_area)))
    async def audit(
        request: Request,
        actor: Annotated[str | None, Query(max_length=100, description="A user's or partner's id")] = None,
        province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
        district: Annotated[str | None, Query(pattern=r"^[0-9]{4}$")] = None,
        since: Annotated[datetime | None, Query(alias="from", description="From this time (inclusive)")] = None,
        until: Annotated[datetime | None, Query(alias="to", description="Before this time")] = None,
        after: Annotated[int, Query(ge=0, le=2**63 - 1, description="Cursor: the last seq seen")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, object]:
        caller = principal_of(request)
        if district and province and district[:2] != province:
            raise Problem(422, "Invalid request", f"district {district} is not in province {province}", "validation")
        items = await audit_entries(
            pool,
            schema,
            actor=actor,
            province=province or (district[:2] if district else None),
            district=district,
            since=since,
            until=until,
            after=after,
            limit=limit,
            include_pawn=caller is not None and "pawn:read" in caller.scopes,
        )
        return {"items": items, "next": items[-1]["seq"] if len(items) == limit else None}

    return router


def audit_area(params: dict[str, str]) -> tuple[str, str | None]:
    """The audit is read nationally, or for a province or district the caller may see."""
    if params.get("district"):
        return ("district", params["district"])
    if params.get("province"):
        return ("province", params["province"])
    return ("national", None)
