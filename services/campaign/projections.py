"""The ledger facts the campaign counters are computed from (projected from the ledger topic)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

import asyncpg

from libs.events import free_text
from libs.events.envelope import BANGKOK, RecordedEvent


class LedgerFacts:
    name = "ledger_facts"

    def __init__(self, ledger_topic: str, schema: str = "campaign") -> None:
        self.topics: Sequence[str] = (ledger_topic,)
        self.schema = schema
        s = f'"{schema}"'
        # What a district or province wrote about a member it nominated or awarded.
        self._about_member_sql = (
            f"select stream_id from {s}.events where event_type in"
            " ('campaign.NominationSubmitted', 'campaign.AwardGranted')"
            " and payload->>'kind' = 'member' and payload->>'nominee_id' = any($1::text[])"
        )
        self._member_sql = (
            f"insert into {s}.member_facts (member_id, group_id, province_code, district_code, joined_on,"
            " initial_commitment_satang) values ($1, $2, $3, $4, $5, $6) on conflict (member_id) do nothing"
        )
        self._change_sql = (
            f"insert into {s}.commitment_changes (member_id, stream_version, effective_month, commitment_satang)"
            " values ($1, $2, $3, $4) on conflict do nothing"
        )
        self._move_sql = (
            f"insert into {s}.savings_moves (move_id, member_id, account, kind, amount_satang, on_date)"
            " values ($1, $2, $3, $4, $5, $6) on conflict (move_id) do nothing"
        )
        self._reverse_sql = f"update {s}.savings_moves set reversed_on = $2 where move_id = $1"
        self._exit_sql = f"update {s}.member_facts set exited_on = $2 where member_id = $1"

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        members, changes, moves, reversals, exits = [], [], [], [], []
        erased: list[str] = []
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
                    (p["member_id"], e.stream_version, _day(p["effective_month"]), int(p["monthly_commitment_satang"]))
                )
            elif e.event_type in ("ledger.SavingsDeposited", "ledger.SavingsWithdrawn"):
                deposit = e.event_type == "ledger.SavingsDeposited"
                on = p["deposited_on"] if deposit else p["withdrawn_on"]
                kind = "deposit" if deposit else "withdrawal"
                moves.append(
                    (p["transaction_id"], p["member_id"], p["account"], kind, int(p["amount_satang"]), _day(on))
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
        # Statement order matters only within one member's stream, which the projector keeps in order.
        for sql, rows in (
            (self._member_sql, members),
            (self._change_sql, changes),
            (self._move_sql, moves),
            (self._reverse_sql, reversals),
            (self._exit_sql, exits),
        ):
            if rows:
                await conn.executemany(sql, rows)
        if erased:
            # PDPA: the member's erasure in the ledger also erases what the campaign was told about them.
            streams = [r["stream_id"] for r in await conn.fetch(self._about_member_sql, erased)]
            await free_text.erase(conn, self.schema, stream_ids=streams)


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
