"""Relay: publishes appended events to Kafka in stream order, at least once, never skipping one.

Reads in (transaction id, position) order, only below the oldest running transaction (the gap cure of
DESIGN §4), sends a batch, waits for the broker's acknowledgement, then moves its checkpoint. A crash
between the two republishes the batch: duplicates, never gaps. Consumers absorb duplicates by stream
version. One relay per service holds a PostgreSQL advisory lock; others wait as hot standbys.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import trace

from libs.events.cancel import raise_if_cancelling
from libs.events.kafka import broker_cluster_id, ensure_topics, event_headers
from libs.events.store import EventStore, OutboundEvent, RelayCursor

log = logging.getLogger("sajja.relay")
tracer = trace.get_tracer("sajja.events.relay")

# The partitioner producer.send() would use, so keys land where any Kafka client expects them.
_PARTITIONER = DefaultPartitioner()
PublishHook = Callable[[list[OutboundEvent]], Awaitable[None]]


@dataclass
class RelayStatus:
    running: bool = False
    leader: bool = False
    published: int = 0
    last_published_at: float | None = None
    cluster_id: str | None = None
    error: str | None = None
    cursor: RelayCursor = field(default_factory=RelayCursor)


class Relay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        bootstrap_servers: str,
        topic: str,
        producer_factory: Callable[[], AIOKafkaProducer],
        *,
        batch_size: int = 2000,
        topic_partitions: int = 6,
        idle_check_seconds: float = 1.0,
        after_send: PublishHook | None = None,
    ) -> None:
        self.pool = pool
        self.store = store
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.producer_factory = producer_factory
        self.batch_size = batch_size
        self.topic_partitions = topic_partitions
        self.idle_check_seconds = idle_check_seconds
        # Test seam: runs after the broker acknowledged a batch and before the checkpoint moves.
        self.after_send = after_send
        self.status = RelayStatus()
        self._partitions: list[int] = []
        self._partition_of: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._lock_id = int.from_bytes(
            hashlib.sha256(f"relay:{store.schema}:{topic}".encode()).digest()[:8], "big", signed=True
        )

    async def run(self) -> None:
        """Publish until cancelled. Waits for leadership, then for NOTIFY (or a periodic check)."""
        self.status.running = True
        try:
            async with self.pool.acquire() as lock_conn:
                while not await lock_conn.fetchval("select pg_try_advisory_lock($1)", self._lock_id):
                    await asyncio.sleep(1.0)
                self.status.leader = True
                await lock_conn.add_listener(self.store.notify_channel, self._on_notify)
                producer = self.producer_factory()
                try:
                    await producer.start()
                    await self._loop(producer, lock_conn)
                finally:
                    # Shielded: a cancelled relay must still close its producer and free the lock.
                    await asyncio.shield(self._release(producer, lock_conn))
        finally:
            self.status.running = False
            self.status.leader = False

    async def _release(self, producer: AIOKafkaProducer, lock_conn: asyncpg.Connection) -> None:
        with contextlib.suppress(Exception):
            await producer.stop()
        with contextlib.suppress(Exception):
            await lock_conn.remove_listener(self.store.notify_channel, self._on_notify)
            await lock_conn.execute("select pg_advisory_unlock($1)", self._lock_id)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _loop(self, producer: AIOKafkaProducer, lock_conn: asyncpg.Connection) -> None:
        last_cluster_check = 0.0
        while True:
            if lock_conn.is_closed():
                # The advisory lock went with its connection: another relay may lead now. Stop, and let
                # the supervisor start this one again as a candidate.
                raise ConnectionError("relay lost its leadership connection")
            try:
                if time.monotonic() - last_cluster_check > 5.0:
                    await self._follow_cluster()
                    last_cluster_check = time.monotonic()
                while await self.publish_batch(producer):
                    # A library may swallow our cancellation mid-publish and return normally: look again.
                    raise_if_cancelling()
                raise_if_cancelling()
                self.status.error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep relaying: the broker or database may come back
                raise_if_cancelling()
                self.status.error = f"{type(exc).__name__}: {exc}"
                log.warning("relay %s: %s", self.topic, self.status.error)
                last_cluster_check = 0.0
                await asyncio.sleep(0.5)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.idle_check_seconds)
            except TimeoutError:
                pass

    async def _follow_cluster(self) -> None:
        """A broker with another cluster id has none of our events: republish everything to it."""
        cluster_id = await broker_cluster_id(self.bootstrap_servers)
        self.status.cluster_id = cluster_id
        async with self.pool.acquire() as conn:
            stored = await conn.fetchval(
                f'select cluster_id from "{self.store.schema}".relay_checkpoint where topic = $1', self.topic
            )
            if stored != cluster_id:
                log.info("relay %s: broker cluster %s is new; republishing from the start", self.topic, cluster_id)
                # Create the topic as configured rather than let the broker auto-create it its own way.
                await ensure_topics(self.bootstrap_servers, [self.topic], self.topic_partitions)
                await self._save_checkpoint(conn, RelayCursor(), cluster_id, reset=True)

    async def publish_batch(self, producer: AIOKafkaProducer) -> int:
        """Publish the next batch; returns how many events it published (0: nothing safe to publish)."""
        async with self.pool.acquire() as conn:
            cursor = await self.load_checkpoint(conn)
            events, after = await self.store.read_for_relay(conn, cursor, self.batch_size)
        if not events:
            return 0
        with tracer.start_as_current_span("relay.publish", attributes={"sajja.events": len(events)}):
            await self._send_in_stream_order(producer, events)
        if self.after_send is not None:
            await self.after_send(events)
        async with self.pool.acquire() as conn:
            await self._save_checkpoint(conn, after, self.status.cluster_id, published=len(events), moving_from=cursor)
        self.status.cursor = after
        self.status.published += len(events)
        self.status.last_published_at = time.time()
        return len(events)

    async def _send_in_stream_order(self, producer: AIOKafkaProducer, events: list[OutboundEvent]) -> None:
        """One producer batch per partition, sent one after another within the partition. With plain
        send(), a batch that fails and is retried after back-off can be overtaken by a later one for the
        same partition, putting a stream's events out of order in the log."""
        partitions = sorted(await producer.partitions_for(self.topic))
        if partitions != self._partitions:
            self._partitions, self._partition_of = partitions, {}
        elif len(self._partition_of) > 200_000:
            self._partition_of.clear()
        by_partition: dict[int, list[OutboundEvent]] = defaultdict(list)
        for event in events:
            partition = self._partition_of.get(event.stream_id)
            if partition is None:  # murmur2 is pure Python in aiokafka: remember it per stream
                partition = _PARTITIONER(event.stream_id.encode(), partitions, partitions)
                self._partition_of[event.stream_id] = partition
            by_partition[partition].append(event)

        async def send_partition(partition: int, group: list[OutboundEvent]) -> None:
            batch = producer.create_batch()
            for event in group:
                record = {
                    "key": event.stream_id.encode(),
                    "value": event.envelope,
                    "timestamp": None,
                    "headers": event_headers(event),
                }
                if batch.append(**record) is None:  # full: send it, wait, start the next
                    batch.close()
                    await (await producer.send_batch(batch, self.topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(**record) is None:
                        raise ValueError(f"event {event.event_id} is larger than the producer's batch size")
            batch.close()
            await (await producer.send_batch(batch, self.topic, partition=partition))

        await asyncio.gather(*(send_partition(p, group) for p, group in by_partition.items()))

    async def load_checkpoint(self, conn: asyncpg.Connection) -> RelayCursor:
        row = await conn.fetchrow(
            f'select xact_id::text as xact_id, position from "{self.store.schema}".relay_checkpoint where topic = $1',
            self.topic,
        )
        return RelayCursor(int(row["xact_id"]), row["position"]) if row else RelayCursor()

    async def _save_checkpoint(
        self,
        conn: asyncpg.Connection,
        cursor: RelayCursor,
        cluster_id: str | None,
        *,
        published: int = 0,
        reset: bool = False,
        moving_from: RelayCursor | None = None,
    ) -> None:
        """Save the checkpoint. With `moving_from`, only if it is still there: a `sajja relay republish`
        that reset it while a batch was in flight must win."""
        expected = moving_from or RelayCursor()
        await conn.execute(
            f"""insert into "{self.store.schema}".relay_checkpoint (topic, xact_id, position, published, cluster_id)
                values ($1, $2::text::xid8, $3, $4, $5)
                on conflict (topic) do update set
                    xact_id = excluded.xact_id, position = excluded.position, cluster_id = excluded.cluster_id,
                    published = case when $6 then 0 else relay_checkpoint.published + excluded.published end,
                    updated_at = now()
                where not $7 or (relay_checkpoint.xact_id = $8::text::xid8 and relay_checkpoint.position = $9)""",
            self.topic,
            str(cursor.xact_id),
            cursor.position,
            published,
            cluster_id,
            reset,
            moving_from is not None,
            str(expected.xact_id),
            expected.position,
        )

    async def pending(self) -> int:
        """Events appended but not yet published (the relay's lag)."""
        async with self.pool.acquire() as conn:
            cursor = await self.load_checkpoint(conn)
            return int(
                await conn.fetchval(
                    f'select count(*) from "{self.store.schema}".events'
                    " where (xact_id, position) > ($1::text::xid8, $2)",
                    str(cursor.xact_id),
                    cursor.position,
                )
            )


async def reset_checkpoint(conn: asyncpg.Connection, schema: str, topic: str) -> None:
    """`sajja relay republish`: the next relay pass publishes every event again from the start."""
    await conn.execute(
        f"update \"{schema}\".relay_checkpoint set xact_id = '0'::xid8, position = 0, published = 0,"
        " updated_at = now() where topic = $1",
        topic,
    )
    await conn.execute(f"select pg_notify('{schema}_events', '')")
