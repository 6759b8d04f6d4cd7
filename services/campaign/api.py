"""Campaign HTTP API under /campaign/v1: campaigns as data, progress, reports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Annotated, Literal

import geothai
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from libs.auth.access import Anywhere, AreaFromRequest, AreaQuery, BodyArea, Nationwide, Rule, access, principal_of
from libs.auth.principal import Principal
from libs.documents.tables import Table, TableFormat, file_response
from libs.documents.thai_dates import thai_date, thai_date_short
from libs.events import free_text
from libs.events.envelope import today_in_thailand
from libs.events.http import Problem, actor_of, fingerprint, idempotency_key
from libs.events.money import format_baht
from libs.events.schemas.campaign import CampaignLaunched
from services.campaign import counters as counting
from services.campaign import exports, nominations
from services.campaign.exports import LEVEL_TH, ROWS
from services.campaign.handlers import SCHEMA, CampaignHandlers
from services.campaign.reports import board, deadline_for, nominations_as_of

Key = Annotated[str, Depends(idempotency_key)]
LevelQuery = Annotated[Literal["national", "province", "district"], Query()]


class ReportRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"level": "district", "code": "2701", "notes": "จัดกิจกรรมครบทุกตำบล"}]},
    )

    level: Literal["district", "province"]
    code: str = Field(pattern=r"^[0-9]{2}([0-9]{2})?$")
    notes: str = Field(default="", max_length=4000)


class CampaignDefinition(CampaignLaunched):
    """A campaign's definition as a request: a mistyped field is refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class NominationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"district_code": "2701", "kind": "member"}],
        },
    )

    district_code: str = Field(pattern=r"^[0-9]{4}$")
    kind: Literal["member", "group"]
    nominee_id: str | None = Field(default=None, description="Default: the record's top proposal")
    override_reason: str | None = Field(default=None, max_length=1000, description="Required to choose another")
    narrative: dict[Literal["occupation", "contributions", "results", "problems", "suggestions"], str] = Field(
        default_factory=dict, description="The form's written sections"
    )


class AwardRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "province_code": "27",
                    "kind": "group",
                    "nominee_id": "0190a5a8-0000-7000-8000-000000000001",
                    "citation": "ผลงานเด่นด้านสวัสดิการชุมชน",
                }
            ]
        },
    )

    province_code: str = Field(pattern=r"^[0-9]{2}$")
    kind: Literal["member", "group"]
    nominee_id: str
    citation: str = Field(default="", max_length=1000)


def shown(figures: dict[str, int]) -> dict[str, object]:
    return {k: format_baht(v) if k in counting.MONEY_COUNTERS else v for k, v in figures.items()}


def area_name(level: str, code: str | None) -> dict[str, str | None]:
    if level == "province" and code and (p := geothai.province(code)):
        return {"name_th": p.name_th, "name_en": p.name_en}
    if level == "district" and code and (d := geothai.district(code)):
        return {"name_th": d.name_th, "name_en": d.name_en}
    return {
        "name_th": "ทั้งประเทศ" if level == "national" else None,
        "name_en": "Thailand" if level == "national" else None,
    }


# Where a campaign request lies, for access control.
class ReportBoardArea:
    """The provinces' board is national; a province's districts' board, and its own row of the provinces'
    board, are for the officers working in it (its province officers and its districts' officers), not for
    group committees."""

    async def check(self, request: Request, principal: Principal) -> None:
        province = request.query_params.get("province")
        if not province:
            inside = principal.nationwide
        elif principal.role == "province_officer":
            inside = province == principal.province_code
        elif principal.role == "district_officer":
            inside = province == (principal.district_code or "")[:2]
        else:
            inside = principal.nationwide
        if not inside:
            raise Problem(403, "Forbidden", "this board is not in your area", "forbidden")


def district_in_path(params: dict[str, str]) -> tuple[str, str | None]:
    return ("district", params.get("district_code"))


def report_in_path(params: dict[str, str]) -> tuple[str, str | None]:
    return (params.get("level", "national"), params.get("code"))


def province_asked(params: dict[str, str]) -> tuple[str, str | None]:
    return ("province", params["province"]) if params.get("province") else ("national", None)


