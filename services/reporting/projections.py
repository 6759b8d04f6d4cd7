"""Reporting read models projected from the ledger topic."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from libs.events.envelope import RecordedEvent


class MemberBalances:
    """Sajja and special savings per member. Sums deltas per batch: one upsert per batch, not per event."""

    name = "member_balances"

    def __init__(self, ledger_topic: str, schema: str = "reporting") -> None:
        self.topics: Sequence[str] = (ledger_topic,)
        self.table = f'"{schema}".member_balances'

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        groups: dict[str, str] = {}
        sajja: dict[str, int] = {}
        special: dict[str, int] = {}
        for event in events:
            payload = event.payload
            if event.event_type == "ledger.MemberEnrolled":
                groups[payload["member_id"]] = payload["group_id"]
            elif event.event_type in ("ledger.SavingsDeposited", "ledger.SavingsWithdrawn"):
                member = payload["member_id"]
                groups.setdefault(member, payload["group_id"])
                target = sajja if payload["account"] == "sajja" else special
                sign = 1 if event.event_type == "ledger.SavingsDeposited" else -1
                target[member] = target.get(member, 0) + sign * int(payload["amount_satang"])
            elif event.event_type == "ledger.TransactionReversed":
                member = payload["member_id"]
                groups.setdefault(member, payload["group_id"])
                target = sajja if payload["account"] == "sajja" else special
                target[member] = target.get(member, 0) + int(payload["balance_delta_satang"])
            elif event.event_type == "ledger.DividendPaid" and payload["paid_into"] == "special":
                member = payload["member_id"]
                groups.setdefault(member, payload["group_id"])
                paid = int(payload["dividend_satang"]) + int(payload["rebate_satang"])
                special[member] = special.get(member, 0) + paid
            elif event.event_type == "ledger.MemberExited":
                member = payload["member_id"]
                groups.setdefault(member, payload["group_id"])
                sajja[member] = sajja.get(member, 0) - int(payload["sajja_paid_out_satang"])
                special[member] = special.get(member, 0) - int(payload["special_paid_out_satang"])
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
