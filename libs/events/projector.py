"""Projector: Kafka → PostgreSQL read models with an exactly-once effect (DESIGN §5).

Each batch from `getmany` is applied and its progress recorded in one PostgreSQL transaction:
partition offsets (to seek from on start) and, per source stream, the last version applied. An event
at or below its stream's applied version is a duplicate (redelivery, a republished topic) and is
skipped; an event beyond the next version is held back (not applied) and its stream is reported as
waiting. The relay republishes everything after its last confirmed batch, so an event that overtook a
failed one comes again in order; one that never comes shows in readiness, not papered over.
Offsets are kept per broker cluster id, so a broker that came back empty is read from its start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from libs.events.cancel import raise_if_cancelling
from libs.events.envelope import RecordedEvent
from libs.events.kafka import broker_cluster_id, broker_layout, trace_headers
from libs.events.registry import REGISTRY, EventRegistry

log = logging.getLogger("sajja.projector")
tracer = trace.get_tracer("sajja.events.projector")


class Projection(Protocol):
    """A read model. `apply` gets only events not applied before, in stream order, inside the
    transaction that also records progress."""

    name: str
    topics: Sequence[str]

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None: ...


# How long the informative Kafka offset commit and a consumer's stop may take before they are left behind.
OFFSET_COMMIT_SECONDS = 5.0
OFFSET_COMMIT_EVERY = 2.0
CONSUMER_STOP_SECONDS = 10.0


async def _within(awaitable: Awaitable[object], seconds: float) -> bool:
    """Await `awaitable` for at most `seconds`; past that it is cancelled and left behind (never awaited again,
    so a library that swallows the cancellation cannot hold the caller). False if it did not finish, or failed
    (e.g. a rebalance in progress)."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        return False
    return task.exception() is None


@dataclass
class ProjectorStatus:
    running: bool = False
    assigned: list[str] = field(default_factory=list)
    applied: int = 0
    duplicates: int = 0
    last_applied_at: float | None = None
    # Seconds between an event's commit in its store and its application here.
    delay_seconds: float | None = None
    # Streams whose next event has not arrived while a later one has: stream → (applied, seen, since).
    waiting: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    error: str | None = None

    def missing(self, older_than_seconds: float) -> dict[str, str]:
        """Streams that have waited too long for an event: a hole in the log, not a retry in flight."""
        now = time.time()
        return {
            stream: f"applied version {applied}, then saw version {seen}; versions between never arrived"
            for stream, (applied, seen, since) in self.waiting.items()
            if now - since > older_than_seconds
        }


BatchHook = Callable[[list[RecordedEvent]], Awaitable[None]]
Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
# Records decoded between two turns of the event loop (a few milliseconds' work).
DECODE_SLICE = 500


