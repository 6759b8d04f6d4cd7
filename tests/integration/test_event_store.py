"""The event store on a real PostgreSQL: versions, conflicts, reads."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import asyncpg
import pytest

from libs.events.envelope import NewEvent
from libs.events.errors import ConcurrencyConflict
from libs.events.schemas.ledger import SavingsDeposited
from libs.events.store import EventStore, ResponseRecord, StoreMisuse, StreamAppend

STORE = EventStore("ledger")


def deposit_event(member_id: uuid.UUID, amount: int = 100) -> NewEvent:
    return NewEvent(
        SavingsDeposited(
            transaction_id=uuid.uuid4(),
            member_id=member_id,
            group_id=uuid.uuid4(),
            account="sajja",
            amount_satang=amount,
            deposited_on=date(2024, 1, 5),
            balance_after_satang=amount,
        )
    )


async def append(pool: asyncpg.Pool, stream: str, expected: int, *events: NewEvent) -> list[int]:
    async with pool.acquire() as conn, conn.transaction():
        return [e.stream_version for e in await STORE.append(conn, stream, expected, list(events))]


async def test_append_and_read_back(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    assert await append(pool, f"member-{member}", 0, deposit_event(member, 100), deposit_event(member, 200)) == [1, 2]
    assert await append(pool, f"member-{member}", 2, deposit_event(member, 300)) == [3]
    events = await STORE.read_stream(pool, f"member-{member}")
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [e.payload["amount_satang"] for e in events] == [100, 200, 300]
    assert events[0].position < events[1].position < events[2].position
    after = await STORE.read_all_after(pool, events[0].position)
    assert [e.event_id for e in after] == [events[1].event_id, events[2].event_id]


@pytest.mark.parametrize("expected", [0, 1, 3])
async def test_a_stale_or_future_expected_version_is_a_conflict(pool: asyncpg.Pool, expected: int) -> None:
    member = uuid.uuid4()
    await append(pool, f"member-{member}", 0, deposit_event(member), deposit_event(member))
    with pytest.raises(ConcurrencyConflict):
        await append(pool, f"member-{member}", expected, deposit_event(member))
    assert len(await STORE.read_stream(pool, f"member-{member}")) == 2


async def test_two_concurrent_writers_to_one_stream_get_exactly_one_conflict(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    stream = f"member-{member}"
    await append(pool, stream, 0, deposit_event(member))
    both_read = asyncio.Barrier(2)

    async def writer(amount: int) -> str:
        async with pool.acquire() as conn, conn.transaction():
            version = len(await STORE.read_stream(conn, stream))
            await both_read.wait()  # both decided on the same version before either writes
            try:
                await STORE.append(conn, stream, version, [deposit_event(member, amount)])
            except ConcurrencyConflict:
                return "conflict"
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            return "ok"

    outcomes = await asyncio.gather(writer(111), writer(222))
    assert sorted(outcomes) == ["conflict", "ok"]
    events = await STORE.read_stream(pool, stream)
    assert [e.stream_version for e in events] == [1, 2]


async def test_append_must_be_the_first_write_of_its_transaction(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    async with pool.acquire() as conn:
        with pytest.raises(StoreMisuse):
            async with conn.transaction():
                await conn.execute("insert into ledger.idempotency_keys values ('k', 'f', 200, '{}')")
                await STORE.append(conn, f"member-{member}", 0, [deposit_event(member)])


async def test_append_alone_is_one_atomic_statement(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
        written = await STORE.append(conn, f"member-{member}", 0, [deposit_event(member), deposit_event(member)])
        assert [e.stream_version for e in written] == [1, 2]
        with pytest.raises(ConcurrencyConflict):
            await STORE.append(conn, f"member-{member}", 1, [deposit_event(member)])
    assert len(await STORE.read_stream(pool, f"member-{member}")) == 2


async def test_the_response_is_stored_with_the_events_or_not_at_all(pool: asyncpg.Pool) -> None:
    from libs.events.store import ResponseRecord

    member = uuid.uuid4()
    async with pool.acquire() as conn:
        [event] = await STORE.append(
            conn, f"member-{member}", 0, [deposit_event(member)], record=ResponseRecord("k1", "f1", 201, {"a": 1})
        )
        with pytest.raises(ConcurrencyConflict):
            await STORE.append(
                conn, f"member-{member}", 0, [deposit_event(member)], record=ResponseRecord("k2", "f2", 201, {})
            )
    rows = await pool.fetch("select key, response::text as r from ledger.idempotency_keys order by key")
    assert [(r["key"], json.loads(r["r"])) for r in rows] == [("k1", {"a": 1, "position": {"ledger": event.position}})]


async def test_an_append_to_several_streams_lands_whole_or_not_at_all(pool: asyncpg.Pool) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await append(pool, f"member-{second}", 0, deposit_event(second))
    async with pool.acquire() as conn:
        recorded = await STORE.append_to_streams(
            conn,
            [
                StreamAppend(f"member-{first}", 0, [deposit_event(first, 1), deposit_event(first, 2)]),
                StreamAppend(f"member-{second}", 1, [deposit_event(second, 3)]),
            ],
        )
        assert [(e.stream_id, e.stream_version) for e in recorded] == [
            (f"member-{first}", 1),
            (f"member-{first}", 2),
            (f"member-{second}", 2),
        ]
        assert [e.position for e in recorded] == sorted(e.position for e in recorded)
        # One stale stream refuses the whole append, naming that stream.
        with pytest.raises(ConcurrencyConflict) as refused:
            await STORE.append_to_streams(
                conn,
                [
                    StreamAppend(f"member-{first}", 2, [deposit_event(first, 4)]),
                    StreamAppend(f"member-{second}", 1, [deposit_event(second, 5)]),
                ],
            )
        assert refused.value.stream_id == f"member-{second}" and refused.value.actual_version == 2
    assert [e.payload["amount_satang"] for e in await STORE.read_stream(pool, f"member-{first}")] == [1, 2]
    assert len(await STORE.read_stream(pool, f"member-{second}")) == 2


async def test_a_multi_stream_append_must_be_the_first_write_and_may_store_the_response(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("insert into ledger.idempotency_keys values ('k0', 'f', 201, '{}')")
            with pytest.raises(StoreMisuse):
                await STORE.append_to_streams(conn, [StreamAppend(f"member-{member}", 0, [deposit_event(member)])])
        [event] = await STORE.append_to_streams(
            conn,
            [StreamAppend(f"member-{member}", 0, [deposit_event(member)])],
            record=ResponseRecord("k1", "fp", 201, {"ok": True}),
        )
        stored = await conn.fetchrow("select fingerprint, response from ledger.idempotency_keys where key = 'k1'")
    assert stored["fingerprint"] == "fp"
    assert json.loads(stored["response"]) == {"ok": True, "position": {"ledger": event.position}}


async def test_a_database_migrated_before_the_shared_sql_was_edited_is_brought_level(pool: asyncpg.Pool) -> None:
    from libs.events.migrations import migrate

    async with pool.acquire() as conn:
        # What an early database looked like: the NOTIFY trigger, no held-back columns, and only 001 applied.
        await conn.execute(
            """create schema early;
            create table early.events (stream_id text, stream_version int);
            create function early.notify_events_appended() returns trigger language plpgsql as $$
                begin perform pg_notify('early_events', ''); return null; end $$;
            create trigger events_appended after insert on early.events
                for each statement execute function early.notify_events_appended();
            create table early.projector_streams (projector text, stream_id text, stream_version int,
                position bigint, primary key (projector, stream_id));
            create table early.schema_migrations (name text primary key, applied_at timestamptz default now());
            insert into early.schema_migrations (name) values ('events/001_event_store.sql');"""
        )
        applied = await migrate(conn, "early")
        assert "events/003_catch_up_early_schemas.sql" in applied
        columns = {
            r["column_name"]
            for r in await conn.fetch(
                "select column_name from information_schema.columns"
                " where table_schema = 'early' and table_name = 'projector_streams'"
            )
        }
        assert {"seen_version", "waiting_since"} <= columns
        assert not await conn.fetchval(
            "select count(*) from pg_trigger t join pg_class c on c.oid = t.tgrelid"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'early' and not t.tgisinternal"
        )
