"""Figures 2 and 3: the relay publishing a pre-loaded store, the projector applying the topic.

Pre-load: MEMBERS member streams × DEPOSITS SavingsDeposited each, interleaved (version 1 of every
member, then version 2, …) as deposits arrive in real life, written with COPY in transactions of
1,000 rows in the store's own row format (same JSON texts as EventStore.append writes).

Relay: Relay.publish_batch in a loop (the relay's own batch size and producer) until nothing is left.
Baseline: a plain AIOKafkaProducer (same acks/linger/batch size) sending the very same keys, values
and headers to the same partitions with send_batch, pipelined, as fast as it goes.

Projector: a Projector running services.reporting.projections.MemberBalances from the start of the
relay's topic until status.applied == N. Baseline: a plain AIOKafkaConsumer in its own group on the
same topic, getmany + json.loads of each value. Both timed from partition assignment to the last event.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections import defaultdict
from datetime import date, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from bench.common import POOL_SIZE, Comparison, CpuMeter, Side, bench_settings, fresh_database, progress
from libs.events.envelope import Actor, Area
from libs.events.ids import new_id
from libs.events.kafka import ensure_topics, event_headers, make_consumer, make_producer, topic_for
from libs.events.runtime import Platform
from libs.events.schemas.ledger import SavingsDeposited
from libs.events.store import EventStore
from services.reporting.projections import MemberBalances

COPY_CHUNK = 1000
COLUMNS = [
    "stream_id", "stream_version", "event_id", "event_type", "schema_version", "occurred_at", "actor",
    "correlation_id", "causation_id", "area", "payload", "traceparent", "tracestate",
]  # fmt: skip


async def preload(pool: asyncpg.Pool, members: int, deposits: int) -> int:
    """Fill ledger.events; returns the sum of amounts, to check the projection against."""
    actor = Actor(kind="user", id="anonymous").model_dump_json()
    area = Area(province_code="27", district_code="2701").model_dump_json()
    group = new_id()
    ids = [new_id() for _ in range(members)]
    now = datetime.now().astimezone()
    total = 0
    rows: list[tuple[Any, ...]] = []
    with progress() as bar:
        task = bar.add_task("pre-load ledger.events (COPY)", total=members * deposits)
        for version in range(1, deposits + 1):
            for i, member in enumerate(ids):
                amount = 100 * (1 + (i + version) % 50)
                total += amount
                payload = SavingsDeposited(
                    transaction_id=new_id(),
                    member_id=member,
                    group_id=group,
                    account="special" if (i + version) % 3 == 0 else "sajja",
                    amount_satang=amount,
                    deposited_on=date(2024, 1, 5),
                    balance_after_satang=amount * version,
                ).model_dump_json()
                # Events appended over HTTP carry the request's trace context (W3C traceparent).
                traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
                rows.append((f"member-{member}", version, new_id(), "ledger.SavingsDeposited", 1, now, actor,
                             None, None, area, payload, traceparent, None))  # fmt: skip
                if len(rows) == COPY_CHUNK:
                    await pool.copy_records_to_table("events", schema_name="ledger", records=rows, columns=COLUMNS)
                    bar.advance(task, len(rows))
                    rows = []
        if rows:
            await pool.copy_records_to_table("events", schema_name="ledger", records=rows, columns=COLUMNS)
    return total


async def _watch(label: str, total: int, value: Any, done: asyncio.Future[Any] | None = None) -> None:
    with progress() as bar:
        task = bar.add_task(label, total=total)
        while value() < total and not (done is not None and done.done()):
            bar.update(task, completed=value())
            await asyncio.sleep(0.1)


async def relay_figure(
    pool: asyncpg.Pool, platform: Platform, topic: str, raw_topic: str, n: int, groups: dict[str, list[int]]
) -> Comparison:
    settings = platform.settings
    await ensure_topics(platform.bootstrap_servers, [topic, raw_topic], settings.topic_partitions)
    store = EventStore("ledger")
    relay = platform.relay(store, topic)

    producer = make_producer(settings, platform.bootstrap_servers)
    await producer.start()
    published = 0
    try:
        watcher = asyncio.create_task(_watch("Relay.publish_batch loop", n, lambda: published))
        with CpuMeter(groups) as cpu:
            start = time.perf_counter()
            while count := await relay.publish_batch(producer):
                published += count
            elapsed = time.perf_counter() - start
        watcher.cancel()
    finally:
        await producer.stop()
    pending = await relay.pending()
    ours = Side("Relay.publish_batch", published, round(elapsed, 3), round(published / elapsed, 1), cpu_cores=cpu.cores)
    ours.extra = {"batch_size": relay.batch_size, "pending_after": pending}

    # Baseline: the same records (bytes, keys, headers, partitions), prepared before the clock starts.
    events = []
    position = 0
    while batch := await store.read_all_after(pool, position, 10_000):
        events += batch
        position = batch[-1].position
    partitioner = DefaultPartitioner()
    by_partition: dict[int, list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = defaultdict(list)
    parts = list(range(settings.topic_partitions))
    for event in events:
        key = event.stream_id.encode()
        by_partition[partitioner(key, parts, parts)].append((key, event.to_json(), event_headers(event)))
    raw = AIOKafkaProducer(
        bootstrap_servers=platform.bootstrap_servers, acks="all", linger_ms=2, max_batch_size=256 * 1024
    )
    await raw.start()
    try:
        await raw.partitions_for(raw_topic)
        with CpuMeter(groups) as raw_cpu:
            start = time.perf_counter()

            async def send_partition(partition: int, records: list[tuple[bytes, bytes, Any]]) -> None:
                futures = []
                batch = raw.create_batch()
                for key, value, headers in records:
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        batch.close()
                        futures.append(await raw.send_batch(batch, raw_topic, partition=partition))
                        batch = raw.create_batch()
                        batch.append(key=key, value=value, timestamp=None, headers=headers)
                batch.close()
                futures.append(await raw.send_batch(batch, raw_topic, partition=partition))
                await asyncio.gather(*futures)

            await asyncio.gather(*(send_partition(p, r) for p, r in by_partition.items()))
            raw_elapsed = time.perf_counter() - start
    finally:
        await raw.stop()
    baseline = Side(
        "aiokafka send_batch", len(events), round(raw_elapsed, 3), round(len(events) / raw_elapsed, 1),
        cpu_cores=raw_cpu.cores,
    )  # fmt: skip
    return Comparison(
        key="relay",
        title="Relay publish (events/s)",
        ours=ours,
        baseline=baseline,
        target="—",
        notes=[
            f"{n} pre-loaded events; ours reads PostgreSQL, serialises, sends per partition, saves the checkpoint",
            "baseline: same keys/values/headers/partitions, bytes prepared beforehand, send_batch pipelined",
        ],
    )


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.at: float | None = None

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            await self.consumer.seek_to_beginning(tp)
        if self.at is None:  # timed from the first assignment (a later rejoin would make the time negative)
            self.at = time.perf_counter()


async def projector_figure(
    pool: asyncpg.Pool, platform: Platform, topic: str, n: int, amount_total: int, groups: dict[str, list[int]]
) -> Comparison:
    balances = MemberBalances(topic, "reporting")
    projector = platform.projector("reporting", balances)
    assigned_at: float | None = None
    with CpuMeter(groups) as cpu:
        started = time.perf_counter()
        task = asyncio.create_task(projector.run())
        with progress() as bar:
            bar_task = bar.add_task("Projector(MemberBalances)", total=n)
            while projector.status.applied < n and not task.done():
                if assigned_at is None and projector.status.assigned:
                    assigned_at = time.perf_counter()
                bar.update(bar_task, completed=projector.status.applied)
                await asyncio.sleep(0.005)
        finished = time.perf_counter()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if projector.status.error:
        raise RuntimeError(f"projector failed: {projector.status.error}")
    assert assigned_at is not None
    elapsed = finished - assigned_at
    projected = await pool.fetchrow(
        "select count(*) as members, coalesce(sum(sajja_satang + special_satang), 0) as total"
        " from reporting.member_balances"
    )
    ours = Side(
        "Projector + MemberBalances", projector.status.applied, round(elapsed, 3),
        round(projector.status.applied / elapsed, 1), cpu_cores=cpu.cores,
        extra={
            "join_seconds": round(assigned_at - started, 3),
            "duplicates": projector.status.duplicates,
            "members": projected["members"],
            "balances_match_store": projected["total"] == amount_total,
        },
    )  # fmt: skip

    consumer = make_consumer(platform.settings, platform.bootstrap_servers, "bench.raw-consumer")
    listener = _Assigned(consumer)
    seen: set[tuple[int, int]] = set()
    received = 0
    first_asked_at: float | None = None
    with CpuMeter(groups) as raw_cpu:
        started = time.perf_counter()
        await consumer.start()
        try:
            consumer.subscribe([topic], listener=listener)
            with progress() as bar:
                bar_task = bar.add_task("aiokafka getmany + json.loads", total=n)
                while len(seen) < n:
                    asked_at = time.perf_counter()
                    batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                    if batch and first_asked_at is None:
                        first_asked_at = asked_at
                    for tp, records in batch.items():
                        for record in records:
                            json.loads(record.value or b"")
                            seen.add((tp.partition, record.offset))
                        received += len(records)
                    bar.update(bar_task, completed=len(seen))
            finished = time.perf_counter()
        finally:
            await consumer.stop()
    assert listener.at is not None and first_asked_at is not None
    # aiokafka fetches as soon as the assignment is set, before the listener's callback has finished: with few
    # records they can all be read before it returns. Timed from whichever came first.
    assigned_at = min(listener.at, first_asked_at)
    raw_elapsed = finished - assigned_at
    baseline = Side(
        "aiokafka getmany + json.loads", len(seen), round(raw_elapsed, 3), round(len(seen) / raw_elapsed, 1),
        cpu_cores=raw_cpu.cores,
        extra={"join_seconds": round(assigned_at - started, 3), "records_received": received},
    )  # fmt: skip
    return Comparison(
        key="projector",
        title="Projector apply (events/s)",
        ours=ours,
        baseline=baseline,
        target="≥ 20,000 events/s",
        notes=[
            "both timed from partition assignment (group join excluded, shown as join_seconds) to the N-th event;"
            f" redelivered after assignment: ours {ours.extra['duplicates']:,} (skipped as duplicates),"
            f" baseline {received - len(seen):,}",
            f"max_batch={projector.max_batch}; balances checked against the store: "
            f"{'match' if ours.extra['balances_match_store'] else 'MISMATCH'}",
        ],
    )


async def run(
    admin_dsn: str, bootstrap: str, pids: dict[str, list[int]], members: int, deposits: int
) -> tuple[Comparison, Comparison]:
    url = await fresh_database(admin_dsn, "bench_stream")
    settings = bench_settings("benchstream")
    pool = await asyncpg.create_pool(url, min_size=2, max_size=POOL_SIZE, command_timeout=60)
    assert pool is not None
    groups = {"bench process": [os.getpid()], **pids}
    try:
        amount_total = await preload(pool, members, deposits)
        await pool.execute("vacuum analyze ledger.events")
        platform = Platform(settings, pool, bootstrap)
        topic = topic_for("ledger", settings.topic_prefix)
        raw_topic = topic_for("rawproduce", settings.topic_prefix)
        n = members * deposits
        relay = await relay_figure(pool, platform, topic, raw_topic, n, groups)
        projector = await projector_figure(pool, platform, topic, n, amount_total, groups)
    finally:
        await pool.close()
    return relay, projector