class BatchPipeline:
    """At most one batch's transaction in flight while the next batch is fetched and decoded: PostgreSQL works
    on one while Python decodes the other (two cores instead of taking turns on them). Batches are applied one
    after another, in order; a failed one fails the next `then` (or `finish`), before anything after it runs."""

    def __init__(self) -> None:
        self._in_flight: asyncio.Future[None] | None = None

    async def then(self, apply: Coroutine[object, object, None]) -> None:
        """Wait for the batch in flight (raising its error), then start `apply`."""
        try:
            await self.finish()
        except BaseException:
            apply.close()  # never started
            raise
        self._in_flight = asyncio.ensure_future(apply)

    async def finish(self) -> None:
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            await in_flight

    async def close(self) -> None:
        """On the way out (a cancellation, an error): the batch in flight is cancelled and waited for (its
        transaction rolls back, or it had committed), never left running behind."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is None:
            return
        in_flight.cancel()
        await asyncio.wait({in_flight})
        if not in_flight.cancelled():
            in_flight.exception()  # told already, or about to be, by whatever is closing the pipeline


class Projector:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        projection: Projection,
        consumer_factory: Callable[[str], AIOKafkaConsumer],
        bootstrap_servers: str,
        *,
        max_batch: int = 5000,
        after_commit: BatchHook | None = None,
        registry: EventRegistry = REGISTRY,
        layout_check_seconds: float = 5.0,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.projection = projection
        self.consumer_factory = consumer_factory
        self.bootstrap_servers = bootstrap_servers
        self.max_batch = max_batch
        # Test seam: runs after the database commit and before the Kafka offset commit.
        self.after_commit = after_commit
        self.registry = registry
        self.status = ProjectorStatus()
        self.cluster_id: str | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # Offsets applied and not yet told to the broker (informative; see apply_batch), and when it was last told.
        self._to_commit: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        # How many partitions each topic had in the metadata the consumer's assignment was made from, and how
        # often to compare that with the broker's own answer (see _assignment_is_stale).
        self.assigned_layout: dict[str, int] | None = None
        self.layout_check_seconds = layout_check_seconds
        s = f'"{schema}"'
        # Two consumers can own a partition for a moment during a rebalance. Each batch therefore locks
        # its partitions' offsets and its streams' versions (rows created first if new, so a new stream
        # is locked too; always in key order, so two batches cannot deadlock) before deciding anything.
        self._claim_partitions_sql = f"""
            insert into {s}.projector_offsets (projector, topic, partition, next_offset, cluster_id)
            select $1, t, p, 0, $4 from unnest($2::text[], $3::int[]) as x(t, p) order by t, p
            on conflict (projector, topic, partition) do nothing"""
        self._lock_partitions_sql = f"""
            select o.topic, o.partition, o.next_offset, o.cluster_id from {s}.projector_offsets o
            join unnest($2::text[], $3::int[]) as x(t, p) on o.topic = x.t and o.partition = x.p
            where o.projector = $1 order by o.topic, o.partition for update of o"""
        self._claim_streams_sql = f"""
            insert into {s}.projector_streams (projector, stream_id, stream_version, position)
            select $1, sid, 0, 0 from unnest($2::text[]) as x(sid) order by sid
            on conflict (projector, stream_id) do nothing"""
        self._versions_sql = (
            f"select stream_id, stream_version from {s}.projector_streams"
            " where projector = $1 and stream_id = any($2::text[]) order by stream_id for update"
        )
        self._save_streams_sql = f"""
            insert into {s}.projector_streams (projector, stream_id, stream_version, position)
            select $1, * from unnest($2::text[], $3::int[], $4::bigint[])
            on conflict (projector, stream_id) do update
                set stream_version = excluded.stream_version, position = excluded.position,
                    waiting_since = case when excluded.stream_version >= projector_streams.seen_version
                                         then null else projector_streams.waiting_since end"""
        self._save_ahead_sql = f"""
            update {s}.projector_streams p
               set seen_version = greatest(p.seen_version, x.v), waiting_since = coalesce(p.waiting_since, now())
              from unnest($2::text[], $3::int[]) as x(sid, v)
             where p.projector = $1 and p.stream_id = x.sid"""
        self._missing_sql = f"""
            select stream_id, stream_version, seen_version, waiting_since from {s}.projector_streams
            where projector = $1 and waiting_since < now() - make_interval(secs => $2)
            order by waiting_since limit 20"""
        self._save_offsets_sql = f"""
            insert into {s}.projector_offsets (projector, topic, partition, next_offset, cluster_id)
            select $1, * from unnest($2::text[], $3::int[], $4::bigint[], $5::text[])
            on conflict (projector, topic, partition) do update
                set next_offset = case when projector_offsets.cluster_id = excluded.cluster_id
                                       then greatest(projector_offsets.next_offset, excluded.next_offset)
                                       else excluded.next_offset end,
                    cluster_id = excluded.cluster_id"""

    @property
    def group_id(self) -> str:
        return f"sajja.{self.schema}.{self.projection.name}"

    async def run(self) -> None:
        self.status.running = True
        try:
            while True:
                await self._consume()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.status.error = f"{type(exc).__name__}: {exc}"
            log.exception("projector %s stopped", self.projection.name)
            raise
        finally:
            self.status.running = False

    async def _consume(self) -> None:
        """One consumer, until cancelled, or until its assignment no longer fits the broker: then it leaves, and
        run() starts a new one, which joins with metadata fresh from the broker."""
        self.cluster_id = await broker_cluster_id(self.bootstrap_servers)
        self.assigned_layout = None
        consumer = self.consumer_factory(self.group_id)
        self._consumer = consumer
        try:
            await consumer.start()
            consumer.subscribe(list(self.projection.topics), listener=_SeekFromStore(self))
            checked = time.monotonic()
            applying = BatchPipeline()
            try:
                while True:
                    batch = await consumer.getmany(timeout_ms=500, max_records=self.max_batch)
                    raise_if_cancelling()  # aiokafka may swallow a cancellation and return normally
                    if batch:
                        # Decoded while the batch before is still in its transaction; applied after it, in order.
                        decoded = await self.decode(batch)
                        await applying.then(self.apply_batch(consumer, batch, decoded))
                    else:
                        await applying.finish()
                    if time.monotonic() - checked > self.layout_check_seconds:
                        checked = time.monotonic()
                        await applying.finish()
                        if await self._assignment_is_stale():
                            return
            finally:
                await applying.close()
        finally:
            # Bounded: after a broker came back empty, aiokafka's stop can wait for a group coordinator without
            # end, and this projector would never start its next consumer (seen as loans stuck "disbursing").
            if not await _within(consumer.stop(), CONSUMER_STOP_SECONDS):
                log.warning(
                    "projector %s: its consumer did not stop within %s s; left behind",
                    self.projection.name,
                    CONSUMER_STOP_SECONDS,
                )

    async def _assignment_is_stale(self) -> bool:
        """Whether the consumer's partitions were assigned from metadata the broker no longer agrees with. A
        broker that came back empty makes its topics anew, with the configured partitions or (Tansu, for the
        first client that asks) its own default; a consumer may meanwhile have joined with the old broker's
        metadata, or a topic half made, and aiokafka looks again only every metadata_max_age_ms (5 minutes):
        partitions it was never given are not read meanwhile. Asked here afresh, every few seconds."""
        if self.assigned_layout is None:
            return False  # still joining
        try:
            cluster_id, layout = await broker_layout(self.bootstrap_servers, self.projection.topics)
        except Exception:  # the broker is away: nothing to compare with now
            return False
        differs = {t: (self.assigned_layout.get(t), n) for t, n in layout.items() if self.assigned_layout.get(t) != n}
        if cluster_id == self.cluster_id and not differs:
            return False
        log.warning(
            "projector %s: assigned in cluster %s from partitions %s, the broker (cluster %s) has %s; joining again",
            self.projection.name,
            self.cluster_id,
            self.assigned_layout,
            cluster_id,
            layout,
        )
        return True

    async def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                f'select topic, partition, next_offset from "{self.schema}".projector_offsets'
                " where projector = $1 and cluster_id = $2",
                self.projection.name,
                self.cluster_id,
            )
        wanted = set(partitions)
        found = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        return {tp: off for tp, off in found.items() if tp in wanted}

    @staticmethod
    async def decode(batch: Batch) -> dict[TopicPartition, list[RecordedEvent]]:
        """The batch's envelopes, a slice at a time: between slices the loop runs, so a transaction of the batch
        before (awaiting PostgreSQL) sends its next statement while this one is decoded."""
        decode = RecordedEvent.from_json
        decoded: dict[TopicPartition, list[RecordedEvent]] = {}
        for tp, records in batch.items():
            events = decoded[tp] = []
            for start in range(0, len(records), DECODE_SLICE):
                if start:
                    await asyncio.sleep(0)
                events += [
                    decode(r.value or b"", *trace_headers(r.headers))  # type: ignore[arg-type]
                    for r in records[start : start + DECODE_SLICE]
                ]
        return decoded

    async def apply_batch(
        self,
        consumer: AIOKafkaConsumer,
        batch: Batch,
        decoded: dict[TopicPartition, list[RecordedEvent]] | None = None,
    ) -> None:
        if decoded is None:
            decoded = await self.decode(batch)
        streams = sorted({e.stream_id for events in decoded.values() for e in events})
        fresh: list[RecordedEvent] = []
        next_offsets: dict[TopicPartition, int] = {}
        changed: dict[str, RecordedEvent] = {}
        ahead: dict[str, int] = {}
        partitions = sorted(batch, key=lambda tp: (tp.topic, tp.partition))
        topics, numbers = [tp.topic for tp in partitions], [tp.partition for tp in partitions]
        name = self.projection.name
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(self._claim_partitions_sql, name, topics, numbers, self.cluster_id)
            stored = {
                TopicPartition(r["topic"], r["partition"]): r["next_offset"]
                for r in await conn.fetch(self._lock_partitions_sql, name, topics, numbers)
                if r["cluster_id"] == self.cluster_id
            }
            await conn.execute(self._claim_streams_sql, name, streams)
            versions = {
                r["stream_id"]: r["stream_version"] for r in await conn.fetch(self._versions_sql, name, streams)
            }
            for tp, events in decoded.items():
                records = batch[tp]
                next_offsets[tp] = records[0].offset
                already = stored.get(tp, 0)  # another owner of this partition got this far
                for record, event in zip(records, events, strict=True):
                    applied = versions.get(event.stream_id, 0)
                    if record.offset < already or event.stream_version <= applied:
                        self.status.duplicates += 1
                    elif event.stream_version == applied + 1:
                        versions[event.stream_id] = event.stream_version
                        changed[event.stream_id] = event
                        fresh.append(self._current(event))
                    else:
                        waiting = self.status.waiting.get(event.stream_id)
                        since = waiting[2] if waiting else time.time()
                        self.status.waiting[event.stream_id] = (applied, event.stream_version, since)
                        ahead[event.stream_id] = max(ahead.get(event.stream_id, 0), event.stream_version)
                    next_offsets[tp] = record.offset + 1
            with self._span(fresh):
                if fresh:
                    await self.projection.apply(conn, fresh)
            if changed:
                await conn.execute(
                    self._save_streams_sql,
                    self.projection.name,
                    list(changed),
                    [e.stream_version for e in changed.values()],
                    [e.position for e in changed.values()],
                )
            if ahead:
                await conn.execute(self._save_ahead_sql, name, list(ahead), list(ahead.values()))
            await conn.execute(
                self._save_offsets_sql,
                self.projection.name,
                [tp.topic for tp in next_offsets],
                [tp.partition for tp in next_offsets],
                list(next_offsets.values()),
                [self.cluster_id] * len(next_offsets),
            )
        self._account(fresh)
        if self.after_commit is not None:
            await self.after_commit(fresh)
        for stream_id in changed:
            waiting = self.status.waiting.get(stream_id)
            if waiting and versions[stream_id] >= waiting[1]:
                del self.status.waiting[stream_id]
        # Kafka's committed offsets are only informative (lag tooling); the store's offsets rule. So they go to
        # the broker at most every OFFSET_COMMIT_EVERY seconds: one commit per batch was a tenth of a live
        # projector's CPU (ten projectors, a batch every tenth of a second each).
        # Bounded: aiokafka's commit looks for the group's coordinator until it finds one, which after a broker
        # came back empty can be forever; the database already holds the truth.
        self._to_commit.update(next_offsets)
        now = time.monotonic()
        if consumer is None or now - self._committed_at < OFFSET_COMMIT_EVERY:
            return
        self._committed_at = now
        offsets, self._to_commit = self._to_commit, {}
        if not await _within(consumer.commit(offsets), OFFSET_COMMIT_SECONDS):
            log.debug("offset commit skipped (failed, or no answer within %s s)", OFFSET_COMMIT_SECONDS)

    async def missing_events(self, older_than_seconds: float) -> dict[str, str]:
        """Streams whose next event has been missing for a while, from the database: it survives restarts."""
        rows = await self.pool.fetch(self._missing_sql, self.projection.name, older_than_seconds)
        return {
            r["stream_id"]: f"applied version {r['stream_version']}, saw version {r['seen_version']}; "
            f"the versions between have been missing since {r['waiting_since'].isoformat()}"
            for r in rows
        }

    def _current(self, event: RecordedEvent) -> RecordedEvent:
        """Projections see every payload at its type's current version (upcast from older ones)."""
        registry = self.registry
        if registry.knows(event.event_type):
            latest = registry.latest_version(event.event_type)
            if event.schema_version < latest:
                payload = registry.upcast(event.event_type, event.schema_version, event.payload)
                return replace(event, payload=payload, schema_version=latest)
        return event

    def _account(self, fresh: list[RecordedEvent]) -> None:
        if not fresh:
            return
        now = time.time()
        self.status.applied += len(fresh)
        self.status.last_applied_at = now
        self.status.delay_seconds = max(0.0, now - fresh[-1].recorded_at.timestamp())

    def _span(self, events: list[RecordedEvent]) -> trace.Span:
        """One span per batch, linked to the trace of every request whose events it applies (the
        OpenTelemetry convention for batch consumers); parented to it when the batch has one trace."""
        by_trace: dict[str, str] = {}
        for event in events:
            # W3C traceparent "00-<trace id>-<span id>-<flags>"; parsed by hand: this runs per event.
            tp = event.traceparent
            if tp and len(tp) == 55 and len(by_trace) < 128:
                by_trace.setdefault(tp[3:35], tp)
        contexts = [
            SpanContext(int(tp[3:35], 16), int(tp[36:52], 16), is_remote=True, trace_flags=TraceFlags(int(tp[53:], 16)))
            for tp in by_trace.values()
        ]
        parent = trace.set_span_in_context(NonRecordingSpan(contexts[0])) if len(contexts) == 1 else None
        return tracer.start_as_current_span(  # type: ignore[return-value]
            f"projector.apply {self.projection.name}",
            context=parent or context.get_current(),
            links=[trace.Link(c) for c in contexts if c.is_valid],
            attributes={"sajja.events": len(events)},
        )


