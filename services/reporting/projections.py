"""Reporting read models projected from the ledger topic."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from libs.events.envelope import RecordedEvent
from libs.events.ledger_facts import savings_change


class MemberBalances:
    """Sajja and special savings per member. Sums deltas per batch: one upsert per batch, not per event."""

    name = "member_balances"
    tables = ("member_balances",)

    def __init__(self, ledger_topic: str, schema: str = "reporting") -> None:
        self.topics: Sequence[str] = (ledger_topic,)
        self.table = f'"{schema}".member_balances'

    def rebuilt_in(self, schema: str) -> MemberBalances:
        return MemberBalances(self.topics[0], schema)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        groups: dict[str, str] = {}
        sajja: dict[str, int] = {}
        special: dict[str, int] = {}
        for event in events:
            if event.event_type == "ledger.MemberEnrolled":
                groups[event.payload["member_id"]] = event.payload["group_id"]
            elif change := savings_change(event.event_type, event.payload):
                member, group, sajja_delta, special_delta = change
                groups.setdefault(member, group)
                sajja[member] = sajja.get(member, 0) + sajja_delta
                special[member] = special.get(member, 0) + special_delta
        if not groups:
            return
        members = list(groups)
        await conn.execute(
            f"""insert into {self.table} (member_id, group_id, sajja_satang, special_satang)
                select * from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[])
                on conflict (member_id) do update set
                    sajja_satang = {self.table}.sajja_satang + excluded.sajja_satang,
                    special_satang = {self.table}.special_satang + excluded.special_satang""",
            members,  # asyncpg takes UUIDs as text
            [groups[m] for m in members],
            [sajja.get(m, 0) for m in members],
            [special.get(m, 0) for m in members],
        )
