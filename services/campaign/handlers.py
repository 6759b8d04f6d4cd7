"""Campaign application layer: definitions, the facts of a place, reports."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from libs.events.envelope import SYSTEM_ACTOR, Actor, NewEvent, today_in_thailand
from libs.events.http import CommandResult, CommandUnit, IdempotentCommands
from libs.events.registry import REGISTRY
from libs.events.schemas.campaign import CampaignLaunched, Level, ReportSubmitted
from libs.events.settings import Settings
from libs.events.store import EventStore
from libs.events.wakeup import CommitSignal
from services.campaign import counters as counting
from services.campaign.reports import CampaignRuleBroken, submit_report

SCHEMA = "campaign"
DEFINITIONS = Path(__file__).with_name("definitions")
log = logging.getLogger("sajja.campaign")


class NotFound(Exception):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(f"{what} {ident} does not exist")


def campaign_stream(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


def report_stream(campaign_id: str, level: str, code: str) -> str:
    return f"report-{campaign_id}-{level}-{code}"


class CampaignHandlers:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, schema: str = SCHEMA) -> None:
        self.pool = pool
        self.settings = settings
        self.schema = schema
        self.store = EventStore(SCHEMA)
        self.commit_signal = CommitSignal(pool, self.store.notify_channel)
        self.commands = IdempotentCommands(pool, SCHEMA, after_commit=self.commit_signal.poke)

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

    async def facts(self, campaign: CampaignLaunched, level: str, code: str | None) -> counting.Facts:
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

    async def submitted_reports(self, campaign_id: str, level: str) -> dict[str, ReportSubmitted]:
        rows = await self.pool.fetch(
            "select payload::text as payload from campaign.events where event_type = 'campaign.ReportSubmitted'"
            " and payload->>'campaign_id' = $1 and payload->>'level' = $2",
            campaign_id,
            level,
        )
        reports = [ReportSubmitted.model_validate_json(r["payload"]) for r in rows]
        return {r.code: r for r in reports}

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
        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            campaign = await self.load_campaign(campaign_id)
            stream = report_stream(campaign_id, level, code)
            if await self.store.read_stream(unit.conn, stream):
                raise CampaignRuleBroken(f"the {level} report of {code} was submitted already", None, 409)
            on = submitted_on or today_in_thailand()
            figures = counting.counters(campaign, await self.facts(campaign, level, code), on)
            districts = await self.submitted_reports(campaign_id, "district") if level == "province" else {}
            event = submit_report(campaign, level, code, on, today_in_thailand(), figures, notes, actor.id, districts)
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
                unit.conn, stream, 0, [NewEvent(event, actor=actor)], record=unit.response(201, body)
            )
            return 201, body | {"position": {SCHEMA: recorded[0].position}}

        return await self.commands.execute(key, fingerprint, command)
