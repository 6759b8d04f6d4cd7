"""The ledger facts the campaign counters and nominations are computed from (projected from the ledger
topic), with the counters' aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from libs.events import free_text
from libs.events.envelope import BANGKOK, RecordedEvent
from libs.events.schemas.campaign import CampaignLaunched
from services.campaign.aggregates import Aggregates, Move, lock_key


class LedgerFacts:
    """Member facts and savings moves from the ledger topic, and the campaigns from the campaign topic;
    the campaign counters' aggregates (services.campaign.aggregates) kept from both in the same
    transaction."""

    name = "ledger_facts"

    def __init__(self, ledger_topic: str, schema: str = "campaign", campaign_topic: str | None = None) -> None:
        self.topics: Sequence[str] = (ledger_topic, campaign_topic) if campaign_topic else (ledger_topic,)
        self.schema = schema
        self.aggregates = Aggregates(schema)
        self._lock_key = lock_key(schema)
        s = f'"{schema}"'
        # What a district or province wrote about a member it nominated or awarded.
        self._about_member_sql = (
            f"select stream_id from {s}.events where event_type in"
            " ('campaign.NominationSubmitted', 'campaign.AwardGranted')"
            " and payload->>'kind' = 'member' and payload->>'nominee_id' = any($1::text[])"
        )
        # Each statement returns the rows it wrote: the aggregates move by what the facts took in.
        self._member_sql = (
            f"insert into {s}.member_facts (member_id, group_id, province_code, district_code, joined_on,"
            " initial_commitment_satang)"
            " select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::date[], $6::bigint[])"
            " on conflict (member_id) do nothing returning member_id"
        )
        self._change_sql = (
            f"insert into {s}.commitment_changes (member_id, stream_version, effective_month, commitment_satang)"
            " select * from unnest($1::uuid[], $2::int[], $3::date[], $4::bigint[])"
            " on conflict do nothing returning member_id"
        )
        self._move_sql = (
            f"insert into {s}.savings_moves (move_id, member_id, account, kind, amount_satang, on_date)"
            " select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::date[])"
            " on conflict (move_id) do nothing returning member_id, account, kind, amount_satang, on_date"
        )
        self._reverse_sql = (
            f"update {s}.savings_moves v set reversed_on = x.d from unnest($1::uuid[], $2::date[]) as x(id, d)"
            " where v.move_id = x.id and v.reversed_on is null"
            " returning v.member_id, v.account, v.kind, v.amount_satang, v.on_date"
        )
        self._exit_sql = (
            f"update {s}.member_facts m set exited_on = x.d from unnest($1::uuid[], $2::date[]) as x(id, d)"
            " where m.member_id = x.id"
        )

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        members: list[tuple[Any, ...]] = []
        changes: list[tuple[Any, ...]] = []
        moves: list[tuple[Any, ...]] = []
        reversals: list[tuple[Any, ...]] = []
        exits: list[tuple[Any, ...]] = []
        erased: list[str] = []
        launches: list[CampaignLaunched] = []
        for e in events:
            p = e.payload
            if e.event_type == "ledger.MemberEnrolled":
                area = e.area
                members.append(
                    (
                        uuid.UUID(p["member_id"]),
                        uuid.UUID(p["group_id"]),
                        area.province_code if area else "",
                        area.district_code if area else "",
                        _day(p["joined_on"]),
                        int(p["monthly_commitment_satang"]),
                    )
                )
            elif e.event_type == "ledger.CommitmentChanged":
                changes.append(
                    (
                        uuid.UUID(p["member_id"]),
                        e.stream_version,
                        _day(p["effective_month"]),
                        int(p["monthly_commitment_satang"]),
                    )
                )
            elif e.event_type in ("ledger.SavingsDeposited", "ledger.SavingsWithdrawn"):
                deposit = e.event_type == "ledger.SavingsDeposited"
                on = p["deposited_on"] if deposit else p["withdrawn_on"]
                kind = "deposit" if deposit else "withdrawal"
                moves.append(
                    (
                        uuid.UUID(p["transaction_id"]),
                        uuid.UUID(p["member_id"]),
                        p["account"],
                        kind,
                        int(p["amount_satang"]),
                        _day(on),
                    )
                )
            elif e.event_type == "ledger.TransactionReversed":
                reversals.append((uuid.UUID(p["transaction_id"]), e.occurred_at.astimezone(BANGKOK).date()))
            elif e.event_type == "ledger.MemberDataErased":
                erased.append(p["member_id"])
            elif e.event_type == "ledger.MemberExited":
                exits.append((uuid.UUID(p["member_id"]), _day(p["exited_on"])))
                for account in ("sajja", "special"):
                    amount = int(p[f"{account}_paid_out_satang"])
                    if amount:
                        move_id = uuid.uuid5(e.event_id, account)
                        moves.append(
                            (move_id, uuid.UUID(p["member_id"]), account, "exit", amount, _day(p["exited_on"]))
                        )
            elif e.event_type == "campaign.CampaignLaunched":
                launches.append(CampaignLaunched.model_validate(p))
        if members or changes or moves or reversals or exits or launches:
            # A launch computes its campaign from the facts: no batch of facts may be in flight beside it
            # (another process may apply other partitions of the ledger topic at the same time).
            lock = "pg_advisory_xact_lock" if launches else "pg_advisory_xact_lock_shared"
            await conn.execute(f"select {lock}($1)", self._lock_key)
        # Statement order matters only within one member's stream, which the projector keeps in order.
        enrolled = (
            [r["member_id"] for r in await conn.fetch(self._member_sql, *_columns(members, 6))] if members else []
        )
        changed = [r["member_id"] for r in await conn.fetch(self._change_sql, *_columns(changes, 4))] if changes else []
        added = [Move(*r) for r in await conn.fetch(self._move_sql, *_columns(moves, 6))] if moves else []
        undone = [Move(*r) for r in await conn.fetch(self._reverse_sql, *_columns(reversals, 2))] if reversals else []
        if exits:
            await conn.execute(self._exit_sql, *_columns(exits, 2))
        if enrolled or changed or added or undone:
            # The campaigns known before this batch move incrementally; one launched in it is computed
            # from the facts (this batch's included) below.
            campaigns = await self.aggregates.campaigns(conn)
            if campaigns:
                await self.aggregates.update(conn, campaigns, enrolled, changed, added, undone)
        for campaign in launches:
            await self.aggregates.launch(conn, campaign)
        if erased:
            # PDPA: the member's erasure in the ledger also erases what the campaign was told about them.
            streams = [r["stream_id"] for r in await conn.fetch(self._about_member_sql, erased)]
            await free_text.erase(conn, self.schema, stream_ids=streams)


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


def _day(value: str) -> date:
    return date.fromisoformat(value)


class LendingFacts:
    """Borrowers' loans and their overdue installments, for the nomination scores."""

    name = "lending_facts"

    def __init__(self, lending_topic: str, schema: str = "campaign") -> None:
        self.topics: Sequence[str] = (lending_topic,)
        s = f'"{schema}"'
        self._applied_sql = (
            f"insert into {s}.loan_facts (loan_id, member_id, product_id) values ($1, $2, $3)"
            " on conflict (loan_id) do nothing"
        )
        self._schedule_sql = f"update {s}.loan_facts set due_dates = $2::date[] where loan_id = $1"
        self._overdue_sql = f"insert into {s}.overdue_installments values ($1, $2) on conflict do nothing"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        for e in events:
            p = e.payload
            if e.event_type == "lending.LoanApplied":
                await conn.execute(self._applied_sql, p["loan_id"], p["member_id"], p["product_id"])
            elif e.event_type in ("lending.LoanDisbursed", "lending.LoanRescheduled"):
                await conn.execute(self._schedule_sql, p["loan_id"], [_day(i["due_on"]) for i in p["schedule"]])
            elif e.event_type == "lending.InstallmentOverdue":
                await conn.execute(self._overdue_sql, p["loan_id"], int(p["installment"]))