async def report_area(body: dict[str, object]) -> tuple[str, str | None] | None:
    level, code = body.get("level"), body.get("code")
    return (level, code) if isinstance(level, str) and isinstance(code, str) else None


async def nomination_area(body: dict[str, object]) -> tuple[str, str | None] | None:
    code = body.get("district_code")
    return ("district", code) if isinstance(code, str) else None


async def award_area(body: dict[str, object]) -> tuple[str, str | None] | None:
    code = body.get("province_code")
    return ("province", code) if isinstance(code, str) else None


def build_router(handlers: CampaignHandlers) -> APIRouter:
    router = APIRouter(prefix="/campaign/v1", tags=["campaign"])

    def _check_area(level: str, code: str | None) -> None:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")

    @router.get("/campaigns", summary="Every campaign, as data")
    @access(Rule("campaign:read", Anywhere()))
    async def list_campaigns() -> dict[str, object]:
        return {"items": [c.model_dump(mode="json") for c in await handlers.campaigns()]}

    @router.post(
        "/free-texts/{text_id}/erasure",
        status_code=201,
        summary="Erase a free text (report notes, what a nomination or award says) by the id its event carries"
        " (PDPA; the department only)",
    )
    @access(Rule("campaign:admin", Nationwide()))
    async def erase_text(
        text_id: uuid.UUID, body: free_text.ErasureConfirmation, request: Request, key: Key
    ) -> JSONResponse:
        fp = fingerprint("POST", request.url.path, body.model_dump())
        return (await free_text.erase_command(handlers.commands, SCHEMA, key, fp, text_id)).response()

    @router.post("/campaigns", status_code=201, summary="Launch a campaign from its definition (no code needed)")
    @access(Rule("campaign:admin", Nationwide()))
    async def launch(body: CampaignDefinition, request: Request, key: Key) -> JSONResponse:
        campaign = CampaignLaunched.model_validate(body.model_dump())
        result = await handlers.launch(
            key, fingerprint("POST", request.url.path, body.model_dump(mode="json")), actor_of(request), campaign
        )
        return result.response()

    @router.get("/campaigns/{campaign_id}", summary="A campaign's definition")
    @access(Rule("campaign:read", Anywhere()))
    async def get_campaign(campaign_id: str) -> dict[str, object]:
        campaign = await handlers.load_campaign(campaign_id)
        return campaign.model_dump(mode="json") | {
            "starts_on_th": thai_date(campaign.starts_on),
            "ends_on_th": thai_date(campaign.ends_on),
        }

    @router.get("/campaigns/{campaign_id}/progress", summary="The campaign's counters for an area")
    @access(Rule("campaign:read", AreaQuery()))
    async def progress(
        campaign_id: str,
        level: LevelQuery = "national",
        code: Annotated[str | None, Query(description="Province or district code")] = None,
        as_of: Annotated[date | None, Query(description="Default: today in Thailand")] = None,
    ) -> dict[str, object]:
        _check_area(level, code)
        day = as_of or today_in_thailand()
        campaign = await handlers.load_campaign(campaign_id)
        figures = await handlers.progress_counters(campaign, level, code, day)
        return {
            "campaign_id": campaign_id,
            "level": level,
            "code": code,
            **area_name(level, code),
            "counters": shown(figures),
            "targets": shown(campaign.targets.get(code or "national", {})),
            "as_of": day.isoformat(),
            "as_of_th": thai_date(day),
        }

    @router.get("/campaigns/{campaign_id}/progress/series", summary="Daily values of the counters, for charts")
    @access(Rule("campaign:read", AreaQuery()))
    async def progress_series(
        campaign_id: str,
        level: LevelQuery = "national",
        code: Annotated[str | None, Query()] = None,
        as_of: Annotated[date | None, Query()] = None,
    ) -> dict[str, object]:
        _check_area(level, code)
        day = as_of or today_in_thailand()
        campaign = await handlers.load_campaign(campaign_id)
        points = await handlers.progress_series(campaign, level, code, day)
        return {
            "campaign_id": campaign_id,
            "level": level,
            "code": code,
            "points": [{"date": d.isoformat(), "date_th": thai_date_short(d), "counters": shown(c)} for d, c in points],
        }

    @router.get("/campaigns/{campaign_id}/progress/breakdown", summary="The child areas' counters", response_model=None)
    @access(Rule("campaign:read", AreaQuery()))
    async def progress_breakdown(
        campaign_id: str,
        level: LevelQuery = "national",
        code: Annotated[str | None, Query()] = None,
        as_of: Annotated[date | None, Query()] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        _check_area(level, code)
        day = as_of or today_in_thailand()
        campaign = await handlers.load_campaign(campaign_id)
        child, parts = await handlers.progress_breakdown(campaign, level, code, day)
        shown_parts = [(c, shown(figures)) for c, figures in parts]
        items = [{"code": c, **area_name(child, c), "counters": figures} for c, figures in shown_parts]
        if format != "json":
            table = Table(
                title=[
                    campaign.name_th,
                    f"{area_name(level, code)['name_th'] or code}",
                    f"ข้อมูล ณ วันที่ {thai_date(day)}",
                ],
                headings=["รหัส", "พื้นที่", *[label for _, label, _ in ROWS]],
                rows=[
                    [c, str(area_name(child, c)["name_th"] or ""), *[str(figures[k]) for k, _, _ in ROWS]]
                    for c, figures in shown_parts
                ],
                figures=frozenset(range(2, 2 + len(ROWS))),
            )
            return await file_response(table, format, f"{campaign_id}-{level}-{code or 'th'}-{day.isoformat()}")
        return {
            "campaign_id": campaign_id,
            "level": level,
            "code": code,
            "child_level": child,
            "as_of": day.isoformat(),
            "items": items,
        }

    @router.post(
        "/campaigns/{campaign_id}/reports",
        status_code=201,
        summary="Submit a district's (or province's) savings-promotion report, prefilled from the counters",
    )
    @access(Rule("campaign:report", BodyArea(report_area)))
    async def submit(campaign_id: str, body: ReportRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.submit(
            key,
            fingerprint("POST", request.url.path, body.model_dump(mode="json")),
            actor_of(request),
            campaign_id,
            body.level,
            body.code,
            body.notes,
            None,  # the date of submission is the server's: a report cannot be dated back
        )
        return result.response()

    @router.get(
        "/campaigns/{campaign_id}/reports", summary="Status board: reports due, submitted, late", response_model=None
    )
    @access(Rule("campaign:read", ReportBoardArea()))
    async def report_status(
        campaign_id: str,
        request: Request,
        level: Annotated[Literal["district", "province"], Query()] = "district",
        province: Annotated[
            str | None,
            Query(pattern=r"^[0-9]{2}$", description="For districts: their province; for provinces: that one alone"),
        ] = None,
        as_of: Annotated[date | None, Query(description="Where the reports stood that day (default: today)")] = None,
        format: TableFormat = "json",  # noqa: A002 - the query's public name
    ) -> dict[str, object] | Response:
        campaign = await handlers.load_campaign(campaign_id)
        if level == "district" and not province:
            raise Problem(422, "Invalid request", "province: required for the district board", "validation")
        deadline = deadline_for(campaign, level)
        day = as_of or today_in_thailand()
        submitted = await handlers.submitted_reports(campaign_id, level)
        caller = principal_of(request)
        today = today_in_thailand()

        def may(scope: str, code: str) -> bool:
            return caller is not None and scope in caller.scopes and caller.covers_area(level, code)

        items = [
            {
                "code": item.code,
                "name_th": item.name_th,
                "name_en": item.name_en,
                "state": item.state,
                "submitted_on": item.submitted_on.isoformat() if item.submitted_on else None,
                # What the caller may do from the board: submit the area's report (once, from the campaign's
                # start, dated today), and download it (the submitted one, or a draft from the counters).
                "can_submit": may("campaign:report", item.code)
                and item.code not in submitted
                and campaign.starts_on <= today,
                "can_export": may("campaign:read", item.code),
            }
            for item in board(campaign, level, province, submitted, day)
        ]
        if format != "json":
            states = {"submitted": "ส่งแล้ว", "late": "ส่งช้า", "due": "รอส่ง", "overdue": "เกินกำหนด"}
            table = Table(
                title=[
                    f"สถานะการส่งรายงาน{LEVEL_TH[level]} — {campaign.name_th}",
                    f"กำหนดส่ง {thai_date(deadline)}" if deadline else "ไม่มีกำหนดส่ง",
                    f"ข้อมูล ณ วันที่ {thai_date(day)}",
                ],
                headings=["รหัส", LEVEL_TH[level], "สถานะ", "วันที่ส่ง"],
                rows=[
                    [
                        str(i["code"]),
                        str(i["name_th"]),
                        states[str(i["state"])],
                        thai_date(date.fromisoformat(str(i["submitted_on"]))) if i["submitted_on"] else "",
                    ]
                    for i in items
                ],
            )
            return await file_response(table, format, f"{campaign_id}-{level}-reports-{province or 'th'}")
        return {
            "campaign_id": campaign_id,
            "level": level,
            "deadline": deadline.isoformat() if deadline else None,
            "deadline_th": thai_date(deadline) if deadline else None,
            "as_of": day.isoformat(),
            "items": items,
        }

    @router.get(
        "/campaigns/{campaign_id}/nominations/{district_code}/proposals",
        summary="The district's members and groups ranked by a transparent score, each with its evidence",
    )
    @access(Rule("campaign:read", AreaFromRequest(district_in_path)))
    async def proposals(
        campaign_id: str, district_code: str, limit: Annotated[int, Query(ge=1, le=100)] = 10
    ) -> dict[str, object]:
        campaign = await handlers.load_campaign(campaign_id)
        as_of = nominations_as_of(campaign, today_in_thailand())
        members, groups = await handlers.proposals(campaign, district_code, as_of)

        def show(score: nominations.Score) -> dict[str, object]:
            return {
                "id": score.subject_id,
                "score": str(score.total),
                "parts": {k: str(v) for k, v in score.parts.items()},
                "evidence": score.evidence,
            }

        return {
            "campaign_id": campaign_id,
            "district_code": district_code,
            "as_of": as_of.isoformat(),
            "weights": nominations.WEIGHTS,
            "members": [show(s) for s in members[:limit]],
            "groups": [show(s) for s in groups[:limit]],
        }

    @router.post(
        "/campaigns/{campaign_id}/nominations", status_code=201, summary="A district nominates (ดีเด่นระดับอำเภอ)"
    )
    @access(Rule("campaign:report", BodyArea(nomination_area)))
    async def nominate(campaign_id: str, body: NominationRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.nominate(
            key,
            fingerprint("POST", request.url.path, body.model_dump(mode="json")),
            actor_of(request),
            campaign_id,
            body.district_code,
            body.kind,
            body.nominee_id,
            body.override_reason,
            {k: v[:4000] for k, v in body.narrative.items()},
        )
        return result.response()

    @router.post("/campaigns/{campaign_id}/awards", status_code=201, summary="A province grants its award to a nominee")
    @access(Rule("campaign:award", BodyArea(award_area)))
    async def award(campaign_id: str, body: AwardRequest, request: Request, key: Key) -> JSONResponse:
        result = await handlers.grant_award(
            key,
            fingerprint("POST", request.url.path, body.model_dump(mode="json")),
            actor_of(request),
            campaign_id,
            body.province_code,
            body.kind,
            body.nominee_id,
            body.citation,
        )
        return result.response()

    @router.get("/campaigns/{campaign_id}/nominations", summary="Nominations and awards so far")
    @access(Rule("campaign:read", AreaFromRequest(province_asked)))
    async def list_nominations(
        campaign_id: str,
        province: Annotated[str | None, Query(pattern=r"^[0-9]{2}$", description="Only this province's")] = None,
    ) -> dict[str, object]:
        await handlers.load_campaign(campaign_id)
        nominations = await handlers.events_of("campaign.NominationSubmitted", campaign_id)
        awards = await handlers.events_of("campaign.AwardGranted", campaign_id)
        if province:
            nominations = [n for n in nominations if str(n.get("district_code", "")).startswith(province)]
            awards = [a for a in awards if a.get("province_code") == province]
        return {"campaign_id": campaign_id, "nominations": nominations, "awards": awards}

    @router.get(
        "/campaigns/{campaign_id}/nominations/{district_code}/{kind}/export",
        summary="A nomination in the layout of the district nomination forms, as XLSX or PDF",
        response_class=Response,
    )
    @access(Rule("campaign:read", AreaFromRequest(district_in_path)))
    async def export_nomination(
        campaign_id: str,
        district_code: str,
        kind: Literal["member", "group"],
        format: Annotated[Literal["xlsx", "pdf"], Query()] = "pdf",  # noqa: A002 - the query's public name
    ) -> Response:
        campaign = await handlers.load_campaign(campaign_id)
        nomination = next(
            (
                n
                for n in await handlers.events_of("campaign.NominationSubmitted", campaign_id)
                if n["district_code"] == district_code and n["kind"] == kind
            ),
            None,
        )
        if nomination is None:
            raise Problem(404, "Not found", f"{district_code} has not nominated a {kind}", "not-found")
        view = exports.NominationView(
            kind=kind,
            campaign_name_th=campaign.name_th,
            district_name_th=area_name("district", district_code)["name_th"] or district_code,
            district_code=district_code,
            nominee_id=nomination["nominee_id"],
            score=nomination["score"],
            evidence=nomination["evidence"],
            narrative=nomination.get("narrative") or {},
            submitted_on=date.fromisoformat(nomination["submitted_on"]),
            late=nomination["late"],
            override_reason=nomination.get("override_reason"),
        )
        headers = {"Content-Disposition": f'attachment; filename="{campaign_id}-{district_code}-{kind}.{format}"'}
        if format == "xlsx":
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            return Response(exports.nomination_to_xlsx(view), media_type=media, headers=headers)
        pdf = exports.nomination_to_pdf(view, handlers.settings.thai_font_dir)
        return Response(pdf, media_type="application/pdf", headers=headers)

    @router.get(
        "/campaigns/{campaign_id}/reports/{level}/{code}/export",
        summary="The savings-promotion report as XLSX or PDF (Thai, Buddhist Era): the submitted one, or a draft",
        response_class=Response,
    )
    @access(Rule("campaign:read", AreaFromRequest(report_in_path)))
    async def export_report(
        campaign_id: str,
        level: Literal["district", "province"],
        code: str,
        format: Annotated[Literal["xlsx", "pdf"], Query()] = "xlsx",  # noqa: A002 - the query's public name
    ) -> Response:
        campaign = await handlers.load_campaign(campaign_id)
        if area_name(level, code)["name_th"] is None:
            # Not a DOPA area (its code also names the file: a header must never carry what it was sent).
            raise Problem(404, "Not found", f"{level} {code} is not a DOPA {level} code", "not-found")
        today = today_in_thailand()
        submitted = (await handlers.submitted_reports(campaign_id, level)).get(code)
        children = []
        if level == "province":
            for district, figures in (await handlers.progress_breakdown(campaign, level, code, today))[1]:
                name = area_name("district", district)["name_th"] or district
                children.append((district, name, figures))
        view = exports.ReportView(
            campaign_name_th=campaign.name_th,
            starts_on=campaign.starts_on,
            ends_on=campaign.ends_on,
            level=level,
            code=code,
            area_name_th=area_name(level, code)["name_th"] or code,
            counters=submitted.counters
            if submitted
            else await handlers.progress_counters(campaign, level, code, today),
            as_of=submitted.submitted_on if submitted else today,
            submitted_on=submitted.submitted_on if submitted else None,
            late=submitted.late if submitted else False,
            deadline=submitted.deadline if submitted else deadline_for(campaign, level),
            notes=await handlers.report_notes(submitted) if submitted else "",
            children=children,
        )
        name = f"{campaign_id}-{level}-{code}.{format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        # Setting a document is CPU work: off the event loop.
        if format == "xlsx":
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            return Response(await asyncio.to_thread(exports.to_xlsx, view), media_type=media, headers=headers)
        body = await asyncio.to_thread(exports.to_pdf, view, handlers.settings.thai_font_dir)
        return Response(body, media_type="application/pdf", headers=headers)

    return router
