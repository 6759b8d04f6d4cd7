"""Events of the campaign service (topic sajja.campaign.v1)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import ConfigDict, Field

from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY
from libs.events.schemas.free_text import inline_text_stays

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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": "savings-week-2025",
                    "name_th": "สัปดาห์การออมแห่งชาติ ๒๕๖๘",
                    "name_en": "National savings week 2025",
                    "starts_on": "2025-10-27",
                    "ends_on": "2025-11-02",
                    "provinces": [],
                    "rules": [{"kind": "special_deposit", "min_amount_satang": 10000}],
                    "targets": {"national": {"special_depositors": 100000}},
                    "deadlines": {"district_report": "2025-11-14", "province_report": "2025-11-28"},
                }
            ]
        }
    )

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
class ReportSubmittedV1(EventPayload):
    """A savings-promotion report (แบบรายงานการส่งเสริมการออม): the counters as they stood, with notes."""

    model_config = ConfigDict(title="ReportSubmitted")

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


@REGISTRY.register("campaign.ReportSubmitted", 2)
class ReportSubmitted(EventPayload):
    """A savings-promotion report (แบบรายงานการส่งเสริมการออม): the counters as they stood, with notes. v2: the
    notes are in the campaign's free-text register (libs/events/free_text.py); the event carries their id."""

    campaign_id: str
    level: Level
    code: str
    submitted_on: date
    deadline: date | None
    late: bool
    counters: dict[str, int]
    # None: no notes.
    notes_ref: uuid.UUID | None = None
    submitted_by: str
    # For a province: the district reports it consolidates (codes).
    consolidates: list[str] = Field(default_factory=list)
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    notes: str | None = Field(default=None, max_length=4000)


REGISTRY.upcaster("campaign.ReportSubmitted", 1)(inline_text_stays)


NomineeKind = Literal["member", "group"]


@REGISTRY.register("campaign.NominationSubmitted", 1)
class NominationSubmittedV1(EventPayload):
    """A district's outstanding member or group (แบบรายงาน…ดีเด่นระดับอำเภอ), with the score that proposed
    it; a committee choosing another than the top proposal says why."""

    model_config = ConfigDict(title="NominationSubmitted")

    campaign_id: str
    district_code: str = Field(pattern=r"^\d{4}$")
    kind: NomineeKind
    nominee_id: str
    score: str  # a decimal, as shown with its evidence
    evidence: dict[str, str]
    proposed_id: str | None
    override_reason: str | None = Field(default=None, max_length=1000)
    submitted_on: date
    deadline: date | None
    late: bool
    submitted_by: str
    # The form's written sections (e.g. "occupation", "contributions", "suggestions"), as the district wrote them.
    narrative: dict[str, str] = Field(default_factory=dict)


@REGISTRY.register("campaign.NominationSubmitted", 2)
class NominationSubmitted(EventPayload):
    """A district's outstanding member or group (แบบรายงาน…ดีเด่นระดับอำเภอ), with the score that proposed
    it; a committee choosing another than the top proposal says why. v2: what the district wrote about the
    nominee (the override reason, the form's sections) is in the campaign's free-text register; the event
    carries the ids."""

    campaign_id: str
    district_code: str = Field(pattern=r"^\d{4}$")
    kind: NomineeKind
    nominee_id: str
    score: str  # a decimal, as shown with its evidence
    # Figures from the record that gave the score (computed, e.g. "12/12 months"), by part.
    evidence: dict[str, str]
    proposed_id: str | None
    override_reason_ref: uuid.UUID | None = None
    submitted_on: date
    deadline: date | None
    late: bool
    submitted_by: str
    # The form's written sections (e.g. "occupation", "suggestions") → the id of the district's text.
    narrative_refs: dict[str, uuid.UUID] = Field(default_factory=dict)
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    override_reason: str | None = Field(default=None, max_length=1000)
    narrative: dict[str, str] = Field(default_factory=dict)


REGISTRY.upcaster("campaign.NominationSubmitted", 1)(inline_text_stays)


@REGISTRY.register("campaign.AwardGranted", 1)
class AwardGrantedV1(EventPayload):
    """The province's award to one of its districts' nominees."""

    model_config = ConfigDict(title="AwardGranted")

    campaign_id: str
    province_code: str = Field(pattern=r"^\d{2}$")
    kind: NomineeKind
    nominee_id: str
    district_code: str
    granted_on: date
    granted_by: str
    citation: str = Field(default="", max_length=1000)


@REGISTRY.register("campaign.AwardGranted", 2)
class AwardGranted(EventPayload):
    """The province's award to one of its districts' nominees. v2: the citation is in the campaign's free-text
    register; the event carries its id."""

    campaign_id: str
    province_code: str = Field(pattern=r"^\d{2}$")
    kind: NomineeKind
    nominee_id: str
    district_code: str
    granted_on: date
    granted_by: str
    # None: no citation.
    citation_ref: uuid.UUID | None = None
    # Only in events published as v1 (upcast): their text stays as it was published. v2 never sets it.
    citation: str | None = Field(default=None, max_length=1000)


REGISTRY.upcaster("campaign.AwardGranted", 1)(inline_text_stays)
