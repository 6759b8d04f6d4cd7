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
from services.campaign.aggregates import Aggregates, Move, lock_key, stage_ddl
from services.campaign.counters import MemberFact


class LedgerFacts:
    """Member facts and savings moves from the ledger topic, and the campaigns from the campaign topic;
    the campaign counters' aggregates (services.campaign.aggregates) kept from both in the same
    transaction."""

    name = "ledger_facts"
    # The facts, and the counters' aggregates (services.campaign.aggregates) kept with them.
    tables = (
        "member_facts",
        "commitment_changes",
        "savings_moves",
        "campaigns",
        "campaign_members",
        "campaign_groups",
        "campaign_daily",
        "campaign_areas",
    )

    def __init__(
        self, ledger_topic: str, schema: str = "campaign", campaign_topic: str | None = None, erases: bool = True
    ) -> None:
        self.topics: Sequence[str] = (ledger_topic, campaign_topic) if campaign_topic else (ledger_topic,)
        self.schema = schema
        # A rebuilt copy does not erase again: the member's erasure was done when it was first applied.
        self.erases = erases
        self.aggregates = Aggregates(schema)
        self._lock_key = lock_key(schema)
        s = f'"{schema}"'
        # What a district or province wrote about a member it nominated or awarded.
        self._about_member_sql = (
            f"select stream_id from {s}.events where event_type in"
            " ('campaign.NominationSubmitted', 'campaign.AwardGranted')"
            " and payload->>'kind' = 'member' and payload->>'nominee_id' = any($1::text[])"
        )
        # Rows go in by COPY into session-temporary staging tables, then into the facts; the statements that
        # write them also move the counters by what they wrote (services.campaign.aggregates).
        self._stage_sql = f"""
            set local client_min_messages to warning;
            create temp table if not exists campaign_stage_members (like {s}.member_facts) on commit delete rows;
            create temp table if not exists campaign_stage_changes (like {s}.commitment_changes)
                on commit delete rows;
            create temp table if not exists campaign_stage_moves (like {s}.savings_moves) on commit delete rows;
            {stage_ddl()}
            delete from pg_temp.campaign_stage_members;
            delete from pg_temp.campaign_stage_changes;
            delete from pg_temp.campaign_stage_moves;"""
        self._change_sql = (
            f"insert into {s}.commitment_changes (member_id, stream_version, effective_month, commitment_satang)"
            " select member_id, stream_version, effective_month, commitment_satang"
            " from pg_temp.campaign_stage_changes on conflict do nothing returning member_id"
        )
        # The moves reversed, each with its member's facts when dated between $1 and $2 (inside a campaign's
        # window). (Each member's row found by its key: `limit 1` keeps the planner from scanning the table.)
        self._reverse_sql = (
            f"with written as (update {s}.savings_moves v set reversed_on = x.d"
            " from unnest($3::uuid[], $4::date[]) as x(id, d) where v.move_id = x.id and v.reversed_on is null"
            " returning v.member_id, v.account, v.kind, v.amount_satang, v.on_date)"
            " select x.member_id, x.account, x.kind, x.amount_satang, x.on_date, m.group_id, m.province_code,"
            " m.district_code, m.joined_on, m.initial_commitment_satang from written x cross join lateral"
            f" (select * from {s}.member_facts f where f.member_id = x.member_id limit 1) m"
            " where x.on_date between $1 and $2"
        )
        self._exit_sql = (
            f"update {s}.member_facts m set exited_on = x.d from unnest($1::uuid[], $2::date[]) as x(id, d)"
            " where m.member_id = x.id"
        )

    def rebuilt_in(self, schema: str) -> LedgerFacts:
        campaign_topic = self.topics[1] if len(self.topics) > 1 else None
        return LedgerFacts(self.topics[0], schema, campaign_topic, erases=False)

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
                        p["member_id"],
                        p["group_id"],
                        area.province_code if area else "",
                        area.district_code if area else "",
                        _day(p["joined_on"]),
                        int(p["monthly_commitment_satang"]),
                    )
                )
            elif e.event_type == "ledger.CommitmentChanged":
                changes.append(
                    (
                        p["member_id"],
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
                        p["transaction_id"],
                        p["member_id"],
                        p["account"],
                        kind,
                        int(p["amount_satang"]),
                        _day(on),
                    )
                )
            elif e.event_type == "ledger.TransactionReversed":
                reversals.append((p["transaction_id"], e.occurred_at.astimezone(BANGKOK).date()))
            elif e.event_type == "ledger.MemberDataErased":
                erased.append(p["member_id"])
            elif e.event_type == "ledger.MemberExited":
                exits.append((p["member_id"], _day(p["exited_on"])))
                for account in ("sajja", "special"):
                    amount = int(p[f"{account}_paid_out_satang"])
                    if amount:
                        move_id = uuid.uuid5(e.event_id, account)
                        moves.append((move_id, p["member_id"], account, "exit", amount, _day(p["exited_on"])))
            elif e.event_type == "campaign.CampaignLaunched":
                launches.append(CampaignLaunched.model_validate(p))
        if members or changes or moves or reversals or exits or launches:
            # A launch computes its campaign from the facts: no batch of facts may be in flight beside it
            # (another process may apply other partitions of the ledger topic at the same time).
            lock = "pg_advisory_xact_lock" if launches else "pg_advisory_xact_lock_shared"
            await conn.execute(f"select {lock}($1)", self._lock_key)
            await conn.execute(self._stage_sql)
        # The campaigns known before this batch move as it is applied; one launched in it is computed from
        # the facts (this batch's included) at the end.
        campaigns = await self.aggregates.campaigns(conn) if members or changes or moves or reversals else []
        restate: dict[str, set[uuid.UUID]] = {}
        facts: dict[uuid.UUID, MemberFact] = {}
        # Statement order matters only within one member's stream, which the projector keeps in order.
        if members:
            await conn.copy_records_to_table(
                "campaign_stage_members", records=members, columns=_MEMBER_COLUMNS, schema_name="pg_temp"
            )
            for cid, fact in await self.aggregates.insert_members(conn, campaigns):
                restate.setdefault(cid, set()).add(fact.member_id)
                facts[fact.member_id] = fact
        changed = []
        if changes:
            await conn.copy_records_to_table(
                "campaign_stage_changes", records=changes, columns=_CHANGE_COLUMNS, schema_name="pg_temp"
            )
            changed = [r["member_id"] for r in await conn.fetch(self._change_sql)]
        if moves:
            await conn.copy_records_to_table(
                "campaign_stage_moves", records=moves, columns=_MOVE_COLUMNS, schema_name="pg_temp"
            )
            for cid, fact in await self.aggregates.insert_moves(conn, campaigns):
                restate.setdefault(cid, set()).add(fact.member_id)
                facts[fact.member_id] = fact
        undone: list[Move] = []
        if reversals:
            window = (
                (min(c.starts_on for c in campaigns), max(c.ends_on for c in campaigns)) if campaigns else (None, None)
            )
            undone = _moves(await conn.fetch(self._reverse_sql, *window, *_columns(reversals, 2)), facts)
        if exits:
            await conn.execute(self._exit_sql, *_columns(exits, 2))
        if campaigns:
            if restate or changed or undone:
                await self.aggregates.update(conn, campaigns, restate, facts, changed, undone)
            await self.aggregates.flush(conn)
        for campaign in launches:
            await self.aggregates.launch(conn, campaign)
        if erased and self.erases:
            # PDPA: the member's erasure in the ledger also erases what the campaign was told about them.
            streams = [r["stream_id"] for r in await conn.fetch(self._about_member_sql, erased)]
            await free_text.erase(conn, self.schema, stream_ids=streams)


