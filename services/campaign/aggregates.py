"""The campaign counters as aggregates (DESIGN §5: reads cost what they show).

The ledger projection keeps, per campaign:
- per member taking part, the day each distinct count starts to include them (`counters.member_days`,
  recomputed from the member's facts whenever an event of theirs can change it);
- per group, the first day one of its members takes part;
- per area (national, province, district, group) and day of the window, how much each counter moved.

A change to a member's days moves their areas' counters by the difference, on the right dates: -1 on the
old day, +1 on the new. Sums (special deposits, their amount, savings added) move by each deposit,
withdrawal and exit payout dated inside the window, and back out by its reversal. Days are recomputed from
the facts tables as they stand after the batch is written, so the order events arrive in across streams
does not matter (a member's own events arrive in order; the framework applies each once).

How a batch moves them, at about the cost of writing its facts: the statements that write the facts (from
staging tables filled by COPY) also stage the sums of the moves they wrote per (campaign, group, day) and
list new members' areas; only members whose days may have changed (joined inside a rule's days, a special
deposit a rule counts, a commitment change, a reversal) come back to Python; `flush` turns the staged group
rows into the daily rows of every level in one upsert, in key order.

A campaign arriving after the facts (launched later, or the read model rebuilt) gets its state computed
once from the facts (`launch`), then kept incrementally. A read sums its area's daily rows up to the date
asked: about (areas × days asked) rows, whatever the length of the history.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg

from libs.events.schemas.campaign import CampaignLaunched, CampaignRule
from services.campaign import counters as counting

COLUMNS = counting.COUNTERS
_INDEX = {name: i for i, name in enumerate(COLUMNS)}
# (counter, MemberDays attribute) for the distinct member counts.
_MEMBER_COUNTS = (
    ("new_members", "new_member"),
    ("commitment_raises", "raised"),
    ("special_depositors", "special"),
    ("members_taking_part", "taking_part"),
)
_ZEROS = dict.fromkeys(COLUMNS, 0)


def lock_key(schema: str) -> int:
    """The advisory lock that orders a campaign's launch (exclusive) against batches of facts (shared)."""
    return int.from_bytes(hashlib.sha256(f"campaign-aggregates:{schema}".encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class Place:
    group_id: uuid.UUID
    province_code: str
    district_code: str

    def areas(self) -> tuple[tuple[str, str, str], ...]:
        """(level, code, parent) of each area the place belongs to."""
        return (
            ("national", "", ""),
            ("province", self.province_code, ""),
            ("district", self.district_code, self.province_code),
            ("group", str(self.group_id), self.district_code),
        )


@dataclass(frozen=True)
class Move:
    """A savings move as the facts table holds it."""

    member_id: uuid.UUID
    account: str
    kind: str
    amount_satang: int
    on_date: date

    @property
    def added(self) -> int:
        return self.amount_satang if self.kind == "deposit" else -self.amount_satang


class Deltas:
    """Counter movements, summed per (campaign, group, day) as they are noted, then per area when written."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, uuid.UUID, date], list[int]] = {}
        self.places: dict[uuid.UUID, Place] = {}
        # Areas with a member of a campaign: (campaign, group) whose areas are listed in breakdowns.
        self.areas: set[tuple[str, uuid.UUID]] = set()

    def add(self, campaign_id: str, place: Place, day: date, counter: str, amount: int) -> None:
        if not amount:
            return
        key = (campaign_id, place.group_id, day)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0] * len(COLUMNS)
            self.places[place.group_id] = place
        row[_INDEX[counter]] += amount

    def move(self, campaign_id: str, place: Place, counter: str, old: date | None, new: date | None) -> None:
        """A member (or group) counted from `new` instead of `old` (None: not counted)."""
        if old == new:
            return
        if old is not None:
            self.add(campaign_id, place, old, counter, -1)
        if new is not None:
            self.add(campaign_id, place, new, counter, 1)

    def mark(self, campaign_id: str, place: Place) -> None:
        """The place's areas have a member of the campaign (each is listed in its parent's breakdown)."""
        self.areas.add((campaign_id, place.group_id))
        self.places[place.group_id] = place

    async def write(self, conn: asyncpg.Connection, schema: str) -> None:
        s = f'"{schema}"'
        if self.areas:
            listed = {
                (cid, level, code): parent
                for cid, group_id in self.areas
                for level, code, parent in self.places[group_id].areas()
            }
            areas = sorted(listed)
            await conn.execute(
                f"insert into {s}.campaign_areas (campaign_id, level, code, parent)"
                " select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])"
                " on conflict (campaign_id, level, code) do nothing",
                [a[0] for a in areas],
                [a[1] for a in areas],
                [a[2] for a in areas],
                [listed[a] for a in areas],
            )
        # The groups' rows are staged (by COPY) for `flush`, which adds the district, province and national
        # rows as their sums.
        records = [
            (cid, group_id, self.places[group_id].province_code, self.places[group_id].district_code, day, *row)
            for (cid, group_id, day), row in self.rows.items()
            if any(row)
        ]
        if records:
            await conn.copy_records_to_table(
                "campaign_stage_daily",
                records=records,
                columns=["campaign_id", "group_id", "province_code", "district_code", "day", *COLUMNS],
                schema_name="pg_temp",
            )


def stage_ddl() -> str:
    """The session's staging table for a batch's movements per (campaign, group, day), before `flush`."""
    columns = ", ".join(f"{c} bigint not null default 0" for c in COLUMNS)
    return (
        "create temp table if not exists campaign_stage_daily (campaign_id text not null, group_id uuid not null,"
        f" province_code text not null, district_code text not null, day date not null, {columns})"
        " on commit delete rows;"
    )


def _daily_sql(schema: str) -> str:
    """Move the daily rows of every level by the staged group rows (consumed), in key order so two
    batches writing the same rows cannot deadlock."""
    names = ", ".join(COLUMNS)
    sums = ", ".join(f"sum({c})::bigint" for c in COLUMNS)
    named = ", ".join(f"sum({c})::bigint as {c}" for c in COLUMNS)
    sets = ", ".join(f"{c} = campaign_daily.{c} + excluded.{c}" for c in COLUMNS)
    return f"""
        with staged as (delete from pg_temp.campaign_stage_daily returning *),
        groups as (
            select campaign_id, group_id, province_code, district_code, day, {named} from staged group by 1, 2, 3, 4, 5
        )
        insert into "{schema}".campaign_daily (campaign_id, level, code, day, {names})
        select * from (
            select campaign_id, 'group', group_id::text, day, {names} from groups
            union all
            select campaign_id, 'district', district_code, day, {sums} from groups group by 1, 3, 4
            union all
            select campaign_id, 'province', province_code, day, {sums} from groups group by 1, 3, 4
            union all
            select campaign_id, 'national', '', day, {sums} from groups group by 1, 4
        ) as moved (campaign_id, level, code, day, {names})
        order by campaign_id collate "C", level collate "C", code collate "C", day
        on conflict (campaign_id, level, code, day) do update set {sets}"""


# The campaigns known to a batch, as a statement's rows (its parameter $1, JSON): window, provinces (comma
# separated; empty: all), the special-deposit rule's days and amount, the new-member rule's days (a rule
# the campaign lacks has a first day after its last).
_CAMPAIGNS_SQL = """campaigns as (
    select * from json_to_recordset($1::json) as c(
        campaign_id text, starts_on date, ends_on date, provinces text,
        s_first date, s_last date, s_min bigint, n_first date, n_last date))"""
_COVERS = "(c.provinces = '' or {province} = any(string_to_array(c.provinces, ',')))"


def _qualifying(first: str, last: str, minimum: str) -> str:
    """SQL: a savings move `v` is a special deposit the rule counts (parameters by number)."""
    return (
        f"v.account = 'special' and v.kind = 'deposit' and v.on_date between {first} and {last}"
        f" and v.amount_satang >= {minimum}"
    )


def _rule(campaign: CampaignLaunched, kind: str) -> CampaignRule | None:
    return next((r for r in campaign.rules if r.kind == kind), None)


def _fact(r: Mapping[str, Any]) -> counting.MemberFact:
    return counting.MemberFact(
        r["member_id"],
        r["group_id"],
        r["province_code"],
        r["district_code"],
        r["joined_on"],
        r["initial_commitment_satang"],
    )


def _days(row: Mapping[str, object] | None) -> counting.MemberDays:
    if row is None:
        return counting.MemberDays()
    return counting.MemberDays(row["new_member_on"], row["raised_on"], row["special_on"])  # type: ignore[arg-type]


class Aggregates:
    """Keeps the aggregates, inside the projection's transaction."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._definitions: dict[str, CampaignLaunched] = {}
        s = f'"{schema}"'
        self._campaigns_sql = f"select campaign_id, definition::text as definition from {s}.campaigns"
        self._daily_sql = _daily_sql(schema)
        member_columns = "member_id, group_id, province_code, district_code, joined_on, initial_commitment_satang"
        self._members_sql = (
            f"insert into {s}.member_facts ({member_columns}) select {member_columns}"
            " from pg_temp.campaign_stage_members on conflict (member_id) do nothing"
        )
        place = "campaign_id, group_id, province_code, district_code"
        self._members_counted_sql = f"""
            with {_CAMPAIGNS_SQL},
            written as (
                {self._members_sql} returning {member_columns}
            ),
            places as (
                select distinct c.campaign_id, w.group_id, w.province_code, w.district_code
                from written w join campaigns c on {_COVERS.format(province="w.province_code")}
            ),
            listed as (
                insert into {s}.campaign_areas (campaign_id, level, code, parent)
                select * from (
                    select campaign_id, 'national', '', '' from places
                    union select campaign_id, 'province', province_code, '' from places
                    union select campaign_id, 'district', district_code, province_code from places
                    union select campaign_id, 'group', group_id::text, district_code from places
                ) as a (campaign_id, level, code, parent)
                order by campaign_id collate "C", level collate "C", code collate "C"
                on conflict (campaign_id, level, code) do nothing
            )
            select c.campaign_id, w.* from written w
            join campaigns c on {_COVERS.format(province="w.province_code")}
                             and w.joined_on between c.n_first and c.n_last"""
        move_columns = "move_id, member_id, account, kind, amount_satang, on_date"
        self._moves_sql = (
            f"insert into {s}.savings_moves ({move_columns}) select {move_columns}"
            " from pg_temp.campaign_stage_moves on conflict (move_id) do nothing"
        )
        # (Each member's row found by its key: `limit 1` keeps the planner from scanning the whole table.)
        self._moves_counted_sql = f"""
            with {_CAMPAIGNS_SQL},
            written as (
                {self._moves_sql} returning member_id, account, kind, amount_satang, on_date
            ),
            counted as (
                select c.campaign_id, w.kind, w.amount_satang, w.on_date, m.*,
                       w.account = 'special' and w.kind = 'deposit' and w.on_date between c.s_first and c.s_last
                       and w.amount_satang >= c.s_min as special
                from written w
                cross join lateral (
                    select {member_columns} from {s}.member_facts f where f.member_id = w.member_id limit 1
                ) as m
                join campaigns c on w.on_date between c.starts_on and c.ends_on
                                 and {_COVERS.format(province="m.province_code")}
                where w.on_date between $2 and $3
            ),
            summed as (
                insert into pg_temp.campaign_stage_daily
                    ({place}, day, special_deposits, special_deposit_amount, savings_added)
                select {place}, on_date, count(*) filter (where special),
                       coalesce(sum(amount_satang) filter (where special), 0),
                       sum(case when kind = 'deposit' then amount_satang else -amount_satang end)
                from counted group by {place}, on_date
            )
            select distinct campaign_id, {member_columns} from counted where special"""
        self._launch_sql = (
            f"insert into {s}.campaigns (campaign_id, definition) values ($1, $2::jsonb)"
            " on conflict (campaign_id) do nothing returning campaign_id"
        )
        self._facts_sql = (
            f"select member_id, group_id, province_code, district_code, joined_on, initial_commitment_satang"
            f" from {s}.member_facts where member_id = any($1::uuid[])"
        )
        self._changes_sql = (
            f"select member_id, effective_month, commitment_satang from {s}.commitment_changes"
            " where member_id = any($1::uuid[]) order by member_id, stream_version"
        )
        self._specials_sql = (
            f"select member_id, on_date, amount_satang from {s}.savings_moves where member_id = any($1::uuid[])"
            " and account = 'special' and kind = 'deposit' and reversed_on is null and on_date between $2 and $3"
        )
        self._states_sql = (
            f"select * from {s}.campaign_members where campaign_id = any($1::text[]) and member_id = any($2::uuid[])"
            " order by campaign_id, member_id for update"
        )
        self._save_states_sql = f"""
            insert into {s}.campaign_members (campaign_id, member_id, group_id, province_code, district_code,
                                              new_member_on, raised_on, special_on, taking_part_on)
            select * from unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                 $6::date[], $7::date[], $8::date[], $9::date[])
            on conflict (campaign_id, member_id) do update
               set new_member_on = excluded.new_member_on, raised_on = excluded.raised_on,
                   special_on = excluded.special_on, taking_part_on = excluded.taking_part_on"""
        self._drop_states_sql = (
            f"delete from {s}.campaign_members m using unnest($1::text[], $2::uuid[]) as x(c, id)"
            " where m.campaign_id = x.c and m.member_id = x.id"
        )
        self._claim_groups_sql = f"""
            insert into {s}.campaign_groups (campaign_id, group_id, province_code, district_code)
            select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[])
            on conflict (campaign_id, group_id) do nothing"""
        self._lock_groups_sql = f"""
            select g.campaign_id, g.group_id, g.taking_part_on from {s}.campaign_groups g
            join unnest($1::text[], $2::uuid[]) as x(c, id) on g.campaign_id = x.c and g.group_id = x.id
            order by g.campaign_id, g.group_id for update of g"""
        self._group_days_sql = f"""
            select m.campaign_id, m.group_id, min(m.taking_part_on) as taking_part_on from {s}.campaign_members m
            join unnest($1::text[], $2::uuid[]) as x(c, id) on m.campaign_id = x.c and m.group_id = x.id
            group by m.campaign_id, m.group_id"""
        self._save_groups_sql = f"""
            update {s}.campaign_groups g set taking_part_on = x.d
              from unnest($1::text[], $2::uuid[], $3::date[]) as x(c, id, d)
             where g.campaign_id = x.c and g.group_id = x.id"""

    async def campaigns(self, conn: asyncpg.Connection) -> list[CampaignLaunched]:
        out = []
        for r in await conn.fetch(self._campaigns_sql):
            campaign = self._definitions.get(r["campaign_id"])
            if campaign is None:
                campaign = self._definitions[r["campaign_id"]] = CampaignLaunched.model_validate_json(r["definition"])
            out.append(campaign)
        return out

    @staticmethod
    def campaign_rows(campaigns: Sequence[CampaignLaunched]) -> str:
        """The `campaigns` rows of the facts statements (their parameter $1)."""
        rows = []
        for c in campaigns:
            special, new = _rule(c, "special_deposit"), _rule(c, "new_member")
            never = (c.ends_on + timedelta(days=1), c.ends_on)
            s_first, s_last = counting.rule_window(c, special, c.ends_on) if special else never
            n_first, n_last = counting.rule_window(c, new, c.ends_on) if new else never
            rows.append(
                {
                    "campaign_id": c.campaign_id,
                    "starts_on": c.starts_on.isoformat(),
                    "ends_on": c.ends_on.isoformat(),
                    "provinces": ",".join(c.provinces),
                    "s_first": s_first.isoformat(),
                    "s_last": s_last.isoformat(),
                    "s_min": special.min_amount_satang if special else 0,
                    "n_first": n_first.isoformat(),
                    "n_last": n_last.isoformat(),
                }
            )
        return json.dumps(rows)

    async def insert_members(
        self, conn: asyncpg.Connection, campaigns: Sequence[CampaignLaunched]
    ) -> list[tuple[str, counting.MemberFact]]:
        """Write the staged enrolments (pg_temp.campaign_stage_members) into the facts; list each new
        member's areas under the campaigns covering them. Returns the members who joined inside a
        campaign's new-member days, with the campaign: only those can count at enrolment (their later
        facts come after it, in their own stream)."""
        if not campaigns:
            await conn.execute(self._members_sql)
            return []
        rows = await conn.fetch(self._members_counted_sql, self.campaign_rows(campaigns))
        return [(r["campaign_id"], _fact(r)) for r in rows]

    async def insert_moves(
        self, conn: asyncpg.Connection, campaigns: Sequence[CampaignLaunched]
    ) -> list[tuple[str, counting.MemberFact]]:
        """Write the staged moves (pg_temp.campaign_stage_moves) into the facts, and stage the sums they
        move (per campaign, group and day: special deposits, their amount, savings added). Returns the
        members with a special deposit a campaign's rule counts, with the campaign."""
        if not campaigns:
            await conn.execute(self._moves_sql)
            return []
        first, last = min(c.starts_on for c in campaigns), max(c.ends_on for c in campaigns)
        rows = await conn.fetch(self._moves_counted_sql, self.campaign_rows(campaigns), first, last)
        return [(r["campaign_id"], _fact(r)) for r in rows]

    async def update(
        self,
        conn: asyncpg.Connection,
        campaigns: Sequence[CampaignLaunched],
        restate: Mapping[str, set[uuid.UUID]],
        facts: Mapping[uuid.UUID, counting.MemberFact],
        changed: Iterable[uuid.UUID],
        reversed_moves: Sequence[Move],
    ) -> None:
        """Move the campaigns' counters by the rest of a batch (the sums of the moves written are staged
        already): recompute the days of the members `restate` names per campaign (their facts in
        `facts`), of members whose commitment changed, and take reversed moves back out."""
        first, last = min(c.starts_on for c in campaigns), max(c.ends_on for c in campaigns)
        reversed_moves = [mv for mv in reversed_moves if first <= mv.on_date <= last]
        changed = set(changed) if any(_rule(c, "commitment_raise") for c in campaigns) else set()
        facts = dict(facts)
        wanted = ({mv.member_id for mv in reversed_moves} | changed) - facts.keys()
        if wanted:
            for r in await conn.fetch(self._facts_sql, list(wanted)):
                facts[r["member_id"]] = _fact(r)
        deltas = Deltas()
        todo: dict[str, set[uuid.UUID]] = {c.campaign_id: set(restate.get(c.campaign_id, ())) for c in campaigns}
        for campaign in campaigns:
            cid, start, end = campaign.campaign_id, campaign.starts_on, campaign.ends_on
            for mv in reversed_moves:
                m = facts.get(mv.member_id)
                if m is None or not counting.covers(campaign, m.province_code):
                    continue
                place = Place(m.group_id, m.province_code, m.district_code)
                if start <= mv.on_date <= end:
                    deltas.add(cid, place, mv.on_date, "savings_added", -mv.added)
                if (
                    mv.account == "special"
                    and mv.kind == "deposit"
                    and counting.counts_special(campaign, mv.on_date, mv.amount_satang)
                ):
                    deltas.add(cid, place, mv.on_date, "special_deposits", -1)
                    deltas.add(cid, place, mv.on_date, "special_deposit_amount", -mv.amount_satang)
                    todo[cid].add(mv.member_id)
            if _rule(campaign, "commitment_raise"):
                todo[cid].update(i for i in changed if i in facts and counting.covers(campaign, facts[i].province_code))
        await self._restate(conn, [c for c in campaigns if todo[c.campaign_id]], todo, facts, deltas)
        await deltas.write(conn, self.schema)

    async def flush(self, conn: asyncpg.Connection) -> None:
        """Move the daily rows by everything staged in this transaction."""
        await conn.execute(self._daily_sql)

    async def _restate(
        self,
        conn: asyncpg.Connection,
        campaigns: Sequence[CampaignLaunched],
        members: Mapping[str, set[uuid.UUID]],
        facts: Mapping[uuid.UUID, counting.MemberFact],
        deltas: Deltas,
    ) -> None:
        """Recompute the days of these members from their facts; move the counters by the differences."""
        ids = sorted({i for c in campaigns for i in members[c.campaign_id]})
        if not ids:
            return
        changes: dict[uuid.UUID, list[tuple[date, int]]] = {}
        for r in await conn.fetch(self._changes_sql, ids):
            changes.setdefault(r["member_id"], []).append((r["effective_month"], r["commitment_satang"]))
        first = min(c.starts_on for c in campaigns)
        last = max(c.ends_on for c in campaigns)
        specials: dict[uuid.UUID, list[tuple[date, int]]] = {}
        for r in await conn.fetch(self._specials_sql, ids, first, last):
            specials.setdefault(r["member_id"], []).append((r["on_date"], r["amount_satang"]))
        old = {
            (r["campaign_id"], r["member_id"]): r
            for r in await conn.fetch(self._states_sql, [c.campaign_id for c in campaigns], ids)
        }
        save: list[tuple[str, counting.MemberFact, counting.MemberDays]] = []
        drop: list[tuple[str, uuid.UUID]] = []
        groups: dict[tuple[str, uuid.UUID], Place] = {}
        for campaign in campaigns:
            cid = campaign.campaign_id
            for member_id in sorted(members[cid]):
                m = facts[member_id]
                before = _days(old.get((cid, member_id)))
                after = counting.member_days(campaign, m, changes.get(member_id, ()), specials.get(member_id, ()))
                if before == after:
                    continue
                place = Place(m.group_id, m.province_code, m.district_code)
                for counter, attribute in _MEMBER_COUNTS:
                    deltas.move(cid, place, counter, getattr(before, attribute), getattr(after, attribute))
                if after.taking_part is None:
                    drop.append((cid, member_id))
                else:
                    save.append((cid, m, after))
                if before.taking_part != after.taking_part:
                    groups[(cid, m.group_id)] = place
        if save:
            await conn.execute(
                self._save_states_sql,
                [c for c, _, _ in save],
                [m.member_id for _, m, _ in save],
                [m.group_id for _, m, _ in save],
                [m.province_code for _, m, _ in save],
                [m.district_code for _, m, _ in save],
                [d.new_member for _, _, d in save],
                [d.raised for _, _, d in save],
                [d.special for _, _, d in save],
                [d.taking_part for _, _, d in save],
            )
        if drop:
            await conn.execute(self._drop_states_sql, [c for c, _ in drop], [i for _, i in drop])
        if groups:
            await self._regroup(conn, groups, deltas)

    async def _regroup(
        self, conn: asyncpg.Connection, groups: Mapping[tuple[str, uuid.UUID], Place], deltas: Deltas
    ) -> None:
        """A group counts from the first day one of its members takes part. Members of one group may be
        applied by concurrent batches (their streams are on different partitions): the group's row is
        locked before its members' days are read, so the later batch sees the earlier one's members."""
        keys = sorted(groups)
        cids, gids = [k[0] for k in keys], [k[1] for k in keys]
        await conn.execute(
            self._claim_groups_sql,
            cids,
            gids,
            [groups[k].province_code for k in keys],
            [groups[k].district_code for k in keys],
        )
        old = {
            (r["campaign_id"], r["group_id"]): r["taking_part_on"]
            for r in await conn.fetch(self._lock_groups_sql, cids, gids)
        }
        new = {
            (r["campaign_id"], r["group_id"]): r["taking_part_on"]
            for r in await conn.fetch(self._group_days_sql, cids, gids)
        }
        moved = [k for k in keys if old.get(k) != new.get(k)]
        for k in moved:
            deltas.move(k[0], groups[k], "groups_taking_part", old.get(k), new.get(k))
        if moved:
            await conn.execute(
                self._save_groups_sql, [k[0] for k in moved], [k[1] for k in moved], [new.get(k) for k in moved]
            )

    async def launch(self, conn: asyncpg.Connection, campaign: CampaignLaunched) -> bool:
        """A campaign seen for the first time: its state computed once from the facts kept so far (the
        caller holds the exclusive lock, so no batch of facts is in flight). False when known already."""
        if not await conn.fetchval(self._launch_sql, campaign.campaign_id, campaign.model_dump_json()):
            return False
        self._definitions[campaign.campaign_id] = campaign
        s = f'"{self.schema}"'
        cid, start, end = campaign.campaign_id, campaign.starts_on, campaign.ends_on
        provinces = list(campaign.provinces)
        scope = "(cardinality($1::text[]) = 0 or m.province_code = any($1::text[]))"
        deltas = Deltas()
        for r in await conn.fetch(
            f"select distinct group_id, province_code, district_code from {s}.member_facts m where {scope}", provinces
        ):
            deltas.mark(cid, Place(r["group_id"], r["province_code"], r["district_code"]))

        special = _rule(campaign, "special_deposit")
        s_first, s_last = counting.rule_window(campaign, special, end) if special else (end + timedelta(1), end)
        s_min = special.min_amount_satang if special else 0
        qualifying = _qualifying("$4", "$5", "$6")
        for r in await conn.fetch(
            f"""select m.group_id, m.province_code, m.district_code, v.on_date,
                       sum(case when v.kind = 'deposit' then v.amount_satang else -v.amount_satang end) as added,
                       count(*) filter (where {qualifying}) as deposits,
                       coalesce(sum(v.amount_satang) filter (where {qualifying}), 0) as amount
                from {s}.savings_moves v join {s}.member_facts m using (member_id)
                where {scope} and v.reversed_on is null and v.on_date between $2 and $3
                group by 1, 2, 3, 4""",
            provinces,
            start,
            end,
            s_first,
            s_last,
            s_min,
        ):
            place = Place(r["group_id"], r["province_code"], r["district_code"])
            deltas.add(cid, place, r["on_date"], "savings_added", int(r["added"]))
            deltas.add(cid, place, r["on_date"], "special_deposits", int(r["deposits"]))
            deltas.add(cid, place, r["on_date"], "special_deposit_amount", int(r["amount"]))

        days: dict[uuid.UUID, dict[str, date]] = {}
        places: dict[uuid.UUID, Place] = {}

        def note(r: Mapping[str, object], attribute: str, day: date) -> None:
            member_id: uuid.UUID = r["member_id"]  # type: ignore[assignment]
            days.setdefault(member_id, {})[attribute] = day
            places[member_id] = Place(r["group_id"], r["province_code"], r["district_code"])  # type: ignore[arg-type]

        if rule := _rule(campaign, "new_member"):
            first, last = counting.rule_window(campaign, rule, end)
            for r in await conn.fetch(
                f"select member_id, group_id, province_code, district_code, joined_on from {s}.member_facts m"
                f" where {scope} and joined_on between $2 and $3",
                provinces,
                first,
                last,
            ):
                note(r, "new_member", r["joined_on"])
        if special:
            for r in await conn.fetch(
                f"""select m.member_id, m.group_id, m.province_code, m.district_code, min(v.on_date) as day
                    from {s}.savings_moves v join {s}.member_facts m using (member_id)
                    where {scope} and v.reversed_on is null and {_qualifying("$2", "$3", "$4")}
                    group by 1, 2, 3, 4""",
                provinces,
                s_first,
                s_last,
                s_min,
            ):
                note(r, "special", r["day"])
        if _rule(campaign, "commitment_raise"):
            changes: dict[uuid.UUID, list[tuple[date, int]]] = {}
            members: dict[uuid.UUID, asyncpg.Record] = {}
            for r in await conn.fetch(
                f"""select m.*, c.effective_month, c.commitment_satang
                    from {s}.commitment_changes c join {s}.member_facts m using (member_id)
                    where {scope} order by c.member_id, c.stream_version""",
                provinces,
            ):
                members[r["member_id"]] = r
                changes.setdefault(r["member_id"], []).append((r["effective_month"], r["commitment_satang"]))
            for member_id, r in members.items():
                fact = counting.MemberFact(
                    member_id,
                    r["group_id"],
                    r["province_code"],
                    r["district_code"],
                    r["joined_on"],
                    r["initial_commitment_satang"],
                )
                raised = counting.member_days(campaign, fact, changes[member_id], ()).raised
                if raised is not None:
                    note(r, "raised", raised)

        rows = []
        group_days: dict[uuid.UUID, date] = {}
        for member_id, found in days.items():
            d = counting.MemberDays(found.get("new_member"), found.get("raised"), found.get("special"))
            place = places[member_id]
            for counter, attribute in _MEMBER_COUNTS:
                deltas.move(cid, place, counter, None, getattr(d, attribute))
            part = d.taking_part
            assert part is not None
            group_days[place.group_id] = min(part, group_days.get(place.group_id, part))
            rows.append(
                (
                    cid,
                    member_id,
                    place.group_id,
                    place.province_code,
                    place.district_code,
                    d.new_member,
                    d.raised,
                    d.special,
                    part,
                )
            )
        group_places = {p.group_id: p for p in places.values()}
        if rows:
            await conn.copy_records_to_table("campaign_members", records=rows, schema_name=self.schema)
            group_rows = [
                (cid, g, group_places[g].province_code, group_places[g].district_code, day)
                for g, day in sorted(group_days.items())
            ]
            await conn.copy_records_to_table("campaign_groups", records=group_rows, schema_name=self.schema)
            for g, day in group_days.items():
                deltas.move(cid, group_places[g], "groups_taking_part", None, day)
        await deltas.write(conn, self.schema)
        await self.flush(conn)
        return True


class Progress:
    """The counters read from the aggregates."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self._kept: set[str] = set()
        s = f'"{schema}"'
        self._kept_sql = f"select true from {s}.campaigns where campaign_id = $1"
        sums = ", ".join(f"coalesce(sum({c}), 0)::bigint as {c}" for c in COLUMNS)
        self._area_sql = (
            f"select {sums} from {s}.campaign_daily where campaign_id = $1 and level = $2 and code = $3 and day <= $4"
        )
        daily = ", ".join(f"{c}::bigint" for c in COLUMNS)
        self._days_sql = (
            f"select day, {daily} from {s}.campaign_daily"
            " where campaign_id = $1 and level = $2 and code = $3 and day <= $4"
        )
        upto = ", ".join(f"coalesce(sum(d.{c}) filter (where d.day <= $4), 0)::bigint as {c}" for c in COLUMNS)
        self._children_sql = (
            f"select a.code, {upto} from {s}.campaign_areas a left join {s}.campaign_daily d"
            " on d.campaign_id = a.campaign_id and d.level = a.level and d.code = a.code"
            " where a.campaign_id = $1 and a.level = $2 and a.parent = $3 group by a.code"
        )

    async def kept(self, campaign: CampaignLaunched) -> bool:
        """Whether the projection has the campaign yet (it arrives on its own topic, some time after its
        launch; from then on its aggregates are as up to date as the facts)."""
        if campaign.campaign_id not in self._kept and await self.pool.fetchval(self._kept_sql, campaign.campaign_id):
            self._kept.add(campaign.campaign_id)
        return campaign.campaign_id in self._kept

    @staticmethod
    def _area(level: str, code: str | None) -> tuple[str, str]:
        return (level, "") if level == "national" else (level, code or "")

    async def counters(self, campaign: CampaignLaunched, level: str, code: str | None, as_of: date) -> dict[str, int]:
        """The counters of an area as they stood at the end of `as_of`."""
        end = min(campaign.ends_on, as_of)
        if end < campaign.starts_on:
            return dict(_ZEROS)
        row = await self.pool.fetchrow(self._area_sql, campaign.campaign_id, *self._area(level, code), end)
        return {c: int(row[c]) for c in COLUMNS}

    async def series(
        self, campaign: CampaignLaunched, level: str, code: str | None, as_of: date
    ) -> list[tuple[date, dict[str, int]]]:
        """The counters at the end of each day of the window, up to `as_of`."""
        end = min(campaign.ends_on, as_of)
        if end < campaign.starts_on:
            return []
        moved = {
            r["day"]: r
            for r in await self.pool.fetch(self._days_sql, campaign.campaign_id, *self._area(level, code), end)
        }
        out, running, day = [], [0] * len(COLUMNS), campaign.starts_on
        while day <= end:
            if (r := moved.get(day)) is not None:
                running = [v + int(r[c]) for v, c in zip(running, COLUMNS, strict=True)]
            out.append((day, dict(zip(COLUMNS, running, strict=True))))
            day += timedelta(days=1)
        return out

    async def breakdown(
        self, campaign: CampaignLaunched, level: str, code: str | None, as_of: date
    ) -> tuple[str, list[tuple[str, dict[str, int]]]]:
        """The child level and each child area's counters (areas with a member of the campaign)."""
        child = {"national": "province", "province": "district"}.get(level, "group")
        parent = "" if level == "national" else code or ""
        end = min(campaign.ends_on, as_of)
        rows = await self.pool.fetch(self._children_sql, campaign.campaign_id, child, parent, end)
        before = end < campaign.starts_on
        items = [(r["code"], dict(_ZEROS) if before else {c: int(r[c]) for c in COLUMNS}) for r in rows]
        return child, sorted(items)
