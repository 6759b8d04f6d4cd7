"""The operations dashboard: the page and its assets, live updates, and the reads only it needs.

The page (static HTML, JavaScript and Chart.js, no build step) reads the public APIs of every service
through the gateway — the same ones partners and officers use — so what it shows is what they get.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import asyncpg
import geothai
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from libs.events.envelope import today_in_thailand
from libs.events.http import Problem
from libs.events.money import format_baht
from libs.events.thai_dates import thai_date, thai_date_short
from services.reporting import statistics
from services.reporting.live import LiveFeed

STATIC = Path(__file__).with_name("dashboard_static")
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",
}
OUTCOMES = ("contacted", "approved", "declined", "loan_granted")
Level = Literal["national", "province", "district", "group"]


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


def build_dashboard_router(pool: asyncpg.Pool, schema: str, live: LiveFeed) -> APIRouter:
    router = APIRouter(tags=["dashboard"])

    @router.get("/reporting", include_in_schema=False)
    async def to_dashboard() -> RedirectResponse:
        return RedirectResponse("/reporting/")

    @router.get("/reporting/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return index_file()

    @router.get("/reporting/static/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:  # only the files the page is made of: no path from the request reaches the disk
            raise Problem(404, "Not found", f"no dashboard asset {name}", "not-found")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @router.get("/reporting/v1/live", summary="Server-sent events: a notice each time the projections apply events")
    async def live_updates(request: Request) -> EventSourceResponse:
        async def notices() -> AsyncIterator[ServerSentEvent]:
            async with live.subscription() as queue:
                yield ServerSentEvent(event="hello", data=json.dumps({"listening": live.listening.is_set()}))
                while not await request.is_disconnected():
                    try:
                        body = await asyncio.wait_for(queue.get(), timeout=5)
                    except TimeoutError:
                        continue
                    yield ServerSentEvent(event="applied", data=json.dumps(body))

        # Pings keep proxies from closing a quiet stream; X-Accel-Buffering stops nginx buffering it.
        return EventSourceResponse(notices(), ping=15, headers={"X-Accel-Buffering": "no"})

    @router.get("/reporting/v1/places", summary="The way from the nation down to an area, with names (Thai, English)")
    async def places(level: Annotated[Level, Query()] = "national", code: str | None = None) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        return {"level": level, "code": code, "trail": await trail(pool, schema, level, code)}

    @router.get("/reporting/v1/stats/series", summary="Month-end figures for an area over the last months, for charts")
    async def stats_series(
        level: Annotated[Level, Query()] = "national",
        code: str | None = None,
        as_of: Annotated[date | None, Query(description="The last point (default: today in Thailand)")] = None,
        months: Annotated[int, Query(ge=1, le=60)] = 12,
    ) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        days = statistics.month_ends(as_of or today_in_thailand(), months)
        values = await statistics.series(pool, schema, level, code, days)
        money = ("savings", "sajja_savings", "special_savings", "loans_outstanding")
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
    )
    async def pipeline(
        partner: str, level: Annotated[Level, Query()] = "national", code: str | None = None
    ) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        column = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}
        where = f"and m.{column[level]}::text = $2" if column[level] else ""
        s = f'"{schema}"'
        args: list[object] = [partner] + ([code] if column[level] else [])
        kinds = {
            r["kind"]: r["n"]
            for r in await pool.fetch(
                f"""select f.kind, count(distinct f.referral_id) as n from {s}.referral_feed f
                    left join {s}.referral_members m on m.member_id = f.member_id
                    where f.partner = $1 {where} group by f.kind""",
                *args,
            )
        }
        outcomes = {
            r["outcome"]: r["n"]
            for r in await pool.fetch(
                f"""select o.outcome, count(distinct o.referral_id) as n from {s}.referral_outcomes o
                    join (select distinct partner, referral_id, member_id from {s}.referral_feed) f
                      on f.referral_id = o.referral_id and f.partner = o.partner
                    left join {s}.referral_members m on m.member_id = f.member_id
                    where o.partner = $1 {where} group by o.outcome""",
                *args,
            )
        }
        today = today_in_thailand()
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

    return router
