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
