"""The relay on real PostgreSQL and a real broker: order, no skips under concurrent appends,
at-least-once on a crash, NOTIFY wake-up, republish."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events.kafka import ensure_topics, make_producer, topic_for
from libs.events.relay import Relay, published, reset_checkpoint
from libs.events.settings import Settings
from libs.events.store import EventStore, OutboundEvent, ResponseRecord, StreamAppend
from libs.events.wakeup import CommitSignal
from tests.conftest import Broker
from tests.integration.test_event_store import append, deposit_event
from tests.support.kafka import read_topic

STORE = EventStore("ledger")


@pytest.fixture
async def topic(settings: Settings, broker: Broker) -> str:
    name = topic_for("ledger", settings.topic_prefix)
    await ensure_topics(broker.bootstrap_servers, [name], partitions=6)
    return name


def make_relay(pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str, **kw: object) -> Relay:
    return Relay(
        pool, STORE, broker.bootstrap_servers, topic, lambda: make_producer(settings, broker.bootstrap_servers), **kw
    )  # type: ignore[arg-type]


async def publish_all(relay: Relay) -> int:
    producer = relay.producer_factory()
    await producer.start()
    try:
        total = 0
        while n := await relay.publish_batch(producer):
            total += n
        return total
    finally:
        await producer.stop()


async def test_an_event_committed_late_is_not_skipped(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    """The gap pitfall: A takes the lower position, B commits first. The relay must not publish past A."""
    relay = make_relay(pool, broker, settings, topic)
    a_member, b_member = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as slow:
        tx = slow.transaction()
        await tx.start()
        [a] = await STORE.append(slow, f"member-{a_member}", 0, [deposit_event(a_member)])
        [b_version] = await append(pool, f"member-{b_member}", 0, deposit_event(b_member))  # commits
        assert b_version == 1
        published_while_open = await publish_all(relay)
        await tx.commit()
    published_after = await publish_all(relay)
    events = await read_topic(broker.bootstrap_servers, topic, at_least=2)
    assert published_while_open == 0  # B waited behind the open transaction rather than overtaking it
    assert published_after == 2
    assert {e.stream_id for e in events} == {f"member-{a_member}", f"member-{b_member}"}
    assert a.position < next(e.position for e in events if e.stream_id == f"member-{b_member}")


async def test_an_older_transaction_committing_after_a_newer_one_is_not_skipped(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    relay = make_relay(pool, broker, settings, topic)
    a_member, b_member = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as first, pool.acquire() as second:
        tx_first, tx_second = first.transaction(), second.transaction()
        await tx_first.start()
        await tx_second.start()
        await STORE.append(first, f"member-{a_member}", 0, [deposit_event(a_member)])  # older transaction id
        await STORE.append(second, f"member-{b_member}", 0, [deposit_event(b_member)])
        await tx_second.commit()
        assert await publish_all(relay) == 0
        await tx_first.commit()
    assert await publish_all(relay) == 2
    events = await read_topic(broker.bootstrap_servers, topic, at_least=2)
    assert sorted(e.stream_id for e in events) == sorted([f"member-{a_member}", f"member-{b_member}"])


async def test_concurrent_appenders_lose_nothing_and_keep_stream_order(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    relay = make_relay(pool, broker, settings, topic, batch_size=50)
    members = [uuid.uuid4() for _ in range(8)]
    task = asyncio.create_task(relay.run())

    async def writer(member: uuid.UUID) -> None:
        for version in range(40):
            await append(pool, f"member-{member}", version, deposit_event(member, version + 1))

    await asyncio.gather(*(writer(m) for m in members))
    stored = await pool.fetchval("select count(*) from ledger.events")
    assert stored == 320
    events = await read_topic(broker.bootstrap_servers, topic, at_least=320, timeout=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    stored_ids = {r["event_id"] for r in await pool.fetch("select event_id from ledger.events")}
    assert {e.event_id for e in events} == stored_ids
    by_stream: dict[str, list[int]] = defaultdict(list)
    for e in events:
        by_stream[e.stream_id].append(e.stream_version)
    for versions in by_stream.values():
        assert versions == sorted(versions), "a stream's events arrived out of order"


async def test_a_crash_before_the_checkpoint_republishes_rather_than_skips(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    member = uuid.uuid4()
    await append(pool, f"member-{member}", 0, deposit_event(member), deposit_event(member))

    async def crash(events: list[OutboundEvent]) -> None:
        raise RuntimeError("process died after the broker acknowledged the batch")

    crashing = make_relay(pool, broker, settings, topic, after_send=crash)
    with pytest.raises(RuntimeError):
        await publish_all(crashing)
    await append(pool, f"member-{member}", 2, deposit_event(member))
    survivor = make_relay(pool, broker, settings, topic)
    assert await publish_all(survivor) == 3  # the two unconfirmed ones again, and the new one
    events = await read_topic(broker.bootstrap_servers, topic, at_least=5)
    assert [e.stream_version for e in events] == [1, 2, 1, 2, 3]  # duplicates, in order, none missing


async def test_notify_wakes_the_relay_without_waiting_for_a_poll(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    relay = make_relay(pool, broker, settings, topic, idle_check_seconds=120)
    signal = CommitSignal(pool, STORE.notify_channel)
    task = asyncio.create_task(relay.run())
    signal_task = asyncio.create_task(signal.run())
    try:
        for _ in range(100):
            if relay.status.leader and relay.status.cluster_id:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # the relay is now idle, waiting for a notification
        member = uuid.uuid4()
        await append(pool, f"member-{member}", 0, deposit_event(member))
        signal.poke()  # what a command does after its commit
        events = await read_topic(broker.bootstrap_servers, topic, at_least=1, timeout=10)
        assert [e.stream_id for e in events] == [f"member-{member}"]
    finally:
        task.cancel()
        signal_task.cancel()
        await asyncio.gather(task, signal_task, return_exceptions=True)


async def test_republish_sends_everything_again_from_the_start(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    relay = make_relay(pool, broker, settings, topic)
    member = uuid.uuid4()
    await append(pool, f"member-{member}", 0, deposit_event(member), deposit_event(member))
    assert await publish_all(relay) == 2
    assert await publish_all(relay) == 0  # resumes from its checkpoint
    async with pool.acquire() as conn:
        await reset_checkpoint(conn, "ledger", topic)
    assert await publish_all(relay) == 2
    events = await read_topic(broker.bootstrap_servers, topic, at_least=4)
    assert [e.stream_version for e in events] == [1, 2, 1, 2]


async def test_republish_requested_while_a_batch_is_in_flight_is_not_lost(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    member = uuid.uuid4()
    await append(pool, f"member-{member}", 0, deposit_event(member), deposit_event(member))
    relay = make_relay(pool, broker, settings, topic)
    assert await publish_all(relay) == 2
    await append(pool, f"member-{member}", 2, deposit_event(member))

    async def operator_republishes(events: list[OutboundEvent]) -> None:
        async with pool.acquire() as conn:
            await reset_checkpoint(conn, "ledger", topic)

    racing = make_relay(pool, broker, settings, topic, after_send=operator_republishes)
    producer = racing.producer_factory()
    await producer.start()
    try:
        assert await racing.publish_batch(producer) == 1  # the in-flight batch must not overwrite the reset
    finally:
        await producer.stop()
    assert await publish_all(relay) == 3  # everything again, from the start


async def _partition_ends(bootstrap: str, topic: str, records: int) -> dict[int, int]:
    """Per partition, the offset after its last record, once `records` have been read."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(6)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        ends: dict[int, int] = {}
        seen = 0
        deadline = time.monotonic() + 20
        while seen < records and time.monotonic() < deadline:
            for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                seen += len(batch)
                ends[tp.partition] = batch[-1].offset + 1
        return ends
    finally:
        await consumer.stop()


