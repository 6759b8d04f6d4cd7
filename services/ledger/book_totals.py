"""Each group's books kept as totals per account and business day, written in the same transaction as the
money events they come from (the event store's append hook). A trial balance or the group's cash then
costs the accounts × days of the group, not every money event it ever had.

The totals are exact by construction: every append path runs the hook, and a database that had money events
before this table existed is built once, under a lock that holds off every append meanwhile (`build_once`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import date, datetime

import asyncpg

from libs.events.envelope import BANGKOK
from libs.events.store import OFF_LOOP_EVENTS, AppendedFact, AppendHook
from services.ledger import books

log = logging.getLogger("sajja.ledger.book_totals")

# (group, account, business date, closing): closing entries — a profit allocation closing the period's income and
# expenses — are kept apart, so an income statement of the period still shows what it earned and spent.
DayKey = tuple[uuid.UUID, str, date, bool]
CLOSING_EVENT = "ledger.DividendsAllocated"


def day_totals(facts: Iterable[AppendedFact]) -> dict[DayKey, list[int]]:
    """[debit, credit] per group, account and business day of some money events. Pure."""
    totals: dict[DayKey, list[int]] = {}
    # An import's facts share their groups and their recorded time: each parsed once.
    group_ids: dict[str, uuid.UUID] = {}
    recorded_on: dict[datetime, date] = {}
    for fact in facts:
        group = fact.payload.get("group_id")
        if group is None:
            continue
        group_id = group_ids.get(group) or group_ids.setdefault(group, uuid.UUID(str(group)))
        day = recorded_on.get(fact.recorded_at) or recorded_on.setdefault(
            fact.recorded_at, fact.recorded_at.astimezone(BANGKOK).date()
        )
        on = books.business_date(fact.event_type, fact.payload, day)
        closes = fact.event_type == CLOSING_EVENT
        for p in books.postings(fact.event_type, fact.payload):
            if p.debit_satang or p.credit_satang:
                closing = closes and books.is_profit_account(p.account)
                entry = totals.setdefault((group_id, p.account, on, closing), [0, 0])
                entry[0] += p.debit_satang
                entry[1] += p.credit_satang
    return totals


_ADD_SQL = """
    insert into ledger.group_book_days as d (group_id, account, business_date, closing, debit_satang, credit_satang)
    select * from unnest($1::uuid[], $2::text[], $3::date[], $4::boolean[], $5::bigint[], $6::bigint[])
    on conflict (group_id, account, business_date, closing) do update
        set debit_satang = d.debit_satang + excluded.debit_satang,
            credit_satang = d.credit_satang + excluded.credit_satang"""


async def _add(conn: asyncpg.Connection, totals: dict[DayKey, list[int]]) -> None:
    if not totals:
        return
    # In key order: two transactions touching the same rows take their locks in the same order (no deadlock).
    keys = sorted(totals)
    await conn.execute(
        _ADD_SQL,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [k[3] for k in keys],
        [totals[k][0] for k in keys],
        [totals[k][1] for k in keys],
    )


async def _record(conn: asyncpg.Connection, facts: list[AppendedFact]) -> None:
    if len(facts) < OFF_LOOP_EVENTS:
        await _add(conn, day_totals(facts))
    else:  # an import's chunk: CPU, kept off the event loop
        await _add(conn, await asyncio.to_thread(day_totals, facts))


BOOKS_HOOK = AppendHook(frozenset(books.MONEY_EVENTS), _record)


async def trial_balance(
    conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID, as_of: date
) -> list[books.AccountBalance]:
    """The group's trial balance on `as_of` (by business date): every account of the chart."""
    rows = await conn.fetch(
        """select account, sum(debit_satang)::bigint as debit, sum(credit_satang)::bigint as credit
           from ledger.group_book_days where group_id = $1 and business_date <= $2 group by account""",
        group_id,
        as_of,
    )
    sums = {r["account"]: (r["debit"], r["credit"]) for r in rows}
    return [books.AccountBalance(code, *sums.get(code, (0, 0))) for code in books.CHART]


async def period_profit_and_loss(
    conn: asyncpg.Connection | asyncpg.Pool, group_id: uuid.UUID, first: date, last: date
) -> list[books.AccountBalance]:
    """Each income (4xxx) and expense (5xxx) account's debits and credits between two business dates, closing
    entries left out: what the period earned and spent."""
    rows = await conn.fetch(
        """select account, sum(debit_satang)::bigint as debit, sum(credit_satang)::bigint as credit
           from ledger.group_book_days
           where group_id = $1 and business_date between $2 and $3 and not closing
             and left(account, 1) in ('4', '5')
           group by account order by account""",
        group_id,
        first,
        last,
    )
    return [books.AccountBalance(r["account"], r["debit"], r["credit"]) for r in rows]


async def cash(conn: asyncpg.Connection, group_id: uuid.UUID) -> int:
    """The cash the group's books hold, whatever the dates of its entries (debit-normal)."""
    value = await conn.fetchval(
        """select coalesce(sum(debit_satang - credit_satang), 0)::bigint from ledger.group_book_days
           where group_id = $1 and account = $2""",
        group_id,
        books.CASH,
    )
    return int(value)


_MONEY_EVENTS_SQL = """
    select position, event_type, payload::text as payload, recorded_at from ledger.events
    where event_type = any($1::text[]) and position > $2 order by position limit $3"""


async def build_once(pool: asyncpg.Pool, batch: int = 20_000) -> None:
    """Totals for the money events written before the table existed (once per database). Appends wait on the
    table lock meanwhile, and whatever they wrote before it is in the events read here: the totals are
    rebuilt from nothing, so a hook's earlier additions are not counted twice."""
    if await pool.fetchval("select built_at is not null from ledger.group_books_state"):
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("lock table ledger.events in share row exclusive mode")
        if await conn.fetchval("select built_at is not null from ledger.group_books_state for update"):
            return  # another process built them while this one waited
        # DELETE, not TRUNCATE: TRUNCATE's exclusive lock would wait on a cash check that read the totals and now
        # waits on the events' lock held here (a deadlock); DELETE only waits on writers, and none can write.
        await conn.execute("delete from ledger.group_book_days")
        after, count = 0, 0
        types = list(books.MONEY_EVENTS)
        while rows := await conn.fetch(_MONEY_EVENTS_SQL, types, after, batch):
            facts = (AppendedFact(r["event_type"], json.loads(r["payload"]), r["recorded_at"]) for r in rows)
            await _add(conn, day_totals(facts))
            after, count = rows[-1]["position"], count + len(rows)
        await conn.execute("update ledger.group_books_state set built_at = now()")
        log.info("group books: day totals built from %d money events", count)
