"""Savings-promotion reports (แบบรายงานการส่งเสริมการออม): districts report to their province, provinces
to the department, each by the campaign's deadline for its level. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from libs.events.schemas.campaign import CampaignLaunched, Level, ReportSubmitted


class CampaignRuleBroken(Exception):
    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def deadline_for(campaign: CampaignLaunched, level: Level) -> date | None:
    return {"district": campaign.deadlines.district_report, "province": campaign.deadlines.province_report}.get(level)


def submit_report(
    campaign: CampaignLaunched,
    level: Level,
    code: str,
    submitted_on: date,
    today: date,
    counters: dict[str, int],
    notes: str,
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
        notes=notes,
        submitted_by=submitted_by,
        consolidates=consolidates,
    )
