"""What lending learns from the ledger topic: its borrowers (membership, area, savings), and the
ledger's answers to its payout requests (into lending's inbox, for the saga to complete)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from libs.events import free_text
from libs.events.envelope import RecordedEvent
from libs.events.inbox import Inbox, InboxMessage
from libs.events.ledger_facts import savings_change

ANSWERS = ("ledger.JournalEntryPosted", "ledger.LendingPostingRefused")


class LedgerFeed:
    name = "ledger_feed"

    def __init__(self, ledger_topic: str, inbox: Inbox, schema: str = "lending") -> None:
        self.topics: Sequence[str] = (ledger_topic,)
        self.inbox = inbox
        self.schema = schema
        self.table = f'"{schema}".members'

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        enrolled: list[tuple[str, str, str, str]] = []
        exited: list[str] = []
        erased: list[str] = []
        changes: dict[str, list[int]] = {}
        answers: list[InboxMessage] = []
        for event in events:
            p = event.payload
            if event.event_type == "ledger.MemberEnrolled":
                area = event.area
                enrolled.append(
                    (
                        p["member_id"],
                        p["group_id"],
                        area.province_code if area else "",
                        area.district_code if area else "",
                    )
                )
            elif event.event_type in ANSWERS and p.get("request_id") and _from_lending(p):
                answers.append(InboxMessage(str(event.event_id), event.event_type, p))
            if event.event_type == "ledger.MemberExited":
                exited.append(p["member_id"])
            if event.event_type == "ledger.MemberDataErased":
                erased.append(p["member_id"])
            if change := savings_change(event.event_type, p):
                member, _, sajja, special = change
                total = changes.setdefault(member, [0, 0])
                total[0] += sajja
                total[1] += special
        if enrolled:
            await conn.executemany(
                f"insert into {self.table} (member_id, group_id, province_code, district_code) values ($1, $2, $3, $4)"
                " on conflict (member_id) do nothing",
                enrolled,
            )
        if changes:
            await conn.execute(
                f"""update {self.table} m set sajja_satang = m.sajja_satang + x.sajja,
                        special_satang = m.special_satang + x.special
                    from unnest($1::uuid[], $2::bigint[], $3::bigint[]) as x(member_id, sajja, special)
                    where m.member_id = x.member_id""",
                list(changes),
                [c[0] for c in changes.values()],
                [c[1] for c in changes.values()],
            )
        if exited:
            await conn.execute(f"update {self.table} set active = false where member_id = any($1::uuid[])", exited)
        if erased:
            # PDPA: what was typed about the member's loans (purposes, reasons) leaves lending's register too.
            loans = await conn.fetch(
                f"select stream_id from \"{self.schema}\".events where event_type = 'lending.LoanApplied'"
                " and payload->>'member_id' = any($1::text[])",
                erased,
            )
            await free_text.erase(conn, self.schema, stream_ids=[r["stream_id"] for r in loans])
        await self.inbox.put(conn, answers)


def _from_lending(payload: dict[str, object]) -> bool:
    source = payload.get("source")
    return payload.get("loan_id") is not None or (isinstance(source, str) and source.startswith("lending:"))


class LoanPortfolio:
    """Each paid-out loan's outstanding principal and oldest unpaid due date, by area."""

    name = "loan_portfolio"

    def __init__(self, lending_topic: str, schema: str = "lending") -> None:
        self.topics: Sequence[str] = (lending_topic,)
        self.table = f'"{schema}".loan_portfolio'

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            p = event.payload
            if event.event_type == "lending.LoanDisbursed":
                area = event.area
                await conn.execute(
                    f"insert into {self.table} (loan_id, group_id, member_id, province_code, district_code, status,"
                    " principal_satang, outstanding_satang, oldest_unpaid_due_on, disbursed_on)"
                    " values ($1, $2, $3, $4, $5, 'active', $6, $6, $7, $8) on conflict (loan_id) do nothing",
                    p["loan_id"],
                    p["group_id"],
                    p["member_id"],
                    area.province_code if area else "",
                    area.district_code if area else "",
                    int(p["principal_satang"]),
                    _date(p["schedule"][0]["due_on"]) if p["schedule"] else None,
                    _date(p["disbursed_on"]),
                )
            elif event.event_type == "lending.RepaymentReceived":
                await conn.execute(
                    f"update {self.table} set outstanding_satang = $2, oldest_unpaid_due_on = $3 where loan_id = $1",
                    p["loan_id"],
                    int(p["outstanding_principal_after_satang"]),
                    _date(p["oldest_unpaid_due_on"]) if p["oldest_unpaid_due_on"] else None,
                )
            elif event.event_type == "lending.LoanRescheduled":
                await conn.execute(
                    f"update {self.table} set outstanding_satang = $2, oldest_unpaid_due_on = $3 where loan_id = $1",
                    p["loan_id"],
                    int(p["outstanding_principal_satang"]),
                    _date(p["schedule"][0]["due_on"]),
                )
            elif event.event_type == "lending.LoanClosed":
                await conn.execute(
                    f"update {self.table} set status = $2, outstanding_satang = 0, oldest_unpaid_due_on = null"
                    " where loan_id = $1",
                    p["loan_id"],
                    "written_off" if p["reason"] == "written_off" else "closed",
                )


def _date(value: str) -> date:
    return date.fromisoformat(value)
