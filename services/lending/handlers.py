"""Lending application layer: load a stream, decide, append — idempotently — and the saga's steps."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import asyncpg

from libs.events import free_text
from libs.events.areas import check_area
from libs.events.envelope import BANGKOK, Actor, Area, EventPayload, NewEvent, today_in_thailand
from libs.events.errors import NotFound
from libs.events.free_text import FreeText
from libs.events.http import CommandResult, CommandUnit, IdempotentCommands
from libs.events.ids import new_id
from libs.events.inbox import InboxMessage
from libs.events.money import format_baht
from libs.events.registry import REGISTRY
from libs.events.schemas.lending import ProductDefined, ProgrammeLaunched
from libs.events.settings import Settings
from libs.events.store import EventStore, StreamAppend, stream_uuid
from libs.events.wakeup import CommitSignal
from services.lending import domain, pawn_customers, pawn_tickets, programmes

SCHEMA = "lending"
SAGA = Actor(kind="system", id="lending-saga")


class LendingHandlers:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.store = EventStore(SCHEMA)
        self.commit_signal = CommitSignal(pool, self.store.notify_channel)
        self.commands = IdempotentCommands(pool, SCHEMA, after_commit=self.commit_signal.poke)

    # --- reads ----------------------------------------------------------------------------------
    async def load_product(self, conn: asyncpg.Connection | asyncpg.Pool, product_id: str) -> ProductDefined:
        events = await self.store.read_stream(conn, domain.product_stream(product_id))
        if not events:
            raise NotFound("product", product_id)
        product = REGISTRY.parse_event(events[-1])
        assert isinstance(product, ProductDefined)
        return product

    async def load_loan(
        self, conn: asyncpg.Connection | asyncpg.Pool, loan_id: uuid.UUID
    ) -> tuple[domain.Loan, Area | None]:
        events = await self.store.read_stream(conn, domain.loan_stream(loan_id))
        loan = domain.loan_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
        if loan is None:
            raise NotFound("loan", loan_id)
        return loan, events[0].area

    async def member_facts(
        self, conn: asyncpg.Connection | asyncpg.Pool, member_id: uuid.UUID
    ) -> domain.MemberFacts | None:
        row = await conn.fetchrow(
            "select member_id, group_id, province_code, district_code, active, sajja_satang + special_satang as savings"
            " from lending.members where member_id = $1",
            member_id,
        )
        if row is None:
            return None
        return domain.MemberFacts(
            row["member_id"],
            row["group_id"],
            Area(province_code=row["province_code"], district_code=row["district_code"]),
            row["active"],
            row["savings"],
        )

    async def load_programme(self, conn: asyncpg.Connection | asyncpg.Pool, programme_id: str) -> programmes.Programme:
        events = await self.store.read_stream(conn, programmes.programme_stream(programme_id))
        programme = programmes.programme_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
        if programme is None:
            raise NotFound("programme", programme_id)
        return programme

    async def programme_events(self, programme_id: str) -> list[EventPayload]:
        events = await self.store.read_stream(self.pool, programmes.programme_stream(programme_id))
        if not events:
            raise NotFound("programme", programme_id)
        return [REGISTRY.parse_event(e) for e in events]

    async def wait_while_disbursing(self, loan_id: uuid.UUID, timeout: float) -> tuple[domain.Loan, Area | None]:
        """Long-poll: the loan once its payout saga has an answer (or as it is when the time is up)."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            loan, area = await self.load_loan(self.pool, loan_id)
            if loan.status != "disbursing" or time.monotonic() >= deadline:
                return loan, area
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def active_loans_of_group(self, group_id: uuid.UUID) -> list[domain.Loan]:
        """The group's active loans, each read from its own stream (one round trip for their ids, one for them)."""
        ids = [
            r["loan_id"]
            for r in await self.pool.fetch(
                "select loan_id from lending.loan_portfolio where group_id = $1 and status = 'active'", group_id
            )
        ]
        streams = await self.store.read_streams(self.pool, [domain.loan_stream(i) for i in ids])
        loans = []
        for events in streams.values():
            loan = domain.loan_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
            if loan is not None and loan.status == "active":
                loans.append(loan)
        return loans

    async def portfolio(self, level: str, code: str | None) -> list[domain.PortfolioLine]:
        return await portfolio_lines(self.pool, level, code)

    async def portfolio_breakdown(self, level: str, code: str | None) -> dict[str, list[domain.PortfolioLine]]:
        return await portfolio_children(self.pool, level, code)

    # --- commands -------------------------------------------------------------------------------
    async def _append_responding(
        self,
        unit: CommandUnit,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        status: int,
        body: dict[str, Any],
        texts: Sequence[FreeText | None] = (),
    ) -> tuple[int, dict[str, Any]]:
        recorded = await self.store.append(
            unit.conn, stream_id, expected_version, events, record=unit.response(status, body), texts=texts
        )
        return status, body | {"position": {SCHEMA: recorded[-1].position}}

    async def define_product(self, key: str, fingerprint: str, actor: Actor, product: ProductDefined) -> CommandResult:
        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            event = domain.define_product(product)
            stream = domain.product_stream(product.product_id)
            if await self.store.read_stream(unit.conn, stream):
                raise domain.LendingRuleBroken(f"product {product.product_id} exists already", "product_id", 409)
            body = {"product_id": product.product_id, "name_th": product.name_th}
            return await self._append_responding(unit, stream, 0, [NewEvent(event, actor=actor)], 201, body)

        return await self.commands.execute(key, fingerprint, command)

    async def launch_programme(
        self, key: str, fingerprint: str, actor: Actor, launched: ProgrammeLaunched, budget_satang: int, funded_on: date
    ) -> CommandResult:
        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            stream = programmes.programme_stream(launched.programme_id)
            if await self.store.read_stream(unit.conn, stream):
                raise domain.LendingRuleBroken(f"programme {launched.programme_id} exists already", "programme_id", 409)
            events: list[EventPayload] = [launched]
            note = FreeText.of("note", "งบประมาณเริ่มต้น")
            if budget_satang:
                programme = programmes.Programme(launched, 1)
                events.append(programmes.fund(programme, budget_satang, funded_on, note, today_in_thailand()))
            body = {"programme_id": launched.programme_id, "available": format_baht(budget_satang)}
            return await self._append_responding(
                unit, stream, 0, [NewEvent(e, actor=actor) for e in events], 201, body, [note]
            )

        return await self.commands.execute(key, fingerprint, command)

    async def fund_programme(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        programme_id: str,
        amount_satang: int,
        funded_on: date,
        note: str,
    ) -> CommandResult:
        text = FreeText.of("note", note)

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            programme = await self.load_programme(unit.conn, programme_id)
            event = programmes.fund(programme, amount_satang, funded_on, text, today_in_thailand())
            body = {"programme_id": programme_id, "available": format_baht(event.available_after_satang)}
            return await self._append_responding(
                unit,
                programmes.programme_stream(programme_id),
                programme.version,
                [NewEvent(event, actor=actor)],
                201,
                body,
                [text],
            )

        return await self.commands.execute(key, fingerprint, command)

    async def apply_for_loan(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        member_id: uuid.UUID,
        product_id: str,
        principal_satang: int,
        term_months: int,
        purpose: str,
        guarantor_ids: list[uuid.UUID],
        applied_on: date,
        programme_id: str | None = None,
        eligibility: dict[str, bool] | None = None,
    ) -> CommandResult:
        text = FreeText.of("purpose", purpose)

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            member = await self.member_facts(conn, member_id)
            loan_id = new_id()
            today = today_in_thailand()
            event: EventPayload
            if programme_id is not None:
                programme = await self.load_programme(conn, programme_id)
                event = programmes.apply_for_programme_loan(
                    loan_id,
                    programme,
                    member,
                    principal_satang,
                    term_months,
                    text,
                    eligibility or {},
                    applied_on,
                    today,
                    actor.id,
                )
            else:
                product = await self.load_product(conn, product_id)
                guarantors = [(g, await self.member_facts(conn, g)) for g in guarantor_ids]
                event = domain.apply_for_loan(
                    loan_id,
                    product,
                    member,
                    guarantors,
                    principal_satang,
                    term_months,
                    text,
                    applied_on,
                    today,
                    actor.id,
                )
            assert member is not None
            body = {
                "loan_id": str(loan_id),
                "status": "applied",
                "member_id": str(member_id),
                "principal": format_baht(principal_satang),
            }
            return await self._append_responding(
                unit,
                domain.loan_stream(loan_id),
                0,
                [NewEvent(event, actor=actor, area=member.area)],
                201,
                body,
                [text],
            )

        return await self.commands.execute(key, fingerprint, command)

    async def loan_command(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        loan_id: uuid.UUID,
        decide: Callable[[domain.Loan], Sequence[EventPayload]],
        status: int = 201,
        texts: Sequence[FreeText | None] = (),
    ) -> CommandResult:
        """Load the loan, decide its events, append them with the response (one statement), and the free
        texts they refer to (same transaction)."""

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            loan, area = await self.load_loan(unit.conn, loan_id)
            events = decide(loan)
            after = domain.loan_from_events([(e, v) for v, e in enumerate(events, start=loan.version + 1)], start=loan)
            assert after is not None
            body = {"loan_id": str(loan_id), "status": after.status, "events": [type(e).__name__ for e in events]}
            body |= describe_event(events[0])
            if loan.programme_id is not None:
                programme = await self.load_programme(unit.conn, loan.programme_id)
                effects = programmes.budget_effects(
                    programme, events, area or Area(province_code="00", district_code="0000")
                )
                if effects:
                    appends = [
                        StreamAppend(
                            domain.loan_stream(loan_id),
                            loan.version,
                            [NewEvent(e, actor=actor, area=area) for e in events],
                        ),
                        StreamAppend(
                            programmes.programme_stream(loan.programme_id),
                            programme.version,
                            [NewEvent(e, actor=actor, area=area) for e in effects],
                        ),
                    ]
                    recorded = await self.store.append_to_streams(
                        unit.conn, appends, record=unit.response(status, body), texts=texts
                    )
                    return status, body | {"position": {SCHEMA: max(r.position for r in recorded)}}
            return await self._append_responding(
                unit,
                domain.loan_stream(loan_id),
                loan.version,
                [NewEvent(e, actor=actor, area=area) for e in events],
                status,
                body,
                texts,
            )

        return await self.commands.execute(key, fingerprint, command)

    async def store_position(self) -> int:
        """The highest position lending's store has committed (what a read waits for to see all of it)."""
        return int(await self.pool.fetchval(f'select coalesce(max(position), 0) from "{self.store.schema}".events'))

    async def close_day(self, key: str, fingerprint: str, actor: Actor, business_date: date) -> CommandResult:
        """The daily close: `InstallmentOverdue` for every installment that passed its due date unpaid.

        It reads only the loans in arrears on that date — active loans whose oldest unpaid installment fell due
        before it, from the loan portfolio read model — not every active loan (the caller first waits for that
        read model to reflect the whole store: see the route). Each candidate is then decided from its own
        stream, so a read model ahead by a repayment or two costs a read, never a wrong event."""
        if business_date > today_in_thailand():
            raise domain.LendingRuleBroken("must not be in the future", "business_date")

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            candidates = [r["stream_id"] for r in await conn.fetch(_LOANS_IN_ARREARS_SQL, business_date)]
            streams = await self.store.read_streams(conn, candidates)
            appends = []
            recorded_overdue = 0
            for stream_id, events in streams.items():
                loan = domain.loan_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
                if loan is None:
                    continue
                overdue = domain.overdue_installments(loan, business_date)
                if overdue:
                    recorded_overdue += len(overdue)
                    appends.append(
                        StreamAppend(
                            stream_id, loan.version, [NewEvent(e, actor=actor, area=events[0].area) for e in overdue]
                        )
                    )
            body = {
                "business_date": business_date.isoformat(),
                "loans_overdue": len(appends),
                "installments_overdue": recorded_overdue,
            }
            if not appends:
                async with conn.transaction():
                    await unit.record(201, body)
                return 201, body
            recorded = await self.store.append_to_streams(conn, appends, record=unit.response(201, body))
            return 201, body | {"position": {SCHEMA: max(e.position for e in recorded)}}

        return await self.commands.execute(key, fingerprint, command)

    # --- pawn tickets (the pawnshop office's partner API) -----------------------------------------
    async def load_ticket(
        self, conn: asyncpg.Connection | asyncpg.Pool, ticket_id: uuid.UUID
    ) -> tuple[pawn_tickets.Ticket, Area | None]:
        events = await self.store.read_stream(conn, pawn_tickets.ticket_stream(ticket_id))
        ticket = pawn_tickets.ticket_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
        if ticket is None:
            raise NotFound("pawn ticket", ticket_id)
        if ticket.payout_reference_ref is not None:
            texts = await free_text.resolve(conn, SCHEMA, [ticket.payout_reference_ref])
            ticket = replace(ticket, payout_reference=texts.get(ticket.payout_reference_ref))
        return ticket, events[0].area

    async def texts(self, refs: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str | None]:
        """Free texts by id, from lending's register (None once erased)."""
        return await free_text.resolve(self.pool, SCHEMA, refs)

    async def pledge(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        area: Area,
        fields: dict[str, Any],
        payout: dict[str, str | None],
    ) -> CommandResult:
        """A ticket, its payout instruction, and the payout's account details (in the erasable register)."""
        # Checked as the ledger checks a group's area: a ticket counts in its province's and district's figures.
        check_area(area.province_code, area.district_code, None, domain.LendingRuleBroken)

        description = FreeText.of("item_description", fields["item_description"])

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            ticket_id, instruction_id = new_id(), new_id()
            events = pawn_tickets.pledge_item(
                ticket_id,
                instruction_id,
                channel=payout["channel"],  # type: ignore[arg-type]
                today=today_in_thailand(),
                **(fields | {"item_description": description}),
            )
            pledged = events[0]
            assert isinstance(pledged, pawn_tickets.ItemPledged)
            body: dict[str, Any] = {
                "ticket_id": str(ticket_id),
                "instruction_id": str(instruction_id),
                "status": "pawned" if payout["channel"] == "cash" else "awaiting_payout",
                "principal": format_baht(pledged.principal_satang),
                "monthly_interest": format_baht(pledged.monthly_interest_satang),
                "rate_table": pledged.rate_table,
                "maturity_date": pledged.maturity_date.isoformat(),
            }
            async with conn.transaction():
                recorded = await self.store.append(
                    conn,
                    pawn_tickets.ticket_stream(ticket_id),
                    0,
                    [NewEvent(e, actor=actor, area=area) for e in events],
                    texts=[description],
                )
                await conn.execute(
                    "insert into lending.payout_register (instruction_id, ticket_id, channel, bank_code,"
                    " account_number, promptpay_id) values ($1, $2, $3, $4, $5, $6)",
                    instruction_id,
                    ticket_id,
                    payout["channel"],
                    payout.get("bank_code"),
                    payout.get("account_number"),
                    payout.get("promptpay_id"),
                )
                body |= {"position": {SCHEMA: recorded[-1].position}}
                await unit.record(201, body)
            return 201, body

        return await self.commands.execute(key, fingerprint, command)

    async def ticket_of_instruction(self, instruction_id: uuid.UUID) -> uuid.UUID:
        ticket_id = await self.pool.fetchval(
            "select ticket_id from lending.payout_register where instruction_id = $1", instruction_id
        )
        if ticket_id is None:
            raise NotFound("payout instruction", instruction_id)
        return uuid.UUID(str(ticket_id))

    async def ticket_command(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        ticket_id: uuid.UUID,
        decide: Callable[[pawn_tickets.Ticket], Sequence[EventPayload]],
        texts: Sequence[FreeText | None] = (),
    ) -> CommandResult:
        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            ticket, area = await self.load_ticket(unit.conn, ticket_id)
            events = decide(ticket)
            body: dict[str, Any] = {"ticket_id": str(ticket_id)}
            if not events:
                # The same answer again (e.g. a repeated payout callback): nothing new to record.
                body |= {"status": ticket.status, "unchanged": True}
                async with unit.conn.transaction():
                    await unit.record(200, body)
                return 200, body
            status: str = ticket.status
            for e in events:
                status = _ticket_status_after(status, e)
            body |= {"status": status} | describe_event(events[0])
            return await self._append_responding(
                unit,
                pawn_tickets.ticket_stream(ticket_id),
                ticket.version,
                [NewEvent(e, actor=actor, area=area) for e in events],
                201,
                body,
                texts,
            )

        return await self.commands.execute(key, fingerprint, command)

    # --- pawn customers' consents (the office records them; partners' referral feeds honour them) ---
    async def load_pawn_customer(
        self, conn: asyncpg.Connection | asyncpg.Pool, customer_ref: str
    ) -> pawn_customers.PawnCustomer:
        events = await self.store.read_stream(conn, pawn_customers.customer_stream(customer_ref))
        return pawn_customers.customer_from_events(
            customer_ref, ((REGISTRY.parse_event(e), e.stream_version) for e in events)
        )

    async def decide_pawn_consent(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        customer_ref: str,
        partner: str,
        purpose: str,
        granted: bool,
        notice_version: str | None,
    ) -> CommandResult:
        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            customer = await self.load_pawn_customer(unit.conn, customer_ref)
            event = pawn_customers.decide_consent(customer, partner, purpose, granted, notice_version)
            body = {
                "customer_ref": customer_ref,
                "partner": partner,
                "purpose": purpose,
                "granted": granted,
                "notice_version": notice_version if granted else None,
            }
            return await self._append_responding(
                unit,
                pawn_customers.customer_stream(customer_ref),
                customer.version,
                [NewEvent(event, actor=actor)],
                201,
                body,
            )

        return await self.commands.execute(key, fingerprint, command)

    async def pawn_consent_history(self, customer_ref: str) -> list[dict[str, Any]]:
        """Every grant and withdrawal, oldest first; empty for a customer with none recorded."""
        events = await self.store.read_stream(self.pool, pawn_customers.customer_stream(customer_ref))
        history = []
        for event in events:
            if event.event_type in ("lending.PawnCustomerConsentGranted", "lending.PawnCustomerConsentWithdrawn"):
                p = event.payload
                history.append(
                    {
                        "partner": p["partner"],
                        "purpose": p["purpose"],
                        "granted": event.event_type == "lending.PawnCustomerConsentGranted",
                        "notice_version": p.get("notice_version"),
                        "at": event.occurred_at.astimezone(BANGKOK).isoformat(),
                        "actor": event.actor.model_dump(),
                    }
                )
        return history

    # --- the saga: the ledger's answers, from the inbox -----------------------------------------
    async def handle_ledger_answer(self, conn: asyncpg.Connection, message: InboxMessage) -> str:
        p = message.payload
        loan_id = (
            uuid.UUID(p["loan_id"]) if p.get("loan_id") else stream_uuid(str(p["source"]).removeprefix("lending:"))
        )
        request_id = uuid.UUID(p["request_id"])
        loan, area = await self.load_loan(conn, loan_id)
        answer: EventPayload | None
        if message.kind == "ledger.LendingPostingRefused":
            answer = domain.fail_disbursement(loan, request_id, p["reason"])
        else:
            answer = domain.complete_disbursement(loan, request_id, date.fromisoformat(p["posted_on"]))
        if answer is None:
            return "nothing to do"  # a repayment's posting, or an answer handled before
        await self.store.append(
            conn, domain.loan_stream(loan_id), loan.version, [NewEvent(answer, actor=SAGA, area=area)]
        )
        self.commit_signal.poke()
        return type(answer).__name__


