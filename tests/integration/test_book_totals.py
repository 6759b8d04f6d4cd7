"""The books' day totals (services/ledger/book_totals.py), which the trial balance and every cash check read,
are the money events' own postings summed: after every kind of money command, side by side and retried, on
every date, and when built afterwards for a database that had money events before the totals existed."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

import asyncpg
import httpx

from libs.events.envelope import BANGKOK
from libs.events.money import format_baht
from services.ledger import book_totals, books
from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post

settings, database_url, broker, running = shared_platform()

_MONEY_SQL = """
    select event_type, payload::text as payload, recorded_at from ledger.events
    where payload->>'group_id' = $1 and event_type = any($2::text[])"""


async def _folded(conn: asyncpg.Connection, group_id: str, as_of: date) -> dict[str, tuple[str, str]]:
    """(debit, credit) per account from the group's money events, one by one: what the totals must equal."""
    sets = []
    for row in await conn.fetch(_MONEY_SQL, group_id, list(books.MONEY_EVENTS)):
        payload = json.loads(row["payload"])
        on = books.business_date(row["event_type"], payload, row["recorded_at"].astimezone(BANGKOK).date())
        if on <= as_of:
            sets.append(books.postings(row["event_type"], payload))
    return {b.account: (format_baht(b.debit_satang), format_baht(b.credit_satang)) for b in books.trial_balance(sets)}


async def _shown(client: httpx.AsyncClient, group_id: str, as_of: date) -> dict[str, tuple[str, str]]:
    answer = await client.get(f"/ledger/v1/groups/{group_id}/trial-balance", params={"as_of": as_of.isoformat()})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["balanced"], body
    return {a["code"]: (a["debit"], a["credit"]) for a in body["accounts"]}


async def _a_group_with_every_kind_of_money(client: httpx.AsyncClient) -> str:
    gid: str = (await new_group(client, rules={"entrance_fee": "20.00"}))["group_id"]
    first = (await new_member(client, gid, joined_on="2024-01-03"))["member_id"]
    second = (await new_member(client, gid, joined_on="2024-02-01"))["member_id"]

    async def deposit(member: str, account: str, amount: str, on: str, key: str | None = None) -> dict[str, Any]:
        body = {"account": account, "amount": amount, "deposited_on": on}
        answer = await post(client, f"/ledger/v1/members/{member}/deposits", body, key=key)
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    # Side by side, both members and both accounts over several days: the totals' rows are shared.
    await asyncio.gather(
        *(
            deposit(m, account, f"{100 + day}.00", f"2024-0{month}-{day:02d}")
            for m in (first, second)
            for account in ("sajja", "special")
            for month in (2, 3)
            for day in (5, 6)
        )
    )
    # A retry with the same key posts nothing more.
    await deposit(first, "special", "70.00", "2024-03-07", key=f"retry-{gid}")
    await deposit(first, "special", "70.00", "2024-03-07", key=f"retry-{gid}")
    mistaken = await deposit(second, "special", "55.00", "2024-03-08")
    undone = await post(
        client, f"/ledger/v1/members/{second}/reversals", {"transaction_id": mistaken["transaction_id"], "reason": "ซ้ำ"}
    )
    assert undone.status_code == 201, undone.text
    taken = await post(
        client,
        f"/ledger/v1/members/{first}/withdrawals",
        {"account": "special", "amount": "30.00", "withdrawn_on": "2024-03-10"},
    )
    assert taken.status_code == 201, taken.text
    entry = {
        "posted_on": "2024-03-31",
        "memo": "ดอกเบี้ยเงินฝากธนาคาร",
        "lines": [{"account": "1010", "debit": "12.50"}, {"account": "4030", "credit": "12.50"}],
    }
    assert (await post(client, f"/ledger/v1/groups/{gid}/journal-entries", entry)).status_code == 201
    left = await post(client, f"/ledger/v1/members/{second}/exit", {"exited_on": "2024-04-02"})
    assert left.status_code == 201, left.text
    return gid


DAYS = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 2, 5), date(2024, 3, 7), date(2024, 3, 31), date.max]


async def test_the_trial_balance_equals_the_money_events_on_every_date(
    client: httpx.AsyncClient, database_url: str
) -> None:
    gid = await _a_group_with_every_kind_of_money(client)
    conn = await asyncpg.connect(database_url)
    try:
        for day in DAYS:
            assert await _shown(client, gid, day) == await _folded(conn, gid, day), day
        # Not trivially equal: the books moved between the dates asked.
        assert await _shown(client, gid, DAYS[0]) != await _shown(client, gid, DAYS[-1])
        assert (await _shown(client, gid, date.max))["1010"] != ("0.00", "0.00")
        # As a file a committee prints: each balance on its side, and equal totals.
        csv_text = (
            await client.get(f"/ledger/v1/groups/{gid}/trial-balance", params={"format": "csv"})
        ).content.decode("utf-8-sig")
        total = next(line for line in csv_text.splitlines() if line.startswith(",รวม,"))
        _, _, debit, credit = total.split(",")
        assert debit == credit and debit != "0.00"
    finally:
        await conn.close()


async def test_totals_are_built_once_for_money_events_written_before_they_existed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    gid = await _a_group_with_every_kind_of_money(client)
    before = {day: await _shown(client, gid, day) for day in DAYS}
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        # As a database upgraded from before the totals: events, no totals, not built.
        await pool.execute("truncate ledger.group_book_days")
        await pool.execute("update ledger.group_books_state set built_at = null")
        emptied = await _shown(client, gid, date.max)
        assert all(pair == ("0.00", "0.00") for pair in emptied.values())
        await book_totals.build_once(pool)
        assert {day: await _shown(client, gid, day) for day in DAYS} == before
        # Built once: a later start reads no events (a total changed by hand here stays as it is).
        assert await pool.fetchval("select built_at is not null from ledger.group_books_state")
        nudge = """update ledger.group_book_days
                   set debit_satang = debit_satang + $2, credit_satang = credit_satang + $2
                   where ctid = (select ctid from ledger.group_book_days where group_id = $1::uuid limit 1)"""
        await pool.execute(nudge, gid, 1)
        await book_totals.build_once(pool)
        assert await _shown(client, gid, date.max) != before[date.max]
        # The reconciliation audits the totals against the events: a drift shows, and names its account.
        drifted = (await client.get(f"/ledger/v1/groups/{gid}/reconciliation")).json()
        assert drifted["books_match_events"] is False and not drifted["reconciled"]
        assert len(drifted["accounts_not_matching"]) == 1
        await pool.execute(nudge, gid, -1)
        assert await _shown(client, gid, date.max) == before[date.max]
        settled = (await client.get(f"/ledger/v1/groups/{gid}/reconciliation")).json()
        assert settled["books_match_events"] is True and settled["reconciled"], settled
    finally:
        await pool.close()
