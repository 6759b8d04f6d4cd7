"""The ledger keeps each group as last read and reads only the events since (a posting loads the group, and a
year's stream read whole cost a fifth of the ledger's CPU): the state it gives is the whole stream's, and what
a transaction read of its own writes is never kept."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg

from libs.events.envelope import Actor, NewEvent
from libs.events.schemas.ledger import GroupRegistered, GroupRules, MonthClosed
from libs.events.settings import Settings
from services.ledger import domain
from services.ledger.handlers import LedgerHandlers, _parsed

ACTOR = Actor(kind="user", id="officer")


def closed(group_id: uuid.UUID, month: date) -> NewEvent:
    return NewEvent(
        MonthClosed(group_id=group_id, month=month, members_due=0, members_missed=0, due_satang=0, paid_satang=0),
        actor=ACTOR,
    )


async def test_a_group_read_again_is_its_kept_state_and_the_events_since(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    handlers = LedgerHandlers(pool, settings)
    store = handlers.store
    group_id = uuid.uuid4()
    stream = domain.group_stream(group_id)
    registered = GroupRegistered(
        group_id=group_id, name="บ้านหนองบัว", province_code="27", district_code="2701", founded_on=date(2000, 1, 1),
        rules=GroupRules(),
    )  # fmt: skip

    async def whole() -> domain.Group | None:
        return domain.group_from_events(_parsed(await store.read_stream(pool, stream)))

    async with pool.acquire() as conn:
        await store.append(conn, stream, 0, [NewEvent(registered, actor=ACTOR)])
    first = await handlers.load_group(pool, group_id)
    assert first == await whole() and handlers._groups[group_id] is first
    async with pool.acquire() as conn:
        await store.append(conn, stream, 1, [closed(group_id, date(2024, 1, 1)), closed(group_id, date(2024, 2, 1))])
    again = await handlers.load_group(pool, group_id)
    assert again == await whole() and again.version == 3 and again.closed_through == date(2024, 2, 1)
    # A transaction that reads its own (uncommitted) close, then rolls back: what it read is not kept.
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        await store.append(conn, stream, 3, [closed(group_id, date(2024, 3, 1))])
        assert (await handlers.load_group(conn, group_id)).version == 4
        await transaction.rollback()
    after = await handlers.load_group(pool, group_id)
    assert after == await whole() and after.version == 3 and after.closed_through == date(2024, 2, 1)
