"""What lending learns from the ledger topic: its borrowers (membership, area, savings), and the
ledger's answers to its payout requests (into lending's inbox, for the saga to complete)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date

import asyncpg

from libs.events import free_text
from libs.events.envelope import RecordedEvent
from libs.events.inbox import Inbox, InboxMessage
from libs.events.ledger_facts import savings_change
from services.lending.approvals import APPLICATION_EVENTS, Application, application_step

ANSWERS = ("ledger.JournalEntryPosted", "ledger.LendingPostingRefused")


class LedgerFeed:
    """Lending's borrowers (`members`: membership, area, savings) from the ledger topic, and the ledger's
    answers to lending's payout requests into lending's inbox."""

    name = "ledger_feed"
    tables = ("members",)

    def __init__(self, ledger_topic: str, inbox: Inbox | None, schema: str = "lending") -> None:
        self.topics: Sequence[str] = (ledger_topic,)
        # None in a rebuilt copy: the answers went into the inbox, and erasures were done, the first time.
        self.inbox = inbox
        self.schema = schema
        self.table = f'"{schema}".members'

    def rebuilt_in(self, schema: str) -> LedgerFeed:
        return LedgerFeed(self.topics[0], None, schema)

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
        if self.inbox is None:
            return
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


# The stand-in for "no unpaid installment" in portfolio_dues' key: never past due, like a missing date.
NO_DUE_DATE = date.max


@dataclass
class PortfolioLoan:
    """A paid-out loan as the portfolio keeps it (a row of loan_portfolio)."""

    loan_id: str
    group_id: str
    member_id: str
    province_code: str
    district_code: str
    status: str
    principal_satang: int
    outstanding_satang: int
    oldest_unpaid_due_on: date | None
    disbursed_on: date

    def dues(self) -> list[tuple[tuple[str, str, str, date], int]]:
        """(level, code, parent, oldest unpaid due date) of each area the loan counts in while active, with
        its outstanding principal; nothing once it is closed or written off."""
        if self.status != "active":
            return []
        due = self.oldest_unpaid_due_on or NO_DUE_DATE
        group = self.group_id.lower()
        return [
            (("national", "", "", due), self.outstanding_satang),
            (("province", self.province_code, "", due), self.outstanding_satang),
            (("district", self.district_code, self.province_code, due), self.outstanding_satang),
            (("group", group, self.district_code, due), self.outstanding_satang),
        ]


def portfolio_step(loans: dict[str, PortfolioLoan], event: RecordedEvent) -> bool:
    """Apply one lending event to the loans it names (those paid out; `loans` holds what is known of the
    event's loan). Pure; returns whether anything changed."""
    p, t = event.payload, event.event_type
    loan_id = str(p.get("loan_id", ""))
    loan = loans.get(loan_id)
    if t in ("lending.LoanDisbursed", "lending.LoanOpened"):
        if loan is not None:
            return False
        area = event.area
        principal = int(p["principal_satang"])
        loans[loan_id] = PortfolioLoan(
            loan_id,
            p["group_id"],
            p["member_id"],
            area.province_code if area else "",
            area.district_code if area else "",
            "active",
            principal,
            int(p.get("outstanding_satang", principal)),  # a loan carried over owes what is left of it
            _date(p["schedule"][0]["due_on"]) if p["schedule"] else None,
            _date(p["disbursed_on"]),
        )
    elif loan is None:
        return False
    elif t == "lending.RepaymentReceived":
        loan.outstanding_satang = int(p["outstanding_principal_after_satang"])
        loan.oldest_unpaid_due_on = _date(p["oldest_unpaid_due_on"]) if p["oldest_unpaid_due_on"] else None
    elif t == "lending.LoanRescheduled":
        loan.outstanding_satang = int(p["outstanding_principal_satang"])
        loan.oldest_unpaid_due_on = _date(p["schedule"][0]["due_on"])
    elif t == "lending.LoanClosed":
        loan.status = "written_off" if p["reason"] == "written_off" else "closed"
        loan.outstanding_satang = 0
        loan.oldest_unpaid_due_on = None
    else:
        return False
    return True


PORTFOLIO_EVENTS = frozenset(
    {
        "lending.LoanDisbursed",
        "lending.LoanOpened",
        "lending.RepaymentReceived",
        "lending.LoanRescheduled",
        "lending.LoanClosed",
    }
)


class LoanPortfolio:
    """Each paid-out loan's outstanding principal and oldest unpaid due date, and by area the active loans
    and their outstanding principal per oldest unpaid due date (portfolio_dues).

    A read for a date sums an area's portfolio_dues rows into buckets by the days between that date and each
    row's due date: it touches the area's distinct oldest unpaid due dates, not its loans or their history.
    That number is bounded by the loan terms: a loan leaves the rows when it is repaid or written off, and
    an active loan's oldest unpaid due date is one of its schedule's dates, so the dates kept lie between
    the oldest arrears not yet written off and the first due date of the newest loan — a few years of days
    at most, whatever the number of loans or how long the history. Rows left empty are deleted."""

    name = "loan_portfolio"
    tables = ("loan_portfolio", "portfolio_dues")

    def __init__(self, lending_topic: str, schema: str = "lending") -> None:
        self.topics: Sequence[str] = (lending_topic,)
        self.table = f'"{schema}".loan_portfolio'
        s = f'"{schema}"'
        self._load_sql = f"""
            select loan_id::text, group_id::text, member_id::text, province_code, district_code, status,
                   principal_satang, outstanding_satang, oldest_unpaid_due_on, disbursed_on
            from {s}.loan_portfolio where loan_id = any($1::uuid[])"""
        self._save_sql = f"""
            insert into {s}.loan_portfolio as l (loan_id, group_id, member_id, province_code, district_code, status,
                principal_satang, outstanding_satang, oldest_unpaid_due_on, disbursed_on)
            select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                                 $7::bigint[], $8::bigint[], $9::date[], $10::date[])
            on conflict (loan_id) do update set status = excluded.status,
                outstanding_satang = excluded.outstanding_satang,
                oldest_unpaid_due_on = excluded.oldest_unpaid_due_on"""
        self._dues_sql = f"""
            insert into {s}.portfolio_dues as d (level, code, parent, due_on, loans, outstanding_satang)
            select * from unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::bigint[], $6::bigint[])
            on conflict (level, code, due_on) do update set loans = d.loans + excluded.loans,
                outstanding_satang = d.outstanding_satang + excluded.outstanding_satang"""
        self._drop_empty_sql = f"""
            delete from {s}.portfolio_dues d using unnest($1::text[], $2::text[], $3::date[]) as x(level, code, due_on)
            where d.level = x.level and d.code = x.code and d.due_on = x.due_on and d.loans = 0"""

    def rebuilt_in(self, schema: str) -> LoanPortfolio:
        return LoanPortfolio(self.topics[0], schema)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        relevant = [e for e in events if e.event_type in PORTFOLIO_EVENTS]
        if not relevant:
            return
        ids = sorted({str(e.payload["loan_id"]) for e in relevant})
        loans = {r["loan_id"]: PortfolioLoan(**dict(r)) for r in await conn.fetch(self._load_sql, ids)}
        before = {loan_id: loan.dues() for loan_id, loan in loans.items()}
        changed: set[str] = set()
        for event in relevant:
            if portfolio_step(loans, event):
                changed.add(str(event.payload["loan_id"]))
        if not changed:
            return
        # What each changed loan took out of its rows and put into others, summed over the batch.
        moves: dict[tuple[str, str, str, date], list[int]] = {}
        for loan_id in changed:
            for sign, dues in ((-1, before.get(loan_id, [])), (1, loans[loan_id].dues())):
                for key, outstanding in dues:
                    move = moves.setdefault(key, [0, 0])
                    move[0] += sign
                    move[1] += sign * outstanding
        saved = [loans[loan_id] for loan_id in sorted(changed)]
        await conn.execute(
            self._save_sql,
            *[[getattr(loan, f.name) for loan in saved] for f in fields(PortfolioLoan)],
        )
        rows = sorted((key, move) for key, move in moves.items() if move != [0, 0])
        if rows:
            await conn.execute(
                self._dues_sql,
                [k[0] for k, _ in rows],
                [k[1] for k, _ in rows],
                [k[2] for k, _ in rows],
                [k[3] for k, _ in rows],
                [m[0] for _, m in rows],
                [m[1] for _, m in rows],
            )
            await conn.execute(
                self._drop_empty_sql, [k[0] for k, _ in rows], [k[1] for k, _ in rows], [k[3] for k, _ in rows]
            )


class WaitingApplications:
    """The applications waiting for a checker (loan_applications, services/lending/approvals.py): a row from the
    application until it is fully approved, rejected or closed, so the officers' worklist of approvals reads the
    area's waiting applications only. A projector of its own: it came after the loan portfolio, and reads lending's
    topic from its start by itself, while the portfolio keeps its rows and its progress (emptying those to re-read
    the topic for this table left every portfolio figure, PAR30 and a collection sheet's installments short until
    the re-read caught up, and a projector of the old code still running could store its progress again after the
    emptying, so the history before it was never re-read)."""

    name = "loan_applications"
    tables = ("loan_applications",)

    def __init__(self, lending_topic: str, schema: str = "lending") -> None:
        self.topics: Sequence[str] = (lending_topic,)
        s = f'"{schema}"'
        self._load_applications_sql = f"""
            select loan_id::text, group_id::text, member_id::text, province_code, district_code, product_id,
                   programme_id, principal_satang, term_months, applied_on, entered_by, approvals_required, approved_by
            from {s}.loan_applications where loan_id = any($1::uuid[])"""
        self._save_applications_sql = f"""
            insert into {s}.loan_applications as a (loan_id, group_id, member_id, province_code, district_code,
                product_id, programme_id, principal_satang, term_months, applied_on, entered_by, approvals_required,
                approved_by)
            select x.loan_id, x.group_id, x.member_id, x.province_code, x.district_code, x.product_id,
                   x.programme_id, x.principal_satang, x.term_months, x.applied_on, x.entered_by,
                   x.approvals_required, coalesce(string_to_array(nullif(x.approved_by, ''), chr(31)), '{{}}')
            from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::bigint[], $9::int[], $10::date[], $11::text[], $12::int[], $13::text[])
                as x(loan_id, group_id, member_id, province_code, district_code, product_id, programme_id,
                     principal_satang, term_months, applied_on, entered_by, approvals_required, approved_by)
            on conflict (loan_id) do update set approved_by = excluded.approved_by"""
        self._drop_applications_sql = f"delete from {s}.loan_applications where loan_id = any($1::uuid[])"

    def rebuilt_in(self, schema: str) -> WaitingApplications:
        return WaitingApplications(self.topics[0], schema)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        events = [e for e in events if e.event_type in APPLICATION_EVENTS]
        if not events:
            return
        ids = sorted({str(e.payload["loan_id"]) for e in events})
        waiting: dict[str, Application | None] = {
            r["loan_id"]: Application(**dict(r) | {"approved_by": list(r["approved_by"])})
            for r in await conn.fetch(self._load_applications_sql, ids)
        }
        changed = {str(e.payload["loan_id"]) for e in events if application_step(waiting, e)}
        kept = [a for loan_id in sorted(changed) if (a := waiting.get(loan_id)) is not None]
        gone = sorted(loan_id for loan_id in changed if waiting.get(loan_id) is None)
        if kept:
            columns = [[getattr(a, f.name) for a in kept] for f in fields(Application)]
            # A list of names per row goes as one text (names never hold the unit separator, chr(31)).
            columns[-1] = [chr(31).join(names) for names in columns[-1]]
            await conn.execute(self._save_applications_sql, *columns)
        if gone:
            await conn.execute(self._drop_applications_sql, gone)


def _date(value: str) -> date:
    return date.fromisoformat(value)