async def test_published_through_never_passes_an_open_transaction_and_its_offsets_hold_the_records(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str
) -> None:
    """Read your writes (libs/events/read_after.py): the checkpoint's `through` covers every event at or
    below it that ever commits — a lower position still in an open transaction holds it back — and the
    offsets kept with it are where the broker put the records (batches smaller than the backlog)."""
    relay = make_relay(pool, broker, settings, topic, batch_size=7)
    members = [uuid.uuid4() for _ in range(31)]
    positions = []
    for member in members[:29]:
        async with pool.acquire() as conn, conn.transaction():
            positions += [e.position for e in await STORE.append(conn, f"member-{member}", 0, [deposit_event(member)])]
    producer = relay.producer_factory()
    await producer.start()
    try:
        assert await relay.publish_batch(producer) == 7  # a full batch: the rest is not published yet
    finally:
        await producer.stop()
    assert (await published(pool, "ledger", topic)).through < positions[7]
    async with pool.acquire() as slow, pool.acquire() as quick:
        tx = slow.transaction()
        await tx.start()
        [held] = await STORE.append(slow, f"member-{members[29]}", 0, [deposit_event(members[29])])
        async with quick.transaction():
            [later] = await STORE.append(quick, f"member-{members[30]}", 0, [deposit_event(members[30])])
        assert await publish_all(relay) == 22
        assert (await published(pool, "ledger", topic)).through < held.position < later.position
        await tx.commit()
    assert await publish_all(relay) == 2
    producer = relay.producer_factory()
    await producer.start()
    try:
        deadline = time.monotonic() + 10
        while (mark := await published(pool, "ledger", topic)).through < later.position:
            assert time.monotonic() < deadline, mark
            await relay.publish_batch(producer)  # a pass past the horizon moves `through`
            await asyncio.sleep(0.01)
    finally:
        await producer.stop()
    assert mark.offsets == await _partition_ends(broker.bootstrap_servers, topic, 31)
    assert sum((mark.offsets or {}).values()) == 31


