"""Ledger application layer: load a stream, decide, append — idempotently, in one transaction."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from libs.events import free_text
from libs.events.areas import check_area
from libs.events.envelope import BANGKOK, Actor, Area, EventPayload, NewEvent, RecordedEvent, today_in_thailand
from libs.events.errors import NotFound
from libs.events.free_text import FreeText
from libs.events.http import CommandResult, CommandUnit, IdempotentCommands
from libs.events.ids import new_id
from libs.events.money import format_baht
from libs.events.registry import REGISTRY
from libs.events.schemas.ledger import (
    DividendPaid,
    InstallmentMissed,
    JournalEntryPosted,
    JournalLine,
    MemberDataErased,
    ProfitShares,
    SavingsAccount,
)
from libs.events.settings import Settings
from libs.events.store import EventStore, StreamAppend, stream_uuid
from libs.events.wakeup import CommitSignal
from services.ledger import allocation, book_totals, books, collection, domain, installments
from services.ledger.months import may_fall_in_a_closable_month

SCHEMA = "ledger"
# Groups a ledger process keeps as last read (LedgerHandlers.load_group): a province's, many times over.
GROUPS_KEPT = 20_000

# Back-dated entries hold this lock shared and a month-end close holds it exclusively, so no entry can
# land in a month while (or after) it is closed. Entries dated in the running month need not take it.
_GROUP_CASH_LOCK = "select pg_advisory_xact_lock(hashtextextended('ledger.group-cash:' || $1::text, 0))"
_MONTH_CLOSE_LOCK = "select pg_advisory_xact_lock{mode}(hashtextextended('ledger.month-close:' || $1::text, 0))"


def _parsed(events: list[RecordedEvent]) -> list[tuple[Any, int]]:
    return [(REGISTRY.parse_event(e), e.stream_version) for e in events]


def ledger_event_store() -> EventStore:
    """The ledger's event store. Whatever writes ledger events uses this one: the books' day totals are written
    with the money events, in their transaction (book_totals.py)."""
    return EventStore(SCHEMA, after_append=book_totals.BOOKS_HOOK)


class LedgerHandlers:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.store = ledger_event_store()
        self.commit_signal = CommitSignal(pool, self.store.notify_channel)
        self.commands = IdempotentCommands(pool, SCHEMA, after_commit=self.commit_signal.poke)
        # Groups as last read outside a transaction (see load_group), the least recently read let go first.
        self._groups: OrderedDict[uuid.UUID, domain.Group] = OrderedDict()

    async def load_group(self, conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID) -> domain.Group:
        """The group as its stream says now. Every posting of lending's (a payout, each repayment) and every close
        is an event of the group's stream, and each posting loads the group: read whole, a year's stream cost the
        ledger a fifth of its CPU. The last state read outside a transaction is kept, and only the events after
        it are read and folded onto it (the same result: a state read committed, then everything since). Inside
        a transaction nothing is kept: its reads could include its own writes, which may yet roll back."""
        stream = domain.group_stream(group_id)
        known = self._groups.get(group_id)
        events = await self.store.read_stream(conn, stream, after_version=known.version if known else 0)
        group = domain.group_from_events(_parsed(events), known)
        if group is None:
            raise NotFound("group", group_id)
        if group is not known and (isinstance(conn, asyncpg.Pool) or not conn.is_in_transaction()):
            self._groups[group_id] = group
            self._groups.move_to_end(group_id)
            if len(self._groups) > GROUPS_KEPT:
                self._groups.popitem(last=False)
        return group

    async def load_member(self, conn: asyncpg.Connection | asyncpg.Pool, member_id: uuid.UUID) -> domain.Member:
        events = await self.store.read_stream(conn, domain.member_stream(member_id))
        member = domain.member_from_events(_parsed(events), events[0].area if events else None)
        if member is None:
            raise NotFound("member", member_id)
        return member

    async def _append_responding(
        self,
        unit: CommandUnit,
        stream_id: str,
        expected_version: int,
        event: NewEvent,
        body: dict[str, Any],
        texts: Sequence[FreeText | None] = (),
    ) -> tuple[int, dict[str, Any]]:
        """Append one event and store the 201 response under the request's key, in one statement (and the
        free texts it refers to, in the same transaction)."""
        [recorded] = await self.store.append(
            unit.conn, stream_id, expected_version, [event], record=unit.response(201, body), texts=texts
        )
        return 201, body | {"position": {SCHEMA: recorded.position}}

    async def register_group(self, key: str, fingerprint: str, actor: Actor, fields: dict[str, Any]) -> CommandResult:
        check_area(
            fields["province_code"], fields["district_code"], fields.get("subdistrict_code"), domain.LedgerRuleBroken
        )

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            group_id = new_id()
            event = domain.register_group(group_id=group_id, today=today_in_thailand(), **fields)
            area = Area(province_code=event.province_code, district_code=event.district_code)
            return await self._append_responding(
                unit,
                domain.group_stream(group_id),
                0,
                NewEvent(event, actor=actor, area=area),
                event.model_dump(mode="json"),
            )

        return await self.commands.execute(key, fingerprint, command)

    async def enroll_member(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        group_id: uuid.UUID,
        national_id: str,
        full_name: str,
        joined_on: date,
        monthly_commitment_satang: int,
        phone: str | None,
        beneficiaries: list[tuple[str, str, Decimal]] | None = None,
    ) -> CommandResult:
        digits = domain.validate_national_id(national_id)
        digest = domain.national_id_hash(digits, self.settings.national_id_hash_key)
        # Thai IDs starting with 0 belong to people without registration status: accepted, and flagged.
        no_registration_status = digits.startswith("0")

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            group = await self.load_group(conn, group_id)
            if await conn.fetchval(
                "select 1 from ledger.member_register where group_id = $1 and national_id_hash = $2",
                group_id,
                digest,
            ):
                raise domain.LedgerRuleBroken(
                    "a member with this national ID is already enrolled in this group", "national_id", 409
                )
            member_id = new_id()
            # Events, register row and stored response: one transaction (append first, as the store requires).
            async with conn.transaction():
                if may_fall_in_a_closable_month(joined_on, today_in_thailand()):
                    await conn.execute(_MONTH_CLOSE_LOCK.format(mode="_shared"), str(group_id))
                    group = await self.load_group(conn, group_id)
                event = domain.enroll_member(
                    group, member_id, joined_on, monthly_commitment_satang, digest, today_in_thailand()
                )
                [recorded] = await self.store.append(
                    conn, domain.member_stream(member_id), 0, [NewEvent(event, actor=actor, area=group.area)]
                )
                try:
                    await conn.execute(
                        "insert into ledger.member_register (member_id, group_id, national_id_hash, national_id,"
                        " full_name, phone, no_registration_status, joined_on) values ($1, $2, $3, $4, $5, $6, $7, $8)",
                        member_id,
                        group_id,
                        digest,
                        digits,
                        full_name,
                        phone,
                        no_registration_status,
                        joined_on,
                    )
                except asyncpg.UniqueViolationError:
                    raise domain.LedgerRuleBroken(
                        "a member with this national ID is already enrolled in this group", "national_id", 409
                    ) from None
                if beneficiaries:
                    await conn.executemany(
                        "insert into ledger.member_beneficiaries (member_id, position, full_name, relationship,"
                        " share_percent) values ($1, $2, $3, $4, $5)",
                        [(member_id, i, name, rel, share) for i, (name, rel, share) in enumerate(beneficiaries, 1)],
                    )
                body = {
                    "member_id": str(member_id),
                    "group_id": str(group_id),
                    "joined_on": joined_on.isoformat(),
                    "monthly_commitment": format_baht(monthly_commitment_satang),
                    "entrance_fee": format_baht(event.entrance_fee_satang),
                    "flags": ["no_registration_status"] if no_registration_status else [],
                    "position": {SCHEMA: recorded.position},
                }
                await unit.record(201, body)
            return 201, body

        return await self.commands.execute(key, fingerprint, command)

    async def _member_command(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        member_id: uuid.UUID,
        decide: Callable[[domain.Member, domain.Group | None, int | None], tuple[EventPayload, dict[str, Any]]],
        *,
        needs_group: bool = False,
        entry_date: date | None = None,
        pays_out_cash: bool = False,
        texts: Sequence[FreeText | None] = (),
    ) -> CommandResult:
        """Load the member (and its group), decide one event and the response, and append both in one
        statement (one round trip, atomic). The version check makes a concurrent command on the same
        member re-decide, so a balance can never be spent twice. An entry dated where a month could be
        closed first takes the group's month-close lock (shared) and is decided against the group's
        closed months, read after the lock. A command that pays cash out of the group holds the group's
        cash lock and is decided against the cash the books hold, so cash in hand never goes below zero."""

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            member = await self.load_member(conn, member_id)
            serialise_with_close = entry_date is not None and may_fall_in_a_closable_month(
                entry_date, today_in_thailand()
            )
            locked = serialise_with_close or pays_out_cash
            # Only a command that takes a lock needs a transaction around it; the rest is one statement.
            async with conn.transaction() if locked else contextlib.nullcontext():
                if serialise_with_close:
                    await conn.execute(_MONTH_CLOSE_LOCK.format(mode="_shared"), str(member.group_id))
                cash = await self.lock_group_cash(conn, member.group_id) if pays_out_cash else None
                group = await self.load_group(conn, member.group_id) if needs_group or locked else None
                event, body = decide(member, group, cash)
                return await self._append_responding(
                    unit,
                    domain.member_stream(member_id),
                    member.version,
                    NewEvent(event, actor=actor, area=member.area),
                    body,
                    texts,
                )

        return await self.commands.execute(key, fingerprint, command)

    async def _append_group_and_members(
        self,
        unit: CommandUnit,
        actor: Actor,
        group: domain.Group,
        group_event: EventPayload,
        member_events: Sequence[InstallmentMissed | DividendPaid],
        members: dict[uuid.UUID, domain.Member],
        body: dict[str, Any],
    ) -> tuple[int, dict[str, Any]]:
        """One event on the group and one on each member concerned, with the 201 response stored under
        the request's key, in the caller's transaction; each stream at the version the decision read."""
        appends = [
            StreamAppend(
                domain.group_stream(group.group_id),
                group.version,
                [NewEvent(group_event, actor=actor, area=group.area)],
            )
        ]
        appends += [
            StreamAppend(
                domain.member_stream(e.member_id),
                members[e.member_id].version,
                [NewEvent(e, actor=actor, area=group.area)],
            )
            for e in member_events
        ]
        recorded = await self.store.append_to_streams(unit.conn, appends)
        # `position` is the command's last write; a member's own position serves `?after=` on reads of
        # that member (read models wait per stream).
        body = body | {
            "position": {SCHEMA: max(e.position for e in recorded)},
            "member_positions": {
                str(stream_uuid(e.stream_id)): {SCHEMA: e.position}
                for e in recorded
                if e.stream_id.startswith("member-")
            },
        }
        await unit.record(201, body)
        return 201, body

    async def lock_group_cash(self, conn: asyncpg.Connection, group_id: uuid.UUID) -> int:
        """Take the group's cash lock (until the transaction ends) and read the cash its books hold."""
        await conn.execute(_GROUP_CASH_LOCK, str(group_id))
        return await book_totals.cash(conn, group_id)

    async def lock_group_money(
        self, conn: asyncpg.Connection, group_id: uuid.UUID
    ) -> list[tuple[str, dict[str, Any], date]]:
        """Take the group's cash lock and read its money events (for a command that needs more than cash)."""
        await conn.execute(_GROUP_CASH_LOCK, str(group_id))
        return await self.group_money_events(conn, group_id)

    async def close_month(
        self, key: str, fingerprint: str, actor: Actor, group_id: uuid.UUID, month: date
    ) -> CommandResult:
        """Month-end close: `MonthClosed` on the group and `InstallmentMissed` on each member who paid
        short, in one atomic append; from then on entries dated in the month are refused."""

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            async with conn.transaction():
                await conn.execute(_MONTH_CLOSE_LOCK.format(mode=""), str(group_id))
                group = await self.load_group(conn, group_id)
                members = await self.load_group_members(conn, group_id)
                closed, missed = installments.close_month(group, members.values(), month, today_in_thailand())
                body = {
                    "group_id": str(group_id),
                    "month": month.isoformat()[:7],
                    "members_due": closed.members_due,
                    "members_missed": closed.members_missed,
                    "due": format_baht(closed.due_satang),
                    "paid": format_baht(closed.paid_satang),
                    "missed": [
                        {
                            "member_id": str(m.member_id),
                            "due": format_baht(m.due_satang),
                            "paid": format_baht(m.paid_satang),
                        }
                        for m in missed
                    ],
                }
                return await self._append_group_and_members(unit, actor, group, closed, missed, members, body)

        return await self.commands.execute(key, fingerprint, command)

    async def load_group_members(
        self, conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID
    ) -> dict[uuid.UUID, domain.Member]:
        """Every member the group ever enrolled, each read from its own stream (one round trip each way)."""
        ids = [r["member_id"] for r in await conn.fetch(_GROUP_MEMBER_IDS_SQL, group_id)]
        streams = await self.store.read_streams(conn, [domain.member_stream(i) for i in ids])
        members = {}
        for events in streams.values():
            member = domain.member_from_events(_parsed(events), events[0].area)
            if member is not None:
                members[member.member_id] = member
        return members

    async def member_installments(
        self, member_id: uuid.UUID, first: date, last: date
    ) -> list[installments.Installment]:
        member = await self.load_member(self.pool, member_id)
        group = await self.load_group(self.pool, member.group_id)
        return installments.schedule(member, first, last, group.closed_through, today_in_thailand())

    async def deposit(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        member_id: uuid.UUID,
        account: SavingsAccount,
        amount_satang: int,
        deposited_on: date,
    ) -> CommandResult:
        def decide(
            member: domain.Member, group: domain.Group | None, cash: int | None
        ) -> tuple[EventPayload, dict[str, Any]]:
            transaction_id = new_id()
            closed_through = group.closed_through if group else None
            event = domain.deposit(
                member, transaction_id, account, amount_satang, deposited_on, today_in_thailand(), closed_through
            )
            return event, {
                "transaction_id": str(transaction_id),
                "member_id": str(member_id),
                "account": account,
                "amount": format_baht(amount_satang),
                "deposited_on": deposited_on.isoformat(),
                "balance": format_baht(event.balance_after_satang),
            }

        return await self._member_command(key, fingerprint, actor, member_id, decide, entry_date=deposited_on)

    async def change_commitment(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        member_id: uuid.UUID,
        monthly_commitment_satang: int,
        effective_on: date,
    ) -> CommandResult:
        def decide(
            member: domain.Member, group: domain.Group | None, cash: int | None
        ) -> tuple[EventPayload, dict[str, Any]]:
            assert group is not None
            event = domain.change_commitment(
                member, group.rules, monthly_commitment_satang, effective_on, today_in_thailand(), group.closed_through
            )
            return event, {
                "member_id": str(member_id),
                "previous_monthly_commitment": format_baht(event.previous_monthly_commitment_satang),
                "monthly_commitment": format_baht(event.monthly_commitment_satang),
                "effective_month": event.effective_month.isoformat()[:7],
            }

        return await self._member_command(
            key, fingerprint, actor, member_id, decide, needs_group=True, entry_date=effective_on.replace(day=1)
        )

    async def group_with_members(
        self, group_id: uuid.UUID
    ) -> tuple[domain.Group, dict[uuid.UUID, domain.Member], dict[uuid.UUID, str | None]]:
        """The group, every member it enrolled, and their names from the register (None once erased)."""
        group = await self.load_group(self.pool, group_id)
        members = await self.load_group_members(self.pool, group_id)
        names = {
            r["member_id"]: r["full_name"]
            for r in await self.pool.fetch(
                "select member_id, full_name from ledger.member_register where group_id = $1", group_id
            )
        }
        return group, members, names

    async def collection_sheet(
        self, group_id: uuid.UUID, month: date
    ) -> tuple[domain.Group, list[collection.SheetLine], dict[uuid.UUID, str | None]]:
        """The group, its members' lines for the month, and their names."""
        group, members, names = await self.group_with_members(group_id)
        return group, collection.sheet_lines(members.values(), month), names

    async def list_members(self, group_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[asyncpg.Record]:
        """Members of a group in enrolment order (UUIDv7 ids are time-ordered), one page after `after`."""
        await self.load_group(self.pool, group_id)
        return await self.pool.fetch(
            "select member_id, full_name, joined_on, no_registration_status, erased_at is not null as erased"
            " from ledger.member_register where group_id = $1 and ($2::uuid is null or member_id > $2)"
            " order by member_id limit $3",
            group_id,
            after,
            limit,
        )

    async def withdraw(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        member_id: uuid.UUID,
        account: SavingsAccount,
        amount_satang: int,
        withdrawn_on: date,
    ) -> CommandResult:
        def decide(
            member: domain.Member, group: domain.Group | None, cash: int | None
        ) -> tuple[EventPayload, dict[str, Any]]:
            assert group is not None
            transaction_id = new_id()
            event = domain.withdraw(
                member,
                group.rules,
                transaction_id,
                account,
                amount_satang,
                withdrawn_on,
                today_in_thailand(),
                group.closed_through,
                cash,
            )
            return event, {
                "transaction_id": str(transaction_id),
                "member_id": str(member_id),
                "account": account,
                "amount": format_baht(amount_satang),
                "withdrawn_on": withdrawn_on.isoformat(),
                "balance": format_baht(event.balance_after_satang),
            }

        return await self._member_command(
            key, fingerprint, actor, member_id, decide, needs_group=True, entry_date=withdrawn_on, pays_out_cash=True
        )

    async def decide_consent(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        member_id: uuid.UUID,
        partner: str,
        purpose: str,
        granted: bool,
        notice_version: str | None,
    ) -> CommandResult:
        def decide(
            member: domain.Member, _: domain.Group | None, cash: int | None
        ) -> tuple[EventPayload, dict[str, Any]]:
            event = domain.decide_consent(member, partner, purpose, granted, notice_version)
            return event, {
                "member_id": str(member_id),
                "partner": partner,
                "purpose": purpose,
                "granted": granted,
                "notice_version": notice_version if granted else None,
            }

        return await self._member_command(key, fingerprint, actor, member_id, decide)

    async def consent_history(self, member_id: uuid.UUID) -> list[dict[str, Any]]:
        events = await self.store.read_stream(self.pool, domain.member_stream(member_id))
        if not events:
            raise NotFound("member", member_id)
        history = []
        for event in events:
            if event.event_type in ("ledger.ConsentGranted", "ledger.ConsentWithdrawn"):
                p = event.payload
                history.append(
                    {
                        "partner": p["partner"],
                        "purpose": p["purpose"],
                        "granted": event.event_type == "ledger.ConsentGranted",
                        "notice_version": p.get("notice_version"),
                        "at": event.occurred_at.astimezone(BANGKOK).isoformat(),
                        "actor": event.actor.model_dump(),
                    }
                )
        return history

    async def exit_member(
        self, key: str, fingerprint: str, actor: Actor, member_id: uuid.UUID, exited_on: date, reason: str | None
    ) -> CommandResult:
        text = FreeText.optional("reason", reason)

        def decide(
            member: domain.Member, group: domain.Group | None, cash: int | None
        ) -> tuple[EventPayload, dict[str, Any]]:
            closed_through = group.closed_through if group else None
            event = domain.exit_member(member, exited_on, text, today_in_thailand(), closed_through, cash)
            return event, {
                "member_id": str(member_id),
                "exited_on": exited_on.isoformat(),
                "paid_out": {
                    "sajja": format_baht(event.sajja_paid_out_satang),
                    "special": format_baht(event.special_paid_out_satang),
                    "total": format_baht(event.sajja_paid_out_satang + event.special_paid_out_satang),
                },
            }

        return await self._member_command(
            key, fingerprint, actor, member_id, decide, entry_date=exited_on, pays_out_cash=True, texts=[text]
        )

    async def reverse(
        self, key: str, fingerprint: str, actor: Actor, member_id: uuid.UUID, transaction_id: uuid.UUID, reason: str
    ) -> CommandResult:
        text = FreeText.of("reason", reason)

        def decide(
            member: domain.Member, _: domain.Group | None, cash: int | None
        ) -> tuple[EventPayload, dict[str, Any]]:
            event = domain.reverse(member, transaction_id, text, cash)
            return event, {
                "member_id": str(member_id),
                "transaction_id": str(transaction_id),
                "reversed_kind": event.reversed_kind,
                "account": event.account,
                "amount": format_baht(event.amount_satang),
                "balance": format_baht(member.balances[event.account] + event.balance_delta_satang),
            }

        # Undoing a deposit hands cash back; undoing a withdrawal takes it in. Either way it is decided
        # under the cash lock (the event's direction is only known once the member is read).
        return await self._member_command(key, fingerprint, actor, member_id, decide, pays_out_cash=True, texts=[text])

    async def erase_personal_data(
        self, key: str, fingerprint: str, actor: Actor, member_id: uuid.UUID
    ) -> CommandResult:
        """PDPA erasure: name, national ID and phone leave the register, and so do the texts typed about the
        member (reversal and exit reasons); events never held them."""

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            member = await self.load_member(conn, member_id)
            erased = await conn.fetchval(
                "select erased_at is not null from ledger.member_register where member_id = $1", member_id
            )
            if erased:
                raise domain.LedgerRuleBroken("this member's personal data was erased already", None, 409)
            event = MemberDataErased(member_id=member_id, group_id=member.group_id)
            body = {"member_id": str(member_id), "erased": True}
            async with conn.transaction():
                [recorded] = await self.store.append(
                    conn,
                    domain.member_stream(member_id),
                    member.version,
                    [NewEvent(event, actor=actor, area=member.area)],
                )
                await conn.execute(
                    "update ledger.member_register set national_id = null, full_name = null, phone = null,"
                    " national_id_hash = 'erased:' || member_id::text, erased_at = now() where member_id = $1",
                    member_id,
                )
                await conn.execute(
                    "update ledger.member_beneficiaries set full_name = null, relationship = null where member_id = $1",
                    member_id,
                )
                await free_text.erase(conn, SCHEMA, stream_ids=[domain.member_stream(member_id)])
                body |= {"position": {SCHEMA: recorded.position}}
                await unit.record(201, body)
            return 201, body

        return await self.commands.execute(key, fingerprint, command)

    async def group_money_events(
        self, conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID
    ) -> list[tuple[str, dict[str, Any], date]]:
        """The group's money events in order: (event type, payload, business date)."""
        events = []
        for row in await conn.fetch(_GROUP_MONEY_EVENTS_SQL, str(group_id)):
            payload = json.loads(row["payload"])
            recorded_on = row["recorded_at"].astimezone(BANGKOK).date()
            events.append((row["event_type"], payload, books.business_date(row["event_type"], payload, recorded_on)))
        return events

    async def group_books(self, group_id: uuid.UUID, as_of: date) -> list[books.AccountBalance]:
        """The group's trial balance on `as_of` (by business date), from its money events."""
        await self.load_group(self.pool, group_id)
        return await book_totals.trial_balance(self.pool, group_id, as_of)

    async def group_books_folded(self, group_id: uuid.UUID) -> list[books.AccountBalance]:
        """The group's trial balance folded from its money events one by one (all dates): the audit of the totals."""
        money = await self.group_money_events(self.pool, group_id)
        return books.trial_balance(books.postings(t, p) for t, p, _ in money)

    async def journal(
        self, group_id: uuid.UUID, first: date, last: date, after: tuple[date, int] | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """The group's journal between two business dates: each money event with its posting set, in
        business-date order, a page of at most `limit` entries after the cursor `after`. Each entry's
        `cursor` is (business date, the event's place in the group's history): a later back-dated entry
        takes a new place, so the places of those already read never move."""
        await self.load_group(self.pool, group_id)
        entries: list[dict[str, Any]] = []
        for seq, (event_type, payload, on) in enumerate(await self.group_money_events(self.pool, group_id)):
            if not (first <= on <= last) or (after is not None and (on, seq) <= after):
                continue
            lines = [p for p in books.postings(event_type, payload) if p.debit_satang or p.credit_satang]
            if lines:
                entries.append(
                    {"on": on, "cursor": (on, seq), "event_type": event_type, "payload": payload, "lines": lines}
                )
        entries.sort(key=lambda e: e["cursor"])
        entries = entries[:limit]
        # Memos as written: an officer's from the free-text register, the ledger's own from its vocabulary,
        # a v1 event's inline.
        texts = await free_text.resolve(
            self.pool, SCHEMA, (r for e in entries for r in free_text.refs_in(e["payload"], JournalEntryPosted))
        )
        for e in entries:
            shown = free_text.shown(e["payload"], texts, JournalEntryPosted)
            code = e["payload"].get("memo_code")
            e["memo"] = books.SYSTEM_MEMOS.get(code, code) if code else shown.get("memo")
        return entries

    async def post_journal_entry(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        group_id: uuid.UUID,
        posted_on: date,
        memo: str,
        lines: list[JournalLine],
        source: str | None = None,
    ) -> CommandResult:
        """A balanced entry in the group's books (bank interest, expenses, transfers to the bank)."""
        text = FreeText.of("memo", memo)

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            async with conn.transaction():
                if may_fall_in_a_closable_month(posted_on, today_in_thailand()):
                    await conn.execute(_MONTH_CLOSE_LOCK.format(mode="_shared"), str(group_id))
                cash = await self.lock_group_cash(conn, group_id)
                group = await self.load_group(conn, group_id)
                entry_id = new_id()
                event = domain.post_journal_entry(
                    group,
                    entry_id,
                    posted_on,
                    text,
                    lines,
                    today_in_thailand(),
                    cash,
                    books.CHART,
                    books.MEMBER_SAVINGS_ACCOUNTS | books.ALLOCATION_ONLY_ACCOUNTS,
                    source,
                )
                body = {"entry_id": str(entry_id), "group_id": str(group_id), "posted_on": posted_on.isoformat()}
                return await self._append_responding(
                    unit,
                    domain.group_stream(group_id),
                    group.version,
                    NewEvent(event, actor=actor, area=group.area),
                    body,
                    [text],
                )

        return await self.commands.execute(key, fingerprint, command)

    async def allocate_profit(
        self,
        key: str,
        fingerprint: str,
        actor: Actor,
        group_id: uuid.UUID,
        period_start: date,
        period_end: date,
        allocated_on: date,
        shares: ProfitShares | None,
        paid_into: Literal["special", "cash"] | None,
    ) -> CommandResult:
        """The annual profit allocation: `DividendsAllocated` on the group and each member's
        `DividendPaid`, in one atomic append."""

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            async with conn.transaction():
                if may_fall_in_a_closable_month(allocated_on, today_in_thailand()):
                    await conn.execute(_MONTH_CLOSE_LOCK.format(mode="_shared"), str(group_id))
                money = await self.lock_group_money(conn, group_id)
                group = await self.load_group(conn, group_id)
                members = await self.load_group_members(conn, group_id)
                decided = allocation.allocate_profit(
                    group,
                    new_id(),
                    period_start,
                    period_end,
                    allocated_on,
                    today_in_thailand(),
                    books.period_profit(money, period_start, period_end),
                    [m for m in members.values() if m.exited_on is None],
                    books.sajja_movements(money),
                    books.interest_paid(money, period_start, period_end),
                    group.allocated_through,
                    cash_of(money),
                    shares,
                    paid_into,
                )
                event = decided.allocated
                months = len(allocation.months_between(period_start, period_end))
                body = {
                    "allocation_id": str(event.allocation_id),
                    "group_id": str(group_id),
                    "period_start": period_start.isoformat(),
                    "period_end": period_end.isoformat(),
                    "net_profit": format_baht(event.net_profit_satang),
                    "funds": {f: format_baht(getattr(event, f + "_satang")) for f in allocation.FUNDS},
                    "paid_into": event.paid_into,
                    "members": [
                        {
                            "member_id": str(s.member_id),
                            "average_savings": format_baht(round(Decimal(s.savings_basis_satang) / months)),
                            "interest_paid": format_baht(s.interest_paid_satang),
                            "dividend": format_baht(s.dividend_satang),
                            "rebate": format_baht(s.rebate_satang),
                        }
                        for s in event.members
                    ],
                }
                return await self._append_group_and_members(unit, actor, group, event, decided.payments, members, body)

        return await self.commands.execute(key, fingerprint, command)

    async def member_savings_total(self, group_id: uuid.UUID) -> dict[str, int]:
        """Sum of the members' balances as their own streams have them (independent of the books)."""
        totals: dict[str, int] = dict.fromkeys(domain.ACCOUNTS, 0)
        member_ids = await self.pool.fetch("select member_id from ledger.member_register where group_id = $1", group_id)
        for row in member_ids:
            member = await self.load_member(self.pool, row["member_id"])
            for account in domain.ACCOUNTS:
                totals[account] += member.balances[account]
        return totals


def cash_of(money: list[tuple[str, dict[str, Any], date]]) -> int:
    return books.account_balance(books.CASH, (books.postings(t, p) for t, p, _ in money))


_GROUP_MEMBER_IDS_SQL = "select member_id from ledger.member_register where group_id = $1 order by member_id"

_GROUP_MONEY_EVENTS_SQL = """
    select event_type, payload::text as payload, recorded_at from ledger.events
    where payload->>'group_id' = $1
      and event_type in ('ledger.MemberEnrolled', 'ledger.OpeningBalanceRecorded', 'ledger.OpeningLoanRecorded',
                         'ledger.SavingsDeposited', 'ledger.SavingsWithdrawn',
                         'ledger.TransactionReversed', 'ledger.MemberExited', 'ledger.JournalEntryPosted',
                         'ledger.DividendsAllocated', 'ledger.DividendPaid')
    order by position"""
