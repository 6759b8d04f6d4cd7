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

    def __init__(self, topics: Sequence[str], schema: str = "reporting") -> None:
        self.topics: Sequence[str] = tuple(topics)
        self.table = f'"{schema}".audit_log'

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        await conn.executemany(
            f"""insert into {self.table} (event_id, service, event_type, stream_id, actor_kind, actor_id,
                province_code, district_code, occurred_at, recorded_at)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (event_id) do nothing""",
            [
                (
                    e.event_id,
                    e.event_type.split(".", 1)[0],
                    e.event_type,
                    e.stream_id,
                    e.actor.kind,
                    e.actor.id,
                    e.area.province_code if e.area else None,
                    e.area.district_code if e.area else None,
                    e.occurred_at,
                    e.recorded_at,
                )
                for e in events
            ],
        )


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
    rows = await pool.fetch(
        f"""select seq, service, event_type, stream_id, actor_kind, actor_id, province_code, district_code,
                   occurred_at, recorded_at
            from "{schema}".audit_log
            where seq > $1
              and ($2::text is null or actor_id = $2)
              and ($3::text is null or province_code = $3)
              and ($4::text is null or district_code = $4)
              and ($5::timestamptz is null or occurred_at >= $5)
              and ($6::timestamptz is null or occurred_at < $6)
              and ($8 or not (service = 'lending' and stream_id like 'pawn-%'))
            order by seq limit $7""",
        after,
        actor,
        province,
        district,
        since,
        until,
        limit,
        include_pawn,
    )
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
