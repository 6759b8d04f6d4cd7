"""Savings-promotion reports (แบบรายงานการส่งเสริมการออม): districts report to their province, provinces
to the department, each by the campaign's deadline for its level. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import geothai

from libs.events.errors import RuleBroken
from libs.events.free_text import FreeText
from libs.events.schemas.campaign import CampaignLaunched, Level, NominationSubmitted, NomineeKind, ReportSubmitted
from services.campaign.nominations import Score


class CampaignRuleBroken(RuleBroken):
    """A command the campaign's rules refuse."""

    problem_type = "campaign-rule"
    title = "Refused by campaign rules"


def deadline_for(campaign: CampaignLaunched, level: Level) -> date | None:
    return {"district": campaign.deadlines.district_report, "province": campaign.deadlines.province_report}.get(level)


@dataclass(frozen=True)
class BoardItem:
    code: str
    name_th: str
    name_en: str
    state: str  # submitted | late | due | overdue
    submitted_on: date | None


def board(
    campaign: CampaignLaunched,
    level: Level,
    province: str | None,
    submitted: Mapping[str, ReportSubmitted],
    as_of: date,
) -> list[BoardItem]:
    """The areas that owe the campaign a report at `level` — those it covers, no others — and where each stood on
    `as_of`: a report submitted later than that is not in yet, and a deadline passed by then makes it overdue.
    The provinces' board with `province` lists that province alone (its own report, beside its districts')."""
    covered = set(campaign.provinces)  # empty: the whole country
    if level == "district":
        if not province or (covered and province not in covered):
            return []
        areas = [(d.code, d.name_th, d.name_en) for d in geothai.districts(province)]
    else:
        areas = [
            (p.code, p.name_th, p.name_en)
            for p in geothai.provinces()
            if (not covered or p.code in covered) and (not province or p.code == province)
        ]
    deadline = deadline_for(campaign, level)
    items = []
    for code, name_th, name_en in areas:
        report = submitted.get(code)
        if report is not None and report.submitted_on <= as_of:
            state, on = ("late" if report.late else "submitted"), report.submitted_on
        else:
            state, on = ("overdue" if deadline and as_of > deadline else "due"), None
        items.append(BoardItem(code, name_th, name_en, state, on))
    return items


def submit_report(
    campaign: CampaignLaunched,
    level: Level,
    code: str,
    submitted_on: date,
    today: date,
    counters: dict[str, int],
    notes: FreeText | None,
    submitted_by: str,
    district_reports: Mapping[str, ReportSubmitted],
) -> ReportSubmitted:
    """A report with the counters as they stand. Submitted after its level's deadline, it is flagged
    late (and still taken). A province's report names the district reports it consolidates."""
    if level == "national":
        raise CampaignRuleBroken("reports are made by districts and provinces", "level")
    expected = {"district": 4, "province": 2}[level]
    if len(code) != expected or not code.isdigit():
        raise CampaignRuleBroken(f"a {level} code has {expected} digits", "code")
    if submitted_on > today:
        raise CampaignRuleBroken("must not be in the future", "submitted_on")
    if submitted_on < campaign.starts_on:
        raise CampaignRuleBroken(f"the campaign starts on {campaign.starts_on}", "submitted_on")
    deadline = deadline_for(campaign, level)
    consolidates = sorted(c for c in district_reports if c.startswith(code)) if level == "province" else []
    return ReportSubmitted(
        campaign_id=campaign.campaign_id,
        level=level,
        code=code,
        submitted_on=submitted_on,
        deadline=deadline,
        late=deadline is not None and submitted_on > deadline,
        counters=counters,
        notes_ref=notes.text_id if notes else None,
        submitted_by=submitted_by,
        consolidates=consolidates,
    )


def nominations_as_of(campaign: CampaignLaunched, today: date) -> date:
    """Nominees are scored on the record as it stood when nominations were due (or today, if earlier)."""
    due = campaign.deadlines.nominations or campaign.ends_on
    return min(due, today)


def decide_nomination(
    campaign: CampaignLaunched,
    district_code: str,
    kind: NomineeKind,
    ranked: Sequence[Score],
    nominee_id: str | None,
    override_reason: FreeText | None,
    today: date,
    submitted_by: str,
    narrative: dict[str, FreeText] | None = None,
) -> NominationSubmitted:
    """The top proposal, or the committee's own choice with its reason. What the district wrote goes into
    the register (the event carries the texts' ids)."""
    if len(district_code) != 4 or not district_code.isdigit():
        raise CampaignRuleBroken("a district code has 4 digits", "district_code")
    if not ranked:
        raise CampaignRuleBroken(f"there is no {kind} to nominate in {district_code}", None, 409)
    proposed = ranked[0]
    chosen = proposed if nominee_id is None else next((s for s in ranked if s.subject_id == nominee_id), None)
    if chosen is None:
        raise CampaignRuleBroken(f"is not a {kind} of district {district_code}", "nominee_id", 422)
    if chosen is not proposed and not (override_reason and override_reason.body.strip()):
        raise CampaignRuleBroken(
            f"the record proposes {proposed.subject_id} (score {proposed.total}); say why the committee chose another",
            "override_reason",
        )
    deadline = campaign.deadlines.nominations
    return NominationSubmitted(
        campaign_id=campaign.campaign_id,
        district_code=district_code,
        kind=kind,
        nominee_id=chosen.subject_id,
        score=str(chosen.total),
        evidence=chosen.evidence,
        proposed_id=proposed.subject_id,
        override_reason_ref=override_reason.text_id if override_reason and chosen is not proposed else None,
        submitted_on=today,
        deadline=deadline,
        late=deadline is not None and today > deadline,
        submitted_by=submitted_by,
        narrative_refs={section: text.text_id for section, text in (narrative or {}).items()},
    )
