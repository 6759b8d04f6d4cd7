"""SMART grading at the edges: indicators gathered from reporting's own read models and lending's
portfolio (over HTTP), governance items officers record, and the grading history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
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
    tables = ("group_closes",)

    def __init__(self, ledger_topic: str, schema: str = "reporting") -> None:
        self.topics: Sequence[str] = (ledger_topic,)
        self.table = f'"{schema}".group_closes'

    def rebuilt_in(self, schema: str) -> GroupCloses:
        return GroupCloses(self.topics[0], schema)

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
                f"insert into {self.table} values ($1, $2, $3, $4, $5, $6) on conflict do nothing", rows
            )


class SmartGrading:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pool = platform.pool
        self.levels = smart_grading.load_levels()

    async def indicators_of(
        self, group_ids: Sequence[str], as_of: date, par30_percent: Mapping[str, str]
    ) -> dict[str, smart_grading.Indicators]:
        """The indicators of several groups at once, from kept read models: each group's last close and its
        closes of the last 12 months (the closes' primary key), its savings now and a year ago (the
        statistics' running totals), its governance items. `par30_percent`: lending's PAR30 by group (a
        group with no active loans has none)."""
        year_ago = date(as_of.year - 1, as_of.month, 1)
        closes = {
            r["group_id"]: r
            for r in await self.pool.fetch(
                f"""select g.group_id::text,
                        (select max(c.month) from {S}.group_closes c
                          where c.group_id = g.group_id and c.month <= $2) as last_closed,
                        (select coalesce(sum(c.members_due), 0) from {S}.group_closes c
                          where c.group_id = g.group_id and c.month >= $3 and c.month <= $2) as due,
                        (select coalesce(sum(c.members_missed), 0) from {S}.group_closes c
                          where c.group_id = g.group_id and c.month >= $3 and c.month <= $2) as missed
                    from unnest($1::uuid[]) as g(group_id)""",
                list(group_ids),
                as_of,
                year_ago,
            )
        }
        then = date(as_of.year - 1, as_of.month, min(as_of.day, 28))
        savings = await statistics.figures_on(self.pool, "reporting", "group", group_ids, [as_of, then])
        governance = {
            r["group_id"]: r["done"]
            for r in await self.pool.fetch(
                f"""select group_id::text, count(*) as done from {S}.group_governance
                    where group_id = any($1::uuid[]) and done and recorded_on <= $2 and item = any($3::text[])
                    group by group_id""",
                list(group_ids),
                as_of,
                self.levels["governance_items"],
            )
        }
        out = {}
        for group_id in group_ids:
            close = closes[group_id]
            due, missed = int(close["due"]), int(close["missed"])
            regularity = None if not due else (Decimal(due - missed) / due).quantize(Decimal("0.0001"))
            now, before = savings[(group_id, as_of)]["savings"], savings[(group_id, then)]["savings"]
            growth = None if not before else (Decimal(now - before) / before).quantize(Decimal("0.0001"))
            par30 = (Decimal(par30_percent.get(group_id, "0.00")) / 100).quantize(Decimal("0.0001"))
            out[group_id] = smart_grading.Indicators(
                smart_grading.months_behind(close["last_closed"], as_of),
                regularity,
                growth,
                par30,
                int(governance.get(group_id, 0)),
            )
        return out

    async def indicators(self, group_id: uuid.UUID, as_of: date) -> smart_grading.Indicators:
        answer = await self._lending(
            "/lending/v1/portfolio", {"level": "group", "code": str(group_id), "on": as_of.isoformat()}
        )
        par30 = answer["par30_percent"]
        return (await self.indicators_of([str(group_id)], as_of, {str(group_id): par30}))[str(group_id)]

    async def _lending(self, path: str, params: dict[str, str]) -> Any:
        """Lending's answer (PAR30 of the groups graded). A lending that cannot answer (not reachable, no URL for
        it, or failing) makes the grading a 503 the caller may retry, never a 500."""
        return await self.platform.service_get("lending", path, params)

    def _graded(self, group_id: str, as_of: date, ind: smart_grading.Indicators) -> dict[str, Any]:
        result = smart_grading.grade(ind, self.levels)
        next_level = result.level + 1
        return {
            "group_id": group_id,
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

    async def grade(self, group_id: uuid.UUID, as_of: date) -> dict[str, Any]:
        return self._graded(str(group_id), as_of, await self.indicators(group_id, as_of))

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
        names, graded = await self.graded_in(district_code, as_of)
        below = [g for g in graded if g["next_level"] is not None]
        below.sort(key=lambda g: (len(g["gaps_to_next_level"]), -g["level"], g["group_id"]))
        return [
            {
                "group_id": g["group_id"],
                "name": names[g["group_id"]],
                "level": g["level"],
                "next_level": g["next_level"],
                "missing": [c["name"] for c in g["gaps_to_next_level"]],
            }
            for g in below
        ]

    async def district_levels(self, district_code: str, as_of: date) -> dict[str, int]:
        """Each of the district's groups' level, by group id (the district's table of groups shows it)."""
        _, graded = await self.graded_in(district_code, as_of)
        return {g["group_id"]: g["level"] for g in graded}

    async def graded_in(self, district_code: str, as_of: date) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The district's groups' names and gradings. Costs the district's groups: their indicators in a few set
        reads, PAR30 in one call to lending."""
        names = {
            r["group_id"]: r["name"]
            for r in await self.pool.fetch(
                f"select group_id::text, name from {S}.group_names where district_code = $1", district_code
            )
        }
        answer = await self._lending(
            "/lending/v1/portfolio/breakdown", {"level": "district", "code": district_code, "on": as_of.isoformat()}
        )
        par30 = {item["code"]: item["par30_percent"] for item in answer["items"]}
        found = await self.indicators_of(list(names), as_of, par30)
        return names, [self._graded(group_id, as_of, found[group_id]) for group_id in names]