def _ticket_status_after(status: str, event: EventPayload) -> str:
    return {
        "PayoutConfirmed": "pawned",
        "PayoutFailed": "payout_failed",
        "PawnRedeemed": "redeemed",
        "PawnForfeited": "forfeited",
        "ForfeitSold": "sold",
    }.get(type(event).__name__, status)


def describe_event(event: EventPayload) -> dict[str, Any]:
    """The money fields of an event as the API shows them (decimal strings, no _satang suffix)."""
    shown: dict[str, Any] = {}
    for name, value in event.model_dump(mode="json").items():
        if name.endswith("_satang") and isinstance(value, int):
            shown[name.removesuffix("_satang")] = format_baht(value)
        elif name in (
            "reason",
            "paid_on",
            "disbursed_on",
            "oldest_unpaid_due_on",
            "approvals",
            "fully_approved",
            "request_id",
            "maturity_date",
            "reason_ref",
            "reference_ref",
        ):
            shown[name] = value
    return shown


# Active loans with an installment unpaid past its due date: the first unpaid one fell due before the date.
_LOANS_IN_ARREARS_SQL = """
    select 'loan-' || loan_id::text as stream_id from lending.loan_portfolio
    where status = 'active' and oldest_unpaid_due_on < $1 order by loan_id"""