async def _append_one(pool: asyncpg.Pool, way: str, member: uuid.UUID, hold: bool = False) -> int:
    """One deposit to `member`'s new stream through one of the store's append paths; its position."""
    stream, event = f"member-{member}", deposit_event(member)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"set local sajja.hold = '{'on' if hold else 'off'}'")
        if way == "append":
            recorded = await STORE.append(conn, stream, 0, [event])
        elif way == "append with its response":
            record = ResponseRecord(str(uuid.uuid4()), "fingerprint", 201, {})
            recorded = await STORE.append(conn, stream, 0, [event], record=record)
        elif way == "append_to_streams":
            recorded = await STORE.append_to_streams(conn, [StreamAppend(stream, 0, [event])])
        else:
            await STORE.append_bulk(conn, STORE.prepare([StreamAppend(stream, 0, [event])]))
            return int(await conn.fetchval("select position from ledger.events where stream_id = $1", stream))
    return recorded[0].position


@pytest.mark.parametrize("way", ["append", "append with its response", "append_to_streams", "append_bulk"])
async def test_a_position_drawn_is_not_published_through_before_its_transaction_has_an_id(
    pool: asyncpg.Pool, broker: Broker, settings: Settings, topic: str, way: str
) -> None:
    """The relay's probe counts every position drawn before it as belonging to a transaction older than the next
    transaction id. An append that draws its position before its transaction has an id breaks that: `through` ran
    past an uncommitted deposit and a balance read with ?after= answered 0.00 (seen in the make-run e2e test; the
    row's defaults drew the position, then the id, and a process preempted between the two left that window).
    Here the window is held open: a column whose default waits on a lock comes between `position` and
    `xact_id` (dropped and added again after it), for the held stream's append only."""
    held = uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            """create function ledger.hold() returns int language plpgsql as $$
                begin
                    if current_setting('sajja.hold', true) = 'on' then
                        perform pg_advisory_lock_shared(4242); perform pg_advisory_unlock_shared(4242);
                    end if;
                    return 0;
                end $$;
            alter table ledger.events add column hold int default ledger.hold();
            alter table ledger.events drop column xact_id;
            alter table ledger.events add column xact_id xid8 not null default pg_current_xact_id();
            create index events_relay_order on ledger.events (xact_id, position)"""
        )
    # nextval() gives its transaction an id when it writes the sequence to the WAL (every 32 values, and first
    # after a checkpoint): an append first, so that the held one's draws a value already logged, as most do.
    earlier = await _append_one(pool, "append", uuid.uuid4())
    relay = make_relay(pool, broker, settings, topic)
    async with pool.acquire() as gate:
        await gate.execute("select pg_advisory_lock(4242)")
        appending = asyncio.create_task(_append_one(pool, way, held, hold=True))
        deadline = time.monotonic() + 10
        while not await pool.fetchval("select count(*) from pg_locks where locktype = 'advisory' and not granted"):
            assert time.monotonic() < deadline and not appending.done(), "the append never waited"
            await asyncio.sleep(0.01)
        drawn = await pool.fetchval("select last_value from ledger.events_position_seq")
        # The held transaction has the newest id, and no later one has completed: the snapshot's xmax is that
        # id, and its xmin does not hold back on it (xmax is not the next id to be assigned).
        for _ in range(3):
            await publish_all(relay)
        through_alone = (await published(pool, "ledger", topic)).through
        later = await _append_one(pool, "append", uuid.uuid4())  # commits while the held one is open
        for _ in range(3):
            await publish_all(relay)
        through = (await published(pool, "ledger", topic)).through
        await gate.execute("select pg_advisory_unlock(4242)")
        position = await appending
    assert earlier < position == drawn < later
    assert through_alone < position, f"published through {through_alone} while position {position} was open"
    assert through < position, f"published through {through} while position {position} was open"
    producer = relay.producer_factory()
    await producer.start()
    try:
        deadline = time.monotonic() + 10
        while (mark := await published(pool, "ledger", topic)).through < later:
            assert time.monotonic() < deadline, mark
            await relay.publish_batch(producer)
            await asyncio.sleep(0.01)
    finally:
        await producer.stop()
    events = await read_topic(broker.bootstrap_servers, topic, at_least=3)
    assert {e.position for e in events} == {earlier, position, later}


async def test_event_topics_keep_their_whole_history(topic: str, broker: Broker) -> None:
    """Kafka drops records after 7 days by default; an event topic is replayed from its start by every new
    read model and rebuild, so the services make it with no time or size retention."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [(_, _, _, _, entries)] = answer.resources
    configs = {entry[0]: entry[1] for entry in entries}
    assert (configs.get("retention.ms"), configs.get("retention.bytes")) == ("-1", "-1"), configs
