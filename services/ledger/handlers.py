"""Ledger application layer: load a stream, decide, append — idempotently, in one transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from libs.events.envelope import BANGKOK, Actor, Area, EventPayload, NewEvent, RecordedEvent
from libs.events.http import CommandResult, CommandUnit, IdempotentCommands
from libs.events.ids import new_id
from libs.events.money import format_baht
from libs.events.registry import REGISTRY
from libs.events.schemas.ledger import MemberDataErased, SavingsAccount
from libs.events.settings import Settings
from libs.events.store import EventStore, StreamAppend
from libs.events.wakeup import CommitSignal
from services.ledger import books, domain, installments
from services.ledger.areas import check_area
from services.ledger.months import may_fall_in_a_closable_month

SCHEMA = "ledger"

# Back-dated entries hold this lock shared and a month-end close holds it exclusively, so no entry can
# land in a month while (or after) it is closed. Entries dated in the running month need not take it.
_MONTH_CLOSE_LOCK = "select pg_advisory_xact_lock{mode}(hashtextextended('ledger.month-close:' || $1::text, 0))"


class NotFound(Exception):
    def __init__(self, what: str, ident: uuid.UUID) -> None:
        super().__init__(f"{what} {ident} does not exist")


def today_in_thailand() -> date:
    return datetime.now(BANGKOK).date()


def _parsed(events: list[RecordedEvent]) -> list[tuple[Any, int]]:
    return [(REGISTRY.parse_event(e), e.stream_version) for e in events]


class LedgerHandlers:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.store = EventStore(SCHEMA)
        self.commit_signal = CommitSignal(pool, self.store.notify_channel)
        self.commands = IdempotentCommands(pool, SCHEMA, after_commit=self.commit_signal.poke)

    async def load_group(self, conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID) -> domain.Group:
        group = domain.group_from_events(_parsed(await self.store.read_stream(conn, domain.group_stream(group_id))))
        if group is None:
            raise NotFound("group", group_id)
        return group

    async def load_member(self, conn: asyncpg.Connection | asyncpg.Pool, member_id: uuid.UUID) -> domain.Member:
        events = await self.store.read_stream(conn, domain.member_stream(member_id))
        member = domain.member_from_events(_parsed(events), events[0].area if events else None)
        if member is None:
            raise NotFound("member", member_id)
        return member

    async def _append_responding(
        self, unit: CommandUnit, stream_id: str, expected_version: int, event: NewEvent, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """Append one event and store the 201 response under the request's key, in one statement."""
        [recorded] = await self.store.append(
            unit.conn, stream_id, expected_version, [event], record=unit.response(201, body)
        )
        return 201, body | {"position": {SCHEMA: recorded.position}}

    async def register_group(self, key: str, fingerprint: str, actor: Actor, fields: dict[str, Any]) -> CommandResult:
        check_area(fields["province_code"], fields["district_code"], fields.get("subdistrict_code"))

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
        decide: Callable[[domain.Member, domain.Group | None], tuple[EventPayload, dict[str, Any]]],
        *,
        needs_group: bool = False,
        entry_date: date | None = None,
    ) -> CommandResult:
        """Load the member (and its group), decide one event and the response, and append both in one
        statement (one round trip, atomic). The version check makes a concurrent command on the same
        member re-decide, so a balance can never be spent twice. An entry dated where a month could be
        closed first takes the group's month-close lock (shared) and is decided against the group's
        closed months, read after the lock."""

        async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
            conn = unit.conn
            member = await self.load_member(conn, member_id)
            if entry_date is None or not may_fall_in_a_closable_month(entry_date, today_in_thailand()):
                group = await self.load_group(conn, member.group_id) if needs_group else None
                event, body = decide(member, group)
                return await self._append_responding(
                    unit,
                    domain.member_stream(member_id),
                    member.version,
                    NewEvent(event, actor=actor, area=member.area),
                    body,
                )
            async with conn.transaction():
                await conn.execute(_MONTH_CLOSE_LOCK.format(mode="_shared"), str(member.group_id))
                group = await self.load_group(conn, member.group_id)
                event, body = decide(member, group)
                return await self._append_responding(
                    unit,
                    domain.member_stream(member_id),
                    member.version,
                    NewEvent(event, actor=actor, area=member.area),
                    body,
                )

        return await self.commands.execute(key, fingerprint, command)

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
                appends = [
                    StreamAppend(
                        domain.group_stream(group_id), group.version, [NewEvent(closed, actor=actor, area=group.area)]
                    )
                ]
                appends += [
                    StreamAppend(
                        domain.member_stream(m.member_id),
                        members[m.member_id].version,
                        [NewEvent(m, actor=actor, area=group.area)],
                    )
                    for m in missed
                ]
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
                recorded = await self.store.append_to_streams(conn, appends, record=unit.response(201, body))
            return 201, body | {"position": {SCHEMA: max(e.position for e in recorded)}}

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
        def decide(member: domain.Member, group: domain.Group | None) -> tuple[EventPayload, dict[str, Any]]:
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
        def decide(member: domain.Member, group: domain.Group | None) -> tuple[EventPayload, dict[str, Any]]:
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
        def decide(member: domain.Member, group: domain.Group | None) -> tuple[EventPayload, dict[str, Any]]:
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
            key, fingerprint, actor, member_id, decide, needs_group=True, entry_date=withdrawn_on
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
        def decide(member: domain.Member, _: domain.Group | None) -> tuple[EventPayload, dict[str, Any]]:
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
        def decide(member: domain.Member, group: domain.Group | None) -> tuple[EventPayload, dict[str, Any]]:
            closed_through = group.closed_through if group else None
            event = domain.exit_member(member, exited_on, reason, today_in_thailand(), closed_through)
            return event, {
                "member_id": str(member_id),
                "exited_on": exited_on.isoformat(),
                "paid_out": {
                    "sajja": format_baht(event.sajja_paid_out_satang),
                    "special": format_baht(event.special_paid_out_satang),
                    "total": format_baht(event.sajja_paid_out_satang + event.special_paid_out_satang),
                },
            }

        return await self._member_command(key, fingerprint, actor, member_id, decide, entry_date=exited_on)

    async def reverse(
        self, key: str, fingerprint: str, actor: Actor, member_id: uuid.UUID, transaction_id: uuid.UUID, reason: str
    ) -> CommandResult:
        def decide(member: domain.Member, _: domain.Group | None) -> tuple[EventPayload, dict[str, Any]]:
            event = domain.reverse(member, transaction_id, reason)
            return event, {
                "member_id": str(member_id),
                "transaction_id": str(transaction_id),
                "reversed_kind": event.reversed_kind,
                "account": event.account,
                "amount": format_baht(event.amount_satang),
                "balance": format_baht(member.balances[event.account] + event.balance_delta_satang),
            }

        return await self._member_command(key, fingerprint, actor, member_id, decide)

    async def erase_personal_data(
        self, key: str, fingerprint: str, actor: Actor, member_id: uuid.UUID
    ) -> CommandResult:
        """PDPA erasure: name, national ID and phone leave the register; events never held them."""

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
                body |= {"position": {SCHEMA: recorded.position}}
                await unit.record(201, body)
            return 201, body

        return await self.commands.execute(key, fingerprint, command)

    async def group_books(self, group_id: uuid.UUID, as_of: date) -> list[books.AccountBalance]:
        """The group's trial balance on `as_of` (by business date), from its money events."""
        await self.load_group(self.pool, group_id)
        rows = await self.pool.fetch(_GROUP_MONEY_EVENTS_SQL, str(group_id))
        posting_sets = []
        for row in rows:
            payload = json.loads(row["payload"])
            recorded_on = row["recorded_at"].astimezone(BANGKOK).date()
            if books.business_date(row["event_type"], payload, recorded_on) <= as_of:
                posting_sets.append(books.postings(row["event_type"], payload))
        return books.trial_balance(posting_sets)

    async def member_savings_total(self, group_id: uuid.UUID) -> dict[str, int]:
        """Sum of the members' balances as their own streams have them (independent of the books)."""
        totals: dict[str, int] = dict.fromkeys(domain.ACCOUNTS, 0)
        member_ids = await self.pool.fetch("select member_id from ledger.member_register where group_id = $1", group_id)
        for row in member_ids:
            member = await self.load_member(self.pool, row["member_id"])
            for account in domain.ACCOUNTS:
                totals[account] += member.balances[account]
        return totals


_GROUP_MEMBER_IDS_SQL = "select member_id from ledger.member_register where group_id = $1 order by member_id"

_GROUP_MONEY_EVENTS_SQL = """
    select event_type, payload::text as payload, recorded_at from ledger.events
    where payload->>'group_id' = $1
      and event_type in ('ledger.MemberEnrolled', 'ledger.SavingsDeposited', 'ledger.SavingsWithdrawn',
                         'ledger.TransactionReversed', 'ledger.MemberExited')
    order by position"""