class _SeekFromStore(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, seek each partition to the offset stored with the read model."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.projector.status.assigned = []
        self.projector._to_commit.clear()  # noqa: SLF001  (partitions this consumer may no longer own)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        projector = self.projector
        consumer = projector._consumer
        assert consumer is not None
        projector.cluster_id = await broker_cluster_id(projector.bootstrap_servers)
        # The metadata the assignment was made from (this consumer's; its group's leader when it is alone).
        projector.assigned_layout = {
            t: len(consumer.partitions_for_topic(t) or ()) for t in projector.projection.topics
        }
        stored = await projector.stored_offsets(assigned)
        for tp in assigned:
            # Offset 0 is the log's start, or before it (auto_offset_reset="earliest" then moves on to it).
            # Not seek_to_beginning(): it waits for the broker's answer inside this callback, and after a
            # broker came back empty that wait could hold the consumer for good (seen: projectors of
            # several topics never got partitions again, nor could they be stopped).
            consumer.seek(tp, stored.get(tp, 0))
        projector.status.assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)


async def wait_until_applied(
    pool: asyncpg.Pool, schema: str, projector: str, stream_id: str, position: int, timeout: float
) -> bool:
    """Read-your-writes: wait (bounded) until `projector` has applied `stream_id` up to `position`."""
    deadline = time.monotonic() + timeout
    sql = f'select position from "{schema}".projector_streams where projector = $1 and stream_id = $2'
    delay = 0.005
    while True:
        applied = await pool.fetchval(sql, projector, stream_id)
        if applied is not None and applied >= position:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
