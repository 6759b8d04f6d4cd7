"""Events of the campaign service (topic sajja.campaign.v1)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY

RuleKind = Literal["new_member", "commitment_raise", "special_deposit"]
Level = Literal["national", "province", "district"]


class CampaignRule(EventPayload):
    """One way a member takes part. Amounts in satang; a rule may have its own dates inside the window
    (e.g. national savings week)."""

    kind: RuleKind
    min_amount_satang: int = Field(default=0, ge=0)
    starts_on: date | None = None
    ends_on: date | None = None


class ReportDeadlines(EventPayload):
    nominations: date | None = None
    district_report: date | None = None
    province_report: date | None = None


@REGISTRY.register("campaign.CampaignLaunched", 1)
class CampaignLaunched(EventPayload):
    """A campaign, as data: what counts, where, when, the targets and the reporting deadlines."""

    campaign_id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    name_th: str = Field(min_length=1, max_length=300)
    name_en: str = Field(min_length=1, max_length=300)
    starts_on: date
    ends_on: date
    # Province codes covered; empty: the whole country.
    provinces: list[str] = Field(default_factory=list)
    rules: list[CampaignRule] = Field(min_length=1)
    # Area code ("national", a province or a district code) → counter name → target (money in satang).
    targets: dict[str, dict[str, int]] = Field(default_factory=dict)
    deadlines: ReportDeadlines = Field(default_factory=ReportDeadlines)


@REGISTRY.register("campaign.ReportSubmitted", 1)
class ReportSubmitted(EventPayload):
    """A savings-promotion report (แบบรายงานการส่งเสริมการออม): the counters as they stood, with notes."""

    campaign_id: str
    level: Level
    code: str
    submitted_on: date
    deadline: date | None
    late: bool
    counters: dict[str, int]
    notes: str = Field(default="", max_length=4000)
    submitted_by: str
    # For a province: the district reports it consolidates (codes).
    consolidates: list[str] = Field(default_factory=list)