async def portfolio_lines(
    conn: asyncpg.Connection | asyncpg.Pool, level: str, code: str | None
) -> list[domain.PortfolioLine]:
    """An area's active loans and their outstanding principal, per oldest unpaid due date."""
    rows = await conn.fetch(
        "select due_on, loans, outstanding_satang from lending.portfolio_dues where level = $1 and code = $2",
        level,
        "" if level == "national" else code or "",
    )
    return [_portfolio_line(r) for r in rows]


async def portfolio_children(
    conn: asyncpg.Connection | asyncpg.Pool, level: str, code: str | None
) -> dict[str, list[domain.PortfolioLine]]:
    """The same for each child area with active loans (provinces, districts or groups), in one read."""
    rows = await conn.fetch(
        "select code, due_on, loans, outstanding_satang from lending.portfolio_dues"
        " where level = $1 and parent = $2 order by code",
        {"national": "province", "province": "district"}.get(level, "group"),
        "" if level == "national" else code or "",
    )
    out: dict[str, list[domain.PortfolioLine]] = {}
    for r in rows:
        out.setdefault(r["code"], []).append(_portfolio_line(r))
    return out


def _portfolio_line(row: asyncpg.Record) -> domain.PortfolioLine:
    due = row["due_on"]
    return domain.PortfolioLine(row["outstanding_satang"], None if due == date.max else due, row["loans"])
