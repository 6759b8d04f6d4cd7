"""The event store's bulk append (COPY) on a real PostgreSQL: versions checked, the relay's order kept."""

from __future__ import annotations

import json
import uuid
from datetime import date

import asyncpg
import pytest

from libs.events.envelope import Actor, Area, NewEvent
from libs.events.errors import ConcurrencyConflict
from libs.events.free_text import FreeText
from libs.events.schemas.ledger import MemberExited, SavingsDeposited
from libs.events.store import EventStore, RelayCursor, ResponseRecord, StoreMisuse, StreamAppend

STORE = EventStore("ledger")
AREA = Area(province_code="27", district_code="2701")


def deposit(member: uuid.UUID, amount: int) -> NewEvent:
    return NewEvent(
        SavingsDeposited(
            transaction_id=uuid.uuid4(),
            member_id=member,
            group_id=uuid.UUID(int=1),
            account="sajja",
            amount_satang=amount,
            deposited_on=date(2024, 1, 5),
            balance_after_satang=amount,
        ),
        actor=Actor(kind="user", id="officer"),
        area=AREA,
    )


async def test_a_bulk_append_keeps_versions_positions_texts_and_the_response(pool: asyncpg.Pool) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        await STORE.append(conn, f"member-{b}", 0, [deposit(b, 1)])
    reason = FreeText.of("reason", "ย้ายไปต่างจังหวัด")
    exited = NewEvent(
        MemberExited(
            member_id=a,
            group_id=uuid.UUID(int=1),
            exited_on=date(2024, 2, 1),
            sajja_paid_out_satang=30,
            special_paid_out_satang=0,
            reason_ref=reason.text_id,
        ),
        area=AREA,
    )
    prepared = STORE.prepare(
        [
            StreamAppend(f"member-{a}", 0, [deposit(a, 10), deposit(a, 20)]),
            StreamAppend(f"member-{b}", 1, [deposit(b, 2)]),
            StreamAppend(f"member-{a}", 2, [exited]),
        ]
    )
    # Streams may interleave; each stream's own events come in version order.
    assert [(e.stream_id, e.stream_version) for e in prepared] == [
        (f"member-{a}", 1),
        (f"member-{a}", 2),
        (f"member-{b}", 2),
        (f"member-{a}", 3),
    ]
    async with pool.acquire() as conn, conn.transaction():
        written = await STORE.append_bulk(
            conn, prepared, texts=[(f"member-{a}", reason)], record=ResponseRecord("bulk-1", "fp", 201, {"n": 4})
        )
    assert written.count == 4
    a_events = await STORE.read_stream(pool, f"member-{a}")
    b_events = await STORE.read_stream(pool, f"member-{b}")
    assert [e.payload.get("amount_satang") for e in a_events] == [10, 20, None]
    assert [e.event_id for e in a_events] == [prepared[0].event_id, prepared[1].event_id, prepared[3].event_id]
    assert a_events[0].actor == Actor(kind="user", id="officer") and a_events[0].area == AREA
    assert a_events[0].position < a_events[1].position < b_events[1].position < a_events[2].position
    assert written.last_position == a_events[2].position
    # What the relay reads: one transaction, in position order, so each stream in version order.
    relayed, _ = await _relay_read(pool)
    ours = [e for e in relayed if e.stream_id in (f"member-{a}", f"member-{b}")]
    assert [e.stream_id for e in ours] == [f"member-{b}", f"member-{a}", f"member-{a}", f"member-{b}", f"member-{a}"]
    text = await pool.fetchrow("select stream_id, field, body from ledger.free_text where text_id = $1", reason.text_id)
    assert dict(text) == {"stream_id": f"member-{a}", "field": "reason", "body": "ย้ายไปต่างจังหวัด"}
    stored = await pool.fetchval("select response::text from ledger.idempotency_keys where key = 'bulk-1'")
    assert json.loads(stored) == {"n": 4, "position": {"ledger": written.last_position}}


