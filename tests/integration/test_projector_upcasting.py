"""Projections see every event at its type's current version, whatever version it was written in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from libs.events.envelope import SYSTEM_ACTOR, EventPayload, RecordedEvent
from libs.events.projector import Projector
from libs.events.registry import EventRegistry


class Captured:
    name = "captured"
    topics: Sequence[str] = ("demo",)

    def __init__(self) -> None:
        self.payloads: list[tuple[int, dict[str, Any]]] = []

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        self.payloads += [(e.schema_version, e.payload) for e in events]


def record(
    tp: TopicPartition, offset: int, stream: str, version: int, schema_version: int, payload: dict[str, Any]
) -> ConsumerRecord[bytes, bytes]:
    envelope = RecordedEvent(
        event_id=uuid.uuid4(),
        event_type="demo.Deposited",
        schema_version=schema_version,
        stream_id=stream,
        stream_version=version,
        position=offset + 1,
        occurred_at=datetime.now(UTC),
        recorded_at=datetime.now(UTC),
        actor=SYSTEM_ACTOR,
        correlation_id=None,
        causation_id=None,
        area=None,
        payload=payload,
    ).to_json()
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, envelope, None, 0, len(envelope), [])


async def test_old_payloads_are_upcast_before_a_projection_sees_them(pool: asyncpg.Pool) -> None:
    registry = EventRegistry()

    @registry.register("demo.Deposited", 1)
    class DepositedV1(EventPayload):
        amount_baht: int

    @registry.register("demo.Deposited", 2)
    class DepositedV2(EventPayload):
        amount_satang: int

    @registry.upcaster("demo.Deposited", 1)
    def _to_v2(payload: dict[str, Any]) -> dict[str, Any]:
        return {"amount_satang": payload["amount_baht"] * 100}

    tp = TopicPartition("demo", 0)
    captured = Captured()
    projector = Projector(
        pool,
        "reporting",
        captured,
        lambda group: None,
        "unused",  # type: ignore[arg-type,return-value]
        registry=registry,
    )
    projector.cluster_id = "c1"
    await projector.apply_batch(
        None,
        {
            tp: [  # type: ignore[arg-type]
                record(tp, 0, "acct-1", 1, 1, {"amount_baht": 12}),
                record(tp, 1, "acct-1", 2, 2, {"amount_satang": 34}),
            ]
        },
    )
    assert captured.payloads == [(2, {"amount_satang": 1200}), (2, {"amount_satang": 34})]


class _CountingConsumer:
    """Records the informative offset commits a projector sends the broker."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


async def test_the_broker_is_told_the_offsets_now_and_then_not_after_every_batch(pool: asyncpg.Pool) -> None:
    # Kafka's committed offsets are informative only (the read model's own rule): a commit per batch was a
    # tenth of a live projector's CPU. The first batch is told at once, the next within the interval are
    # gathered, and a later commit carries every partition's latest offset.
    from libs.events import projector as projector_module

    first, second = TopicPartition("demo", 0), TopicPartition("demo", 1)
    projector = Projector(pool, "reporting", Captured(), lambda group: None, "unused")  # type: ignore[arg-type,return-value]
    projector.cluster_id = "c2"
    consumer = _CountingConsumer()
    stream = f"acct-{uuid.uuid4()}"
    other = f"acct-{uuid.uuid4()}"
    await projector.apply_batch(consumer, {first: [record(first, 0, stream, 1, 2, {"amount_satang": 1})]})  # type: ignore[arg-type,list-item]
    await projector.apply_batch(consumer, {first: [record(first, 1, stream, 2, 2, {"amount_satang": 2})]})  # type: ignore[arg-type,list-item]
    await projector.apply_batch(consumer, {second: [record(second, 0, other, 1, 2, {"amount_satang": 3})]})  # type: ignore[arg-type,list-item]
    assert consumer.commits == [{first: 1}]
    projector._committed_at -= projector_module.OFFSET_COMMIT_EVERY  # noqa: SLF001  (the interval has passed)
    await projector.apply_batch(consumer, {second: [record(second, 1, other, 2, 2, {"amount_satang": 4})]})  # type: ignore[arg-type,list-item]
    assert consumer.commits == [{first: 1}, {first: 2, second: 2}]
