"""SMART grading at the edges: indicators gathered from reporting's own read models and lending's
portfolio (over HTTP), governance items officers record, and the grading history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from libs.events.envelope import RecordedEvent
from libs.events.runtime import Platform
from services.reporting import smart_grading, statistics

S = '"reporting"'


class GroupCloses:
    """Projection: each group's month-end closes (installments due and missed)."""

    name = "group_closes"

    def __init__(self, ledger_topic: str) -> None:
        self.topics: Sequence[str] = (ledger_topic,)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        rows = [
            (
                e.payload["group_id"],
                date.fromisoformat(e.payload["month"]),
                int(e.payload["members_due"]),
                int(e.payload["members_missed"]),
                e.area.province_code if e.area else "",
                e.area.district_code if e.area else "",
            )
            for e in events
            if e.event_type == "ledger.MonthClosed"
        ]
        if rows:
            await conn.executemany(
                f"insert into {S}.group_closes values ($1, $2, $3, $4, $5, $6) on conflict do nothing", rows
            )


class SmartGrading:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pool = platform.pool
        self.levels = smart_grading.load_levels()

    async def indicators(self, group_id: uuid.UUID, as_of: date) -> smart_grading.Indicators:
        closes = await self.pool.fetch(
            f"select month, members_due, members_missed from {S}.group_closes"
            " where group_id = $1 and month <= $2 order by month",
            group_id,
            as_of,
        )
        year_ago = date(as_of.year - 1, as_of.month, 1)
        recent = [c for c in closes if c["month"] >= year_ago]
        due = sum(c["members_due"] for c in recent)
        regularity = (
            None
            if not due
            else (Decimal(due - sum(c["members_missed"] for c in recent)) / due).quantize(Decimal("0.0001"))
        )
        now = await statistics.figures(self.pool, "reporting", "group", str(group_id), as_of)
        then = await statistics.figures(
            self.pool, "reporting", "group", str(group_id), date(as_of.year - 1, as_of.month, min(as_of.day, 28))
        )
        growth = (
            None
            if not then["savings"]
            else (Decimal(now["savings"] - then["savings"]) / then["savings"]).quantize(Decimal("0.0001"))
        )
        async with self.platform.service_client("lending") as lending:
            answer = await lending.get(
                "/lending/v1/portfolio", params={"level": "group", "code": str(group_id), "on": as_of.isoformat()}
            )
            answer.raise_for_status()
            par30 = (Decimal(answer.json()["par30_percent"]) / 100).quantize(Decimal("0.0001"))
        done = await self.pool.fetchval(
            f"select count(*) from {S}.group_governance where group_id = $1 and done and recorded_on <= $2"
            " and item = any($3::text[])",
            group_id,
            as_of,
            self.levels["governance_items"],
        )
        return smart_grading.Indicators(
            smart_grading.months_behind(closes[-1]["month"] if closes else None, as_of),
            regularity,
            growth,
            par30,
            int(done),
        )

    async def grade(self, group_id: uuid.UUID, as_of: date) -> dict[str, Any]:
        ind = await self.indicators(group_id, as_of)
        result = smart_grading.grade(ind, self.levels)
        next_level = result.level + 1
        return {
            "group_id": str(group_id),
            "as_of": as_of.isoformat(),
            "level": result.level,
            "indicators": {
                "books_months_behind": ind.books_months_behind,
                "savings_regularity": None if ind.regularity is None else str(ind.regularity),
                "savings_growth": None if ind.savings_growth is None else str(ind.savings_growth),
                "par30": str(ind.par30),
                "governance_items": ind.governance_items,
            },
            "criteria": {
                str(level): [c.__dict__ for c in criteria] for level, criteria in sorted(result.criteria.items())
            },
            "next_level": next_level if next_level in result.criteria else None,
            "gaps_to_next_level": [c.__dict__ for c in result.gaps(next_level)],
        }

    async def record(self, group_id: uuid.UUID, as_of: date) -> dict[str, Any]:
        graded = await self.grade(group_id, as_of)
        await self.pool.execute(
            f"insert into {S}.smart_gradings (group_id, graded_on, level, criteria) values ($1, $2, $3, $4::jsonb)",
            group_id,
            as_of,
            graded["level"],
            json.dumps(graded["criteria"], ensure_ascii=False),
        )
        return graded

    async def history(self, group_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"select graded_on, level, graded_at from {S}.smart_gradings where group_id = $1 order by id", group_id
        )
        return [{"graded_on": r["graded_on"].isoformat(), "level": r["level"]} for r in rows]

    async def set_governance(self, group_id: uuid.UUID, item: str, done: bool, on: date, by: str) -> None:
        await self.pool.execute(
            f"""insert into {S}.group_governance values ($1, $2, $3, $4, $5)
                on conflict (group_id, item) do update set done = excluded.done,
                    recorded_on = excluded.recorded_on, recorded_by = excluded.recorded_by""",
            group_id,
            item,
            done,
            on,
            by,
        )

    async def closest(self, district_code: str, as_of: date) -> list[dict[str, Any]]:
        """The district's groups below the top level, fewest gaps to their next level first."""
        groups = await self.pool.fetch(
            f"select group_id from {S}.group_names where district_code = $1",
            district_code,
        )
        graded = [await self.grade(r["group_id"], as_of) for r in groups]
        below = [g for g in graded if g["next_level"] is not None]
        below.sort(key=lambda g: (len(g["gaps_to_next_level"]), -g["level"], g["group_id"]))
        return [
            {
                "group_id": g["group_id"],
                "level": g["level"],
                "next_level": g["next_level"],
                "missing": [c["name"] for c in g["gaps_to_next_level"]],
            }
            for g in below
        ]