async def _relay_read(pool: asyncpg.Pool) -> tuple[list[object], RelayCursor]:
    async with pool.acquire() as conn:
        events, cursor = await STORE.read_for_relay(conn, RelayCursor(), 10_000)
    return list(events), cursor


@pytest.mark.parametrize(("first", "current"), [(2, 2), (1, 2), (4, 2)])
async def test_a_stream_not_at_the_expected_version_refuses_the_whole_bulk_append(
    pool: asyncpg.Pool, first: int, current: int
) -> None:
    moved, other = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        await STORE.append(conn, f"member-{moved}", 0, [deposit(moved, 1), deposit(moved, 2)])
        prepared = STORE.prepare([StreamAppend(f"member-{other}", 0, [deposit(other, 5)])])
        prepared += STORE.prepare([StreamAppend(f"member-{moved}", first - 1, [deposit(moved, 3)])])
        with pytest.raises(ConcurrencyConflict) as refused:
            await STORE.append_bulk(conn, prepared)
    assert refused.value.stream_id == f"member-{moved}"
    assert refused.value.expected_version == first - 1 and refused.value.actual_version == current
    assert await STORE.read_stream(pool, f"member-{other}") == []
    assert len(await STORE.read_stream(pool, f"member-{moved}")) == 2


async def test_a_bulk_append_needs_each_streams_versions_in_order_without_gaps(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    first, second = STORE.prepare([StreamAppend(f"member-{member}", 0, [deposit(member, 1), deposit(member, 2)])])
    async with pool.acquire() as conn:
        with pytest.raises(StoreMisuse):
            await STORE.append_bulk(conn, [second, first])
        with pytest.raises(StoreMisuse):
            await STORE.append_bulk(conn, [first, first])
    assert await STORE.read_stream(pool, f"member-{member}") == []


async def test_a_bulk_append_behind_a_newer_transactions_event_is_a_conflict(pool: asyncpg.Pool) -> None:
    """The relay publishes in (transaction id, position) order. A bulk transaction that began before another
    one appended version 1 of a stream must not append version 2 after it: the relay would publish version
    2 (the older transaction's) first."""
    member = uuid.uuid4()
    stream = f"member-{member}"
    async with pool.acquire() as bulk, pool.acquire() as other:
        async with bulk.transaction():
            await bulk.execute("select pg_current_xact_id()")  # the bulk transaction's id is the older one
            await STORE.append(other, stream, 0, [deposit(member, 1)])  # a newer transaction, committed
            prepared = STORE.prepare([StreamAppend(stream, 1, [deposit(member, 2)])])
            with pytest.raises(ConcurrencyConflict) as refused:
                await STORE.append_bulk(bulk, prepared)
            assert refused.value.stream_id == stream and refused.value.actual_version == 1
    assert [e.stream_version for e in await STORE.read_stream(pool, stream)] == [1]
    # A transaction that began after it may follow it.
    async with pool.acquire() as conn, conn.transaction():
        await STORE.append_bulk(conn, STORE.prepare([StreamAppend(stream, 1, [deposit(member, 2)])]))
    assert [e.stream_version for e in await STORE.read_stream(pool, stream)] == [1, 2]


async def test_bulk_appends_in_one_transaction_may_continue_each_others_streams(pool: asyncpg.Pool) -> None:
    member = uuid.uuid4()
    stream = f"member-{member}"
    async with pool.acquire() as conn, conn.transaction():
        await STORE.append_bulk(conn, STORE.prepare([StreamAppend(stream, 0, [deposit(member, 1)])]))
        second = await STORE.append_bulk(conn, STORE.prepare([StreamAppend(stream, 1, [deposit(member, 2)])]))
    events = await STORE.read_stream(pool, stream)
    assert [e.stream_version for e in events] == [1, 2] and second.last_position == events[1].position
