"""Audit: every event of every service, by who caused it (the actor the event records), where and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from libs.events.envelope import RecordedEvent


class AuditLog:
    """Projection: one row per event of the ledger, lending and campaign topics."""

    name = "audit_log"
    tables = ("audit_log", "audit_days")

    def __init__(self, topics: Sequence[str], schema: str = "reporting") -> None:
        self.topics: Sequence[str] = tuple(topics)
        self.table = f'"{schema}".audit_log'
        self.days = f'"{schema}".audit_days'

    def rebuilt_in(self, schema: str) -> AuditLog:
        """A rebuilt list numbers its rows (seq) after the old list's last: cursors never go back."""
        return AuditLog(self.topics, schema)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        """One multi-row insert a batch, rows numbered (seq) in the batch's order; each day's first and last
        seq widened (audit_days), so a time window is a range of seq. The days are upserted in date order:
        two processes sharing the topics' partitions then lock the rows they both touch in the same order
        (in hash order they deadlocked at national scale, stopping the projector again and again)."""
        if not events:
            return
        await conn.execute(
            f"""with inserted as (
                    insert into {self.table} (event_id, service, event_type, stream_id, actor_kind, actor_id,
                        province_code, district_code, occurred_at, recorded_at)
                    select event_id, service, event_type, stream_id, actor_kind, actor_id, province_code,
                           district_code, occurred_at, recorded_at
                    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[])
                         with ordinality as x(event_id, service, event_type, stream_id, actor_kind, actor_id,
                                              province_code, district_code, occurred_at, recorded_at, n)
                    order by n
                    on conflict (event_id) do nothing
                    returning seq, occurred_at)
                insert into {self.days} as d (day, first_seq, last_seq)
                select (occurred_at at time zone 'UTC')::date, min(seq), max(seq) from inserted group by 1 order by 1
                on conflict (day) do update set first_seq = least(d.first_seq, excluded.first_seq),
                                                last_seq = greatest(d.last_seq, excluded.last_seq)""",
            [e.event_id for e in events],
            [e.event_type.split(".", 1)[0] for e in events],
            [e.event_type for e in events],
            [e.stream_id for e in events],
            [e.actor.kind for e in events],
            [e.actor.id for e in events],
            [e.area.province_code if e.area else None for e in events],
            [e.area.district_code if e.area else None for e in events],
            [e.occurred_at for e in events],
            [e.recorded_at for e in events],
        )


def page_query(
    schema: str,
    *,
    actor: str | None,
    province: str | None,
    district: str | None,
    since: datetime | None,
    until: datetime | None,
    after: int,
    limit: int,
    include_pawn: bool,
) -> tuple[str, list[Any]]:
    """The statement for one page and its arguments. Each page reads an index in cursor order —
    (actor_id, seq), (district_code, seq) or (province_code, seq) for a filter on who or where, the primary
    key otherwise, within the seq range of the days a time window covers — and stops after a page. Only the
    filters asked are in the statement, so a cached plan never has to serve a filter that is absent."""
    where = ["seq > $1"]
    args: list[Any] = [after]
    for column, value in (("actor_id", actor), ("province_code", province), ("district_code", district)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    # A time window is also a range of seq: every row of a day lies between the day's first and last seq
    # (audit_days), so a matching row's seq lies within those of the days the window covers. PostgreSQL cannot
    # know that seq and occurred_at rise together; without the range a window far from the cursor would be
    # found by reading every row between.
    days: list[str] = []
    if since is not None:
        args.append(since)
        where.append(f"occurred_at >= ${len(args)}")
        days.append(f"day >= (${len(args)} at time zone 'UTC')::date")
    if until is not None:
        args.append(until)
        where.append(f"occurred_at < ${len(args)}")
        days.append(f"day <= (${len(args)} at time zone 'UTC')::date")
    if days:
        covered = f'from "{schema}".audit_days where {" and ".join(days)}'
        where.append(f"seq between (select min(first_seq) {covered}) and (select max(last_seq) {covered})")
    if not include_pawn:
        where.append("not (service = 'lending' and stream_id like 'pawn-%')")
    args.append(limit)
    sql = f"""select seq, service, event_type, stream_id, actor_kind, actor_id, province_code, district_code,
                     occurred_at, recorded_at
              from "{schema}".audit_log where {" and ".join(where)} order by seq limit ${len(args)}"""
    return sql, args


async def entries(
    pool: asyncpg.Pool,
    schema: str,
    *,
    actor: str | None,
    province: str | None,
    district: str | None,
    since: datetime | None,
    until: datetime | None,
    after: int,
    limit: int,
    include_pawn: bool = False,
) -> list[dict[str, Any]]:
    """`include_pawn`: pawn lending's events only for callers allowed to read pawn transactions."""
    sql, args = page_query(
        schema,
        actor=actor,
        province=province,
        district=district,
        since=since,
        until=until,
        after=after,
        limit=limit,
        include_pawn=include_pawn,
    )
    rows = await pool.fetch(sql, *args)
    return [
        {
            "seq": r["seq"],
            "service": r["service"],
            "event_type": r["event_type"],
            "stream_id": r["stream_id"],
            "actor": {"kind": r["actor_kind"], "id": r["actor_id"]},
            "province_code": r["province_code"],
            "district_code": r["district_code"],
            "occurred_at": r["occurred_at"].isoformat(),
            "recorded_at": r["recorded_at"].isoformat(),
        }
        for r in rows
    ]
