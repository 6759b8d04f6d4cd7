"""Reading a topic back in tests."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events.envelope import RecordedEvent


async def read_topic(bootstrap: str, topic: str, at_least: int, timeout: float = 20.0) -> list[RecordedEvent]:
    """Every record of `topic` from the beginning, once `at_least` have arrived (or the time is up)."""
    return [RecordedEvent.from_json(v) for v in await read_topic_values(bootstrap, topic, at_least, timeout)]


async def read_topic_values(bootstrap: str, topic: str, at_least: int, timeout: float = 20.0) -> list[bytes]:
    """The raw value of every record of `topic`, as `read_topic` reads them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = None
        deadline = time.monotonic() + timeout
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be new
                await asyncio.sleep(0.1)
        assert partitions, f"topic {topic} never appeared"
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        events: list[bytes] = []
        while len(events) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                events += [r.value or b"" for r in records]
        # A short extra read, so duplicates beyond `at_least` are seen too.
        batch = await consumer.getmany(timeout_ms=300)
        for records in batch.values():
            events += [r.value or b"" for r in records]
        return events
    finally:
        await consumer.stop()
