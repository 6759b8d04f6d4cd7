"""Kafka helpers: topic names and creation, producer and consumer factories, trace context in headers.

The Tansu broker supports neither idempotent nor transactional producers, so nothing here uses them:
the relay publishes at least once and consumers make the effect exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from libs.events.envelope import RecordedEvent
from libs.events.settings import Settings
from libs.events.store import OutboundEvent

log = logging.getLogger("sajja.kafka")

Headers = list[tuple[str, bytes]]


def topic_for(service: str, prefix: str = "sajja") -> str:
    """Each command-side service publishes to one topic: sajja.<service>.v1."""
    return f"{prefix}.{service}.v1"


def event_headers(event: RecordedEvent | OutboundEvent) -> Headers:
    headers: Headers = [
        ("event_type", event.event_type.encode()),
        ("schema_version", str(event.schema_version).encode()),
    ]
    if event.traceparent:
        headers.append(("traceparent", event.traceparent.encode()))
    if event.tracestate:
        headers.append(("tracestate", event.tracestate.encode()))
    return headers


def trace_headers(headers: Headers | None) -> tuple[str | None, str | None]:
    """(traceparent, tracestate) from a record's headers, in one pass (a projector's every record)."""
    parent = state = None
    for key, value in headers or ():
        if key == "traceparent":
            parent = value.decode()
        elif key == "tracestate":
            state = value.decode()
    return parent, state


# The topics are the history every read model and rebuild replays from the start: Kafka must keep it all
# (its defaults drop records after 7 days). The stores in PostgreSQL stay the source of truth.
EVENT_TOPIC_CONFIGS = (("retention.ms", "-1"), ("retention.bytes", "-1"))


async def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int, replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created (empty: they all existed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    for attempt in range(30):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == 29:
                raise
            await asyncio.sleep(0.2)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name=t,
                            num_partitions=partitions,
                            replication_factor=replication,
                            topic_configs=dict(EVENT_TOPIC_CONFIGS),
                        )
                        for t in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass
        return missing
    finally:
        await admin.close()


def make_producer(settings: Settings, bootstrap_servers: str) -> AIOKafkaProducer:
    # acks=all: a record counts as published only once the broker has it. No idempotence (Tansu lacks it);
    # duplicates from retries are absorbed by consumers' per-stream version tracking.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
        compression_type=None,
    )


def make_consumer(settings: Settings, bootstrap_servers: str, group_id: str) -> AIOKafkaConsumer:
    # Offsets live in PostgreSQL next to the read models; "earliest" because Tansu's end offsets are wrong.
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=100,
    )


async def broker_layout(bootstrap_servers: str, topics: Sequence[str]) -> tuple[str, dict[str, int]]:
    """The broker's cluster id and how many partitions each of `topics` has, asked afresh (a client's own
    metadata can be older than the broker). Topics the broker lacks are left out: asking for them by name
    would make Tansu create them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5_000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        wanted = set(topics)
        found = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics() if t["topic"] in wanted}
        return str(cluster["cluster_id"]), found
    finally:
        await admin.close()


async def broker_cluster_id(bootstrap_servers: str) -> str:
    """The broker cluster's id. Offsets mean something only within one cluster's log: a broker that
    restarted empty (Tansu keeps data in memory) is started with a new id, and Apache Kafka keeps its id
    exactly as long as it keeps its data."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5_000)
    await admin.start()
    try:
        return str((await admin.describe_cluster())["cluster_id"])
    finally:
        await admin.close()
