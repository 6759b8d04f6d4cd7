"""Relay: publishes appended events to Kafka in stream order, at least once, never skipping one.

Reads in (transaction id, position) order, only below the oldest running transaction (the gap cure of
DESIGN §4), sends a batch, waits for the broker's acknowledgement, then moves its checkpoint. A crash
between the two republishes the batch: duplicates, never gaps. Consumers absorb duplicates by stream
version. One relay per service holds a PostgreSQL advisory lock; others wait as hot standbys.

For read-your-writes (libs/events/read_after.py) the checkpoint also says how far the store is published
by position (`through`) and where in the topic (`offsets`, per partition, in broker cluster `cluster_id`).
Positions are not published in position order (a transaction can draw a lower position and commit
later), so `through` comes from probes: a pass reads the highest position drawn so far (the sequence;
values handed to transactions still running included), then takes a transaction id of its own (every
appending transaction takes its id before it draws a position, libs/events/store.py, so every position up
to that value belongs to a transaction older than the relay's id); once the relay has
published everything committed below a horizon past the id, every such position that ever commits is
published, and `through` moves up to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from opentelemetry import trace

from libs.events.cancel import raise_if_cancelling
from libs.events.kafka import broker_cluster_id, ensure_topics, event_headers
from libs.events.store import EventStore, OutboundEvent, RelayCursor

log = logging.getLogger("sajja.relay")
tracer = trace.get_tracer("sajja.events.relay")

# The partitioner producer.send() would use, so keys land where any Kafka client expects them.
_PARTITIONER = DefaultPartitioner()
PublishHook = Callable[[list[OutboundEvent]], Awaitable[None]]
# Pauses between passes while a probe waits for the horizon, and how many probes are kept.
_FIRST_PROBE_PAUSE = 0.002
_LAST_PROBE_PAUSE = 0.1
_MAX_PROBES = 256


@dataclass
class RelayStatus:
    running: bool = False
    leader: bool = False
    published: int = 0
    last_published_at: float | None = None
    cluster_id: str | None = None
    error: str | None = None
    cursor: RelayCursor = field(default_factory=RelayCursor)
    # Every event at or below this position that ever commits is published (read-your-writes).
    through: int = 0


@dataclass(frozen=True)
class Published:
    """How far a store is published: every event with position <= `through` that ever commits is in the
    topic, below `offsets` (partition → next offset) in broker cluster `cluster_id`'s log. `offsets` is
    None when not known (a checkpoint from before they were kept)."""

    through: int
    offsets: dict[int, int] | None
    cluster_id: str | None


@dataclass(frozen=True)
class _PassStart:
    """What a relay pass reads before its events: the checkpoint, then the highest position drawn."""

    cursor: RelayCursor
    published: Published
    drawn: int


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
        # The producer, and the broker cluster whose metadata (topics' partitions) it was started with.
        self._producer: AIOKafkaProducer | None = None
        self._producer_cluster: str | None = None
        self._wake = asyncio.Event()
        # Probes (highest position drawn, next transaction id then), oldest first, not yet behind the
        # published horizon; and the pause between passes while some are (instead of idle_check_seconds).
        self._probes: list[tuple[int, int]] = []
        self._probe_pause = _FIRST_PROBE_PAUSE
        self._sequence: str | None = None
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
                try:
                    await self._start_producer()
                    await self._loop(lock_conn)
                finally:
                    # Shielded: a cancelled relay must still close its producer and free the lock.
                    await asyncio.shield(self._release(lock_conn))
        finally:
            self.status.running = False
            self.status.leader = False

    async def _start_producer(self) -> AIOKafkaProducer:
        """A new producer, noting the broker cluster it learns its topics' partitions from (asked first: a
        broker that restarts in between makes the note older than the producer, never newer)."""
        self._producer_cluster = await broker_cluster_id(self.bootstrap_servers)
        producer = self.producer_factory()
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer
        return producer

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _release(self, lock_conn: asyncpg.Connection) -> None:
        await self._stop_producer()
        with contextlib.suppress(Exception):
            await lock_conn.remove_listener(self.store.notify_channel, self._on_notify)
            await lock_conn.execute("select pg_advisory_unlock($1)", self._lock_id)

    async def _current_producer(self) -> AIOKafkaProducer:
        return self._producer if self._producer is not None else await self._start_producer()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _loop(self, lock_conn: asyncpg.Connection) -> None:
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
                while await self.publish_batch(await self._current_producer()):
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
            # While a probe waits for the horizon (a transaction older than it still runs), look again soon:
            # reads with ?after= wait for `through` to move.
            pause = self.idle_check_seconds
            if self._probes:
                pause = min(pause, self._probe_pause)
                self._probe_pause = min(self._probe_pause * 2, _LAST_PROBE_PAUSE)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=pause)
            except TimeoutError:
                pass

    async def _follow_cluster(self) -> None:
        """A broker with another cluster id has none of our events: republish everything to it."""
        cluster_id = await broker_cluster_id(self.bootstrap_servers)
        self.status.cluster_id = cluster_id
        async with self.pool.acquire() as conn:
            stored = await conn.fetchrow(
                f'select cluster_id, offsets is null as unknown from "{self.store.schema}".relay_checkpoint'
                " where topic = $1",
                self.topic,
            )
            if stored is None or stored["cluster_id"] != cluster_id or stored["unknown"]:
                # (Unknown offsets: a checkpoint from before they were kept. Publishing again learns them.)
                log.info("relay %s: broker cluster %s is new; republishing from the start", self.topic, cluster_id)
                # Create the topic as configured rather than let the broker auto-create it its own way.
                await ensure_topics(self.bootstrap_servers, [self.topic], self.topic_partitions)
                await self._save_checkpoint(conn, RelayCursor(), cluster_id, reset=True)
        if self._producer is not None and cluster_id != self._producer_cluster:
            # A producer keeps the partitions it learnt from the broker it met first, and Tansu acknowledges
            # records sent to a partition its topic does not have, which no consumer ever reads. A broker back
            # empty may have made the topic with another number of partitions (its own default, for the first
            # client that asked): publish to it only with a producer that has asked it.
            log.info("relay %s: a new producer for broker cluster %s", self.topic, cluster_id)
            await self._stop_producer()

    async def publish_batch(self, producer: AIOKafkaProducer) -> int:
        """Publish the next batch; returns how many events it published (0: nothing safe to publish)."""
        async with self.pool.acquire() as conn:
            start = await self._start_pass(conn)
            # After the sequence was read: every position drawn by then belongs to a transaction that had its id
            # (the store takes it first), so below a transaction id assigned now — `next_xid`, taken only when a
            # probe will keep it. Not the snapshot's xmax: that is the latest completed id plus one, and a
            # transaction still running may hold that very id or a later one (seen: `through` ran past a
            # deposit whose transaction was the newest and still open, and its balance read answered 0.00).
            probing = self._wants_probe(start.drawn, start.published.through)
            snapshot = await conn.fetchrow(
                "select pg_snapshot_xmin(s)::text as horizon, "
                + ("pg_current_xact_id()::text" if probing else "null")
                + " as next_xid from pg_current_snapshot() s"
            )
            assert snapshot is not None
            cursor = start.cursor
            events, after = await self.store.read_for_relay(conn, cursor, self.batch_size)
        horizon = int(snapshot["horizon"])
        if probing:
            self._note_probe(start.drawn, int(snapshot["next_xid"]))
        # Everything committed below this transaction id is published once this batch is: the read took
        # all of it (the horizon of the later read is at least this one's), or stopped inside the last
        # row's transaction when the batch was full.
        published_below = horizon if len(events) < self.batch_size else min(horizon, after.xact_id)
        through = self._through_after(published_below, start.published.through)
        if not events:
            if through > start.published.through:
                async with self.pool.acquire() as conn:
                    await conn.execute(
                        f'update "{self.store.schema}".relay_checkpoint set through = greatest(through, $2)'
                        " where topic = $1",
                        self.topic,
                        through,
                    )
                self.status.through = through
            return 0
        with tracer.start_as_current_span("relay.publish", attributes={"sajja.events": len(events)}):
            ends = await self._send_in_stream_order(producer, events)
        if self.after_send is not None:
            await self.after_send(events)
        offsets = dict(start.published.offsets or {})
        if any(first < offsets.get(partition, 0) for partition, (first, _) in ends.items()):
            # A log's offsets only grow: this broker is not the one the checkpoint's offsets came from.
            cluster_before = self.status.cluster_id
            await self._follow_cluster()
            if self.status.cluster_id != cluster_before:
                return len(events)  # the checkpoint went back to the start: everything is published again
            log.warning("relay %s: the broker's offsets went back in cluster %s", self.topic, cluster_before)
            offsets.update({partition: end for partition, (_, end) in ends.items()})
        for partition, (_, end) in ends.items():
            offsets[partition] = max(offsets.get(partition, 0), end)
        async with self.pool.acquire() as conn:
            await self._save_checkpoint(
                conn,
                after,
                self.status.cluster_id,
                published=len(events),
                moving_from=cursor,
                through=through,
                offsets=offsets,
            )
        self.status.cursor = after
        self.status.through = max(self.status.through, through)
        self.status.published += len(events)
        self.status.last_published_at = time.time()
        return len(events)

    async def _start_pass(self, conn: asyncpg.Connection) -> _PassStart:
        """The checkpoint and the highest position drawn so far, in one statement."""
        if self._sequence is None:
            self._sequence = await conn.fetchval(
                "select pg_get_serial_sequence($1, 'position')", f'"{self.store.schema}".events'
            )
        row = await conn.fetchrow(
            f"""select c.xact_id::text as xact_id, c.position, c.through, c.offsets::text as offsets, c.cluster_id,
                       coalesce(pg_sequence_last_value($2::regclass), 0) as drawn
                from (select 1) as one left join "{self.store.schema}".relay_checkpoint c on c.topic = $1""",
            self.topic,
            self._sequence,
        )
        assert row is not None
        if row["xact_id"] is None:
            return _PassStart(RelayCursor(), Published(0, {}, None), row["drawn"])
        offsets = None if row["offsets"] is None else {int(p): n for p, n in json.loads(row["offsets"]).items()}
        return _PassStart(
            RelayCursor(int(row["xact_id"]), row["position"]),
            Published(row["through"], offsets, row["cluster_id"]),
            row["drawn"],
        )

    def _wants_probe(self, drawn: int, through: int) -> bool:
        """Whether positions up to `drawn` need a probe: not when nothing is new, nor when an earlier probe (with
        a lower transaction id) covers as much."""
        return drawn > through and not (self._probes and self._probes[-1][0] >= drawn)

    def _note_probe(self, drawn: int, next_xid: int) -> None:
        self._probes.append((drawn, next_xid))
        if len(self._probes) > _MAX_PROBES:  # a horizon held back for long: later probes will do
            del self._probes[0]

    def _through_after(self, published_below: int, through: int) -> int:
        """`through` once every event committed below transaction id `published_below` is published."""
        ready = [drawn for drawn, next_xid in self._probes if next_xid <= published_below]
        if ready:
            through = max(through, *ready)
            self._probes = [(d, x) for d, x in self._probes if x > published_below and d > through]
            self._probe_pause = _FIRST_PROBE_PAUSE
        return through

    async def _send_in_stream_order(
        self, producer: AIOKafkaProducer, events: list[OutboundEvent]
    ) -> dict[int, tuple[int, int]]:
        """One producer batch per partition, sent one after another within the partition. With plain
        send(), a batch that fails and is retried after back-off can be overtaken by a later one for the
        same partition, putting a stream's events out of order in the log. Returns, per partition, the
        offset of its first record and the offset after its last, as the broker acknowledged them."""
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

        ends: dict[int, tuple[int, int]] = {}

        async def send(batch: BatchBuilder, partition: int, count: int) -> None:
            batch.close()
            sent = await (await producer.send_batch(batch, self.topic, partition=partition))
            first, _ = ends.get(partition, (sent.offset, 0))
            ends[partition] = (first, sent.offset + count)

        async def send_partition(partition: int, group: list[OutboundEvent]) -> None:
            batch, count = producer.create_batch(), 0
            for event in group:
                record = {
                    "key": event.stream_id.encode(),
                    "value": event.envelope,
                    "timestamp": None,
                    "headers": event_headers(event),
                }
                if batch.append(**record) is None:  # full: send it, wait, start the next
                    await send(batch, partition, count)
                    batch, count = producer.create_batch(), 0
                    if batch.append(**record) is None:
                        raise ValueError(f"event {event.event_id} is larger than the producer's batch size")
                count += 1
            await send(batch, partition, count)

        await asyncio.gather(*(send_partition(p, group) for p, group in by_partition.items()))
        return ends

    async def published(self, conn: asyncpg.Connection) -> Published:
        """How far this relay's store is published (see Published)."""
        return await published(conn, self.store.schema, self.topic)

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
        through: int = 0,
        offsets: dict[int, int] | None = None,
    ) -> None:
        """Save the checkpoint. With `moving_from`, only if it is still there: a `sajja relay republish`
        that reset it while a batch was in flight must win. `reset` (a new broker cluster) also forgets
        how far the store is published there."""
        expected = moving_from or RelayCursor()
        await conn.execute(
            f"""insert into "{self.store.schema}".relay_checkpoint
                    (topic, xact_id, position, published, cluster_id, through, offsets)
                values ($1, $2::text::xid8, $3, $4, $5, $10, coalesce($11::jsonb, '{{}}'))
                on conflict (topic) do update set
                    xact_id = excluded.xact_id, position = excluded.position, cluster_id = excluded.cluster_id,
                    published = case when $6 then 0 else relay_checkpoint.published + excluded.published end,
                    through = case when $6 then 0 else greatest(relay_checkpoint.through, excluded.through) end,
                    offsets = case when $6 then '{{}}' else coalesce($11::jsonb, relay_checkpoint.offsets) end,
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
            0 if reset else through,
            None if reset or offsets is None else json.dumps({str(p): n for p, n in sorted(offsets.items())}),
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


async def published(conn: asyncpg.Connection | asyncpg.Pool, schema: str, topic: str) -> Published:
    """How far `schema`'s store is published to `topic`, from the relay's checkpoint (nothing yet: 0)."""
    row = await conn.fetchrow(
        f'select through, offsets::text as offsets, cluster_id from "{schema}".relay_checkpoint where topic = $1',
        topic,
    )
    if row is None:
        return Published(0, {}, None)
    offsets = None if row["offsets"] is None else {int(p): n for p, n in json.loads(row["offsets"]).items()}
    return Published(row["through"], offsets, row["cluster_id"])


async def reset_checkpoint(conn: asyncpg.Connection, schema: str, topic: str) -> None:
    """`sajja relay republish`: the next relay pass publishes every event again from the start."""
    await conn.execute(
        f"update \"{schema}\".relay_checkpoint set xact_id = '0'::xid8, position = 0, published = 0,"
        " updated_at = now() where topic = $1",
        topic,
    )
    await conn.execute(f"select pg_notify('{schema}_events', '')")
