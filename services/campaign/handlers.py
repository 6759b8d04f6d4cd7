"""Campaign application layer: definitions, the facts of a place, reports."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from libs.events import free_text
from libs.events.envelope import SYSTEM_ACTOR, Actor, NewEvent, today_in_thailand
from libs.events.errors import NotFound
from libs.events.free_text import FreeText
from libs.events.http import CommandResult, CommandUnit, IdempotentCommands
from libs.events.registry import REGISTRY
from libs.events.schemas.campaign import AwardGranted, CampaignLaunched, Level, NomineeKind, ReportSubmitted
from libs.events.settings import Settings
from libs.events.store import EventStore
from libs.events.wakeup import CommitSignal
from services.campaign import counters as counting
from services.campaign import nominations
from services.campaign.aggregates import Progress
from services.campaign.reports import CampaignRuleBroken, decide_nomination, nominations_as_of, submit_report

SCHEMA = "campaign"
DEFINITIONS = Path(__file__).with_name("definitions")
log = logging.getLogger("sajja.campaign")


def campaign_stream(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def report_stream(campaign_id: str, level: str, code: str) -> str:
    return f"report-{campaign_id}-{level}-{code}"


def nomination_stream(campaign_id: str, district_code: str, kind: str) -> str:
    return f"nomination-{campaign_id}-{district_code}-{kind}"


def award_stream(campaign_id: str, province_code: str, kind: str) -> str:
    return f"award-{campaign_id}-{province_code}-{kind}"


class CampaignHandlers:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, schema: str = SCHEMA) -> None:
        self.pool = pool
        self.settings = settings
        self.schema = schema
        self.store = EventStore(SCHEMA)
        self.commit_signal = CommitSignal(pool, self.store.notify_channel)
        self.commands = IdempotentCommands(pool, SCHEMA, after_commit=self.commit_signal.poke)
        self.progress = Progress(pool, schema)

    async def load_campaign(self, campaign_id: str) -> CampaignLaunched:
        events = await self.store.read_stream(self.pool, campaign_stream(campaign_id))
        if not events:
            raise NotFound("campaign", campaign_id)
        campaign = REGISTRY.parse_event(events[0])
        assert isinstance(campaign, CampaignLaunched)
        return campaign

    async def campaigns(self) -> list[CampaignLaunched]:
        rows = await self.pool.fetch(
            "select stream_id from campaign.events where event_type = 'campaign.CampaignLaunched' order by position"
        )
        return [await self.load_campaign(r["stream_id"].removeprefix("campaign-")) for r in rows]

    async def launch(self, key: str, fingerprint: str, actor: Actor, campaign: CampaignLaunched) -> CommandResult:
        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            stream = campaign_stream(campaign.campaign_id)
            if await self.store.read_stream(unit.conn, stream):
                raise CampaignRuleBroken(f"campaign {campaign.campaign_id} exists already", "campaign_id", 409)
            if campaign.ends_on < campaign.starts_on:
                raise CampaignRuleBroken("must not be before starts_on", "ends_on")
            body = {"campaign_id": campaign.campaign_id}
            recorded = await self.store.append(
                unit.conn, stream, 0, [NewEvent(campaign, actor=actor)], record=unit.response(201, body)
            )
            return 201, body | {"position": {SCHEMA: recorded[0].position}}

        return await self.commands.execute(key, fingerprint, command)

    async def launch_definitions(self) -> None:
        launched = await self.load_definitions()
        if launched:
            log.info("launched campaigns %s", ", ".join(launched))

    async def load_definitions(self) -> list[str]:
        """Launch each shipped definition not launched yet (at start; idempotent)."""
        launched = []
        for path in sorted(DEFINITIONS.glob("*.json")):
            campaign = CampaignLaunched.model_validate(json.loads(path.read_text()))
            async with self.pool.acquire() as conn:
                if await self.store.read_stream(conn, campaign_stream(campaign.campaign_id)):
                    continue
                try:
                    await self.store.append(
                        conn, campaign_stream(campaign.campaign_id), 0, [NewEvent(campaign, actor=SYSTEM_ACTOR)]
                    )
                except Exception:  # a twin process launched it first
                    log.info("campaign %s was launched concurrently", campaign.campaign_id)
                    continue
            launched.append(campaign.campaign_id)
        return launched

    # The counters come from the aggregates. Until the projection has received a campaign just launched
    # (a moment, on the campaign topic), they are computed from the facts, as the aggregates will be.

    async def progress_counters(
        self, campaign: CampaignLaunched, level: str, code: str | None, as_of: date
    ) -> dict[str, int]:
        """An area's counters at the end of `as_of`."""
        if await self.progress.kept(campaign):
            return await self.progress.counters(campaign, level, code, as_of)
        return counting.counters(campaign, await self.facts(campaign, level, code), as_of)

    async def progress_series(
        self, campaign: CampaignLaunched, level: str, code: str | None, as_of: date
    ) -> list[tuple[date, dict[str, int]]]:
        """An area's counters at the end of each day of the window up to `as_of`."""
        if await self.progress.kept(campaign):
            return await self.progress.series(campaign, level, code, as_of)
        return counting.series(campaign, await self.facts(campaign, level, code), as_of)

    async def progress_breakdown(
        self, campaign: CampaignLaunched, level: str, code: str | None, as_of: date
    ) -> tuple[str, list[tuple[str, dict[str, int]]]]:
        """The child level, and each child area's counters at the end of `as_of`."""
        if await self.progress.kept(campaign):
            return await self.progress.breakdown(campaign, level, code, as_of)
        child, key = {"national": ("province", "province_code"), "province": ("district", "district_code")}.get(
            level, ("group", "group_id")
        )
        parts = counting.split_by(await self.facts(campaign, level, code), key)
        return child, [(c, counting.counters(campaign, f, as_of)) for c, f in parts.items()]

    async def facts(self, campaign: CampaignLaunched, level: str, code: str | None) -> counting.Facts:
        """Every fact of an area's members (what nominations score; the counters' oracle in tests)."""
        column = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}[
            level
        ]
        where = f"where m.{column}::text = $1" if column else ""
        args = [code] if column else []
        members = [
            counting.MemberFact(
                r["member_id"],
                r["group_id"],
                r["province_code"],
                r["district_code"],
                r["joined_on"],
                r["initial_commitment_satang"],
            )
            for r in await self.pool.fetch(f'select * from "{self.schema}".member_facts m {where}', *args)
        ]
        members = counting.in_campaign(campaign, members)
        ids = [m.member_id for m in members]
        changes: dict[uuid.UUID, list[tuple[date, int]]] = {}
        for r in await self.pool.fetch(
            f'select member_id, effective_month, commitment_satang from "{self.schema}".commitment_changes'
            " where member_id = any($1::uuid[]) order by member_id, stream_version",
            ids,
        ):
            changes.setdefault(r["member_id"], []).append((r["effective_month"], r["commitment_satang"]))
        moves = [
            counting.SavingsMove(
                r["member_id"], r["account"], r["kind"], r["amount_satang"], r["on_date"], r["reversed_on"]
            )
            for r in await self.pool.fetch(
                f'select * from "{self.schema}".savings_moves where member_id = any($1::uuid[])', ids
            )
        ]
        return counting.Facts(members, changes, moves)

    async def loans(self, member_ids: list[uuid.UUID]) -> list[nominations.LoanFact]:
        rows = await self.pool.fetch(
            f"""select l.member_id, l.product_id, l.due_dates,
                       (select count(*) from "{self.schema}".overdue_installments o
                        where o.loan_id = l.loan_id) as overdue
                from "{self.schema}".loan_facts l where l.member_id = any($1::uuid[])""",
            member_ids,
        )
        return [nominations.LoanFact(r["member_id"], r["product_id"], r["due_dates"], r["overdue"]) for r in rows]

    async def proposals(
        self, campaign: CampaignLaunched, district_code: str, as_of: date
    ) -> tuple[list[nominations.Score], list[nominations.Score]]:
        facts = await self.facts(campaign, "district", district_code)
        loans = await self.loans([m.member_id for m in facts.members])
        members = nominations.rank_members(facts, loans, as_of)
        taking_part = {
            group: counting.counters(campaign, part, campaign.ends_on)["members_taking_part"]
            for group, part in counting.split_by(facts, "group_id").items()
        }
        return members, nominations.rank_groups(facts, members, taking_part)

    async def events_of(self, event_type: str, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's events of a type, as users see them: each (upcast) payload with the free texts it
        refers to read from the register (`notes_ref` → `notes` …; None once erased)."""
        rows = await self.pool.fetch(
            "select payload::text as payload, schema_version from campaign.events"
            " where event_type = $1 and payload->>'campaign_id' = $2 order by position",
            event_type,
            campaign_id,
        )
        model = REGISTRY.models()[(event_type, REGISTRY.latest_version(event_type))]
        payloads = [
            REGISTRY.parse(event_type, r["schema_version"], json.loads(r["payload"])).model_dump(mode="json")
            for r in rows
        ]
        texts = await free_text.resolve(self.pool, SCHEMA, (t for p in payloads for t in free_text.refs_in(p, model)))
        return [free_text.shown(p, texts, model) for p in payloads]

    async def nominate(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        campaign_id: str,
        district_code: str,
        kind: NomineeKind,
        nominee_id: str | None,
        override_reason: str | None,
        narrative: dict[str, str] | None = None,
    ) -> CommandResult:
        reason = FreeText.optional("override_reason", override_reason)
        sections = {k: FreeText.of(f"narrative.{k}", v) for k, v in (narrative or {}).items() if v.strip()}

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            campaign = await self.load_campaign(campaign_id)
            stream = nomination_stream(campaign_id, district_code, kind)
            if await self.store.read_stream(unit.conn, stream):
                raise CampaignRuleBroken(f"{district_code} has nominated its outstanding {kind} already", None, 409)
            today = today_in_thailand()
            as_of = nominations_as_of(campaign, today)
            members, groups = await self.proposals(campaign, district_code, as_of)
            ranked = members if kind == "member" else groups
            event = decide_nomination(
                campaign, district_code, kind, ranked, nominee_id, reason, today, actor.id, sections
            )
            body = event.model_dump(mode="json", exclude={"override_reason", "narrative"})
            recorded = await self.store.append(
                unit.conn,
                stream,
                0,
                [NewEvent(event, actor=actor)],
                record=unit.response(201, body),
                texts=[reason, *sections.values()],
            )
            return 201, body | {"position": {SCHEMA: recorded[0].position}}

        return await self.commands.execute(key, fingerprint, command)

    async def grant_award(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        campaign_id: str,
        province_code: str,
        kind: NomineeKind,
        nominee_id: str,
        citation: str,
    ) -> CommandResult:
        text = FreeText.optional("citation", citation)

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            await self.load_campaign(campaign_id)
            stream = award_stream(campaign_id, province_code, kind)
            if await self.store.read_stream(unit.conn, stream):
                raise CampaignRuleBroken(f"province {province_code} has granted its {kind} award already", None, 409)
            nominated = [
                n
                for n in await self.events_of("campaign.NominationSubmitted", campaign_id)
                if n["kind"] == kind and n["district_code"].startswith(province_code)
            ]
            match = next((n for n in nominated if n["nominee_id"] == nominee_id), None)
            if match is None:
                raise CampaignRuleBroken(
                    f"only a {kind} nominated by one of the province's districts can be awarded", "nominee_id", 409
                )
            event = AwardGranted(
                campaign_id=campaign_id,
                province_code=province_code,
                kind=kind,
                nominee_id=nominee_id,
                district_code=match["district_code"],
                granted_on=today_in_thailand(),
                granted_by=actor.id,
                citation_ref=text.text_id if text else None,
            )
            body = event.model_dump(mode="json", exclude={"citation"})
            recorded = await self.store.append(
                unit.conn, stream, 0, [NewEvent(event, actor=actor)], record=unit.response(201, body), texts=[text]
            )
            return 201, body | {"position": {SCHEMA: recorded[0].position}}

        return await self.commands.execute(key, fingerprint, command)

    async def submitted_reports(self, campaign_id: str, level: str) -> dict[str, ReportSubmitted]:
        rows = await self.pool.fetch(
            "select payload::text as payload, schema_version from campaign.events"
            " where event_type = 'campaign.ReportSubmitted'"
            " and payload->>'campaign_id' = $1 and payload->>'level' = $2",
            campaign_id,
            level,
        )
        reports = [
            REGISTRY.parse("campaign.ReportSubmitted", r["schema_version"], json.loads(r["payload"])) for r in rows
        ]
        return {r.code: r for r in reports if isinstance(r, ReportSubmitted)}

    async def report_notes(self, report: ReportSubmitted) -> str:
        """A report's notes as written ("" when none, or erased)."""
        if report.notes_ref is None:
            return report.notes or ""
        return (await free_text.resolve(self.pool, SCHEMA, [report.notes_ref])).get(report.notes_ref) or ""

    async def submit(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        campaign_id: str,
        level: Level,
        code: str,
        notes: str,
        submitted_on: date | None,
    ) -> CommandResult:
        text = FreeText.optional("notes", notes)

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            campaign = await self.load_campaign(campaign_id)
            stream = report_stream(campaign_id, level, code)
            if await self.store.read_stream(unit.conn, stream):
                raise CampaignRuleBroken(f"the {level} report of {code} was submitted already", None, 409)
            on = submitted_on or today_in_thailand()
            figures = await self.progress_counters(campaign, level, code, on)
            districts = await self.submitted_reports(campaign_id, "district") if level == "province" else {}
            event = submit_report(campaign, level, code, on, today_in_thailand(), figures, text, actor.id, districts)
            body = {
                "campaign_id": campaign_id,
                "level": level,
                "code": code,
                "submitted_on": on.isoformat(),
                "deadline": event.deadline.isoformat() if event.deadline else None,
                "late": event.late,
                "consolidates": event.consolidates,
            }
            recorded = await self.store.append(
                unit.conn, stream, 0, [NewEvent(event, actor=actor)], record=unit.response(201, body), texts=[text]
            )
            return 201, body | {"position": {SCHEMA: recorded[0].position}}

        return await self.commands.execute(key, fingerprint, command)