def _moves(rows: Sequence[asyncpg.Record], facts: dict[uuid.UUID, MemberFact]) -> list[Move]:
    """Moves as the facts statements return them, noting each member's facts."""
    out = []
    for r in rows:
        member_id = r["member_id"]
        out.append(Move(member_id, r["account"], r["kind"], r["amount_satang"], r["on_date"]))
        if member_id not in facts:
            facts[member_id] = MemberFact(
                member_id,
                r["group_id"],
                r["province_code"],
                r["district_code"],
                r["joined_on"],
                r["initial_commitment_satang"],
            )
    return out


_MEMBER_COLUMNS = ["member_id", "group_id", "province_code", "district_code", "joined_on", "initial_commitment_satang"]
_CHANGE_COLUMNS = ["member_id", "stream_version", "effective_month", "commitment_satang"]
_MOVE_COLUMNS = ["move_id", "member_id", "account", "kind", "amount_satang", "on_date"]


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


def _day(value: str) -> date:
    return date.fromisoformat(value)


class LendingFacts:
    """Borrowers' loans and their overdue installments, for the nomination scores."""

    name = "lending_facts"
    tables = ("loan_facts", "overdue_installments")

    def __init__(self, lending_topic: str, schema: str = "campaign") -> None:
        self.topics: Sequence[str] = (lending_topic,)
        s = f'"{schema}"'
        self._applied_sql = (
            f"insert into {s}.loan_facts (loan_id, member_id, product_id) values ($1, $2, $3)"
            " on conflict (loan_id) do nothing"
        )
        self._schedule_sql = f"update {s}.loan_facts set due_dates = $2::date[] where loan_id = $1"
        self._overdue_sql = f"insert into {s}.overdue_installments values ($1, $2) on conflict do nothing"

    def rebuilt_in(self, schema: str) -> LendingFacts:
        return LendingFacts(self.topics[0], schema)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        # Each statement over its rows at once (executemany: one round trip): a loan's row is inserted before its
        # schedule is set (its stream starts with the application), and schedules are set in event order.
        applied: list[tuple[str, str, str]] = []
        schedules: list[tuple[str, list[date]]] = []
        overdue: list[tuple[str, int]] = []
        for e in events:
            p = e.payload
            if e.event_type == "lending.LoanApplied":
                applied.append((p["loan_id"], p["member_id"], p["product_id"]))
            elif e.event_type in ("lending.LoanDisbursed", "lending.LoanRescheduled"):
                schedules.append((p["loan_id"], [_day(i["due_on"]) for i in p["schedule"]]))
            elif e.event_type == "lending.LoanOpened":  # carried over: applied for and paid out in one
                applied.append((p["loan_id"], p["member_id"], p["product_id"]))
                schedules.append((p["loan_id"], [_day(i["due_on"]) for i in p["schedule"]]))
            elif e.event_type == "lending.InstallmentOverdue":
                overdue.append((p["loan_id"], int(p["installment"])))
        for sql, rows in ((self._applied_sql, applied), (self._schedule_sql, schedules), (self._overdue_sql, overdue)):
            if rows:
                await conn.executemany(sql, rows)
