"""The nemesis: at seeded moments of a trial it SIGKILLs the runner or the database, restarts the broker
empty, pauses it (SIGSTOP … SIGCONT), or delivers again records the topics already hold (copies, in a
shuffled order, as a consumer sees after a rebalance or a producer retry). Each fault is logged with the
moment it struck, so a finding can be told as "what fault, what command, what state"."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.faults.runner import Runner

FAULTS = ("kill-runner", "kill-database", "broker-restart-empty", "broker-pause", "redeliver")


@dataclass
class Fault:
    kind: str
    at: float  # seconds into the trial's commands
    note: str = ""


@dataclass
class Nemesis:
    runner: Runner
    rng: random.Random
    faults: list[Fault] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    # How many commands are in flight: a kill waits (a little) for one, to cut off answers already committed.
    inflight: Callable[[], int] | None = None

    @classmethod
    def planned(
        cls, runner: Runner, rng: random.Random, window: float, count: int, kinds: Sequence[str] | None = None
    ) -> Nemesis:
        """`count` faults drawn from FAULTS, or the `kinds` given, at seeded moments of the window."""
        chosen = list(kinds) if kinds is not None else [rng.choice(FAULTS) for _ in range(count)]
        faults = sorted((Fault(kind, rng.uniform(0.2, window)) for kind in chosen), key=lambda f: f.at)
        return cls(runner, rng, faults)

    async def run(self, started: float) -> None:
        for fault in self.faults:
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            busy = 0
            if fault.kind in ("kill-runner", "kill-database") and self.inflight is not None:
                waited = time.monotonic()
                while not (busy := self.inflight()) and time.monotonic() - waited < 1.5:
                    await asyncio.sleep(0.001)
            began = time.monotonic() - started
            try:
                fault.note = await self.strike(fault.kind)
                if busy:
                    fault.note += f" ({busy} in flight)"
            except Exception as exc:  # a fault that could not be dealt is reported, not fatal
                fault.note = f"failed: {type(exc).__name__}: {exc}"
            self.log.append(f"{began:6.2f}s {fault.kind}: {fault.note}")

    async def strike(self, kind: str) -> str:
        runner, rng = self.runner, self.rng
        if kind == "kill-runner":
            runner.kill()
            down = rng.uniform(0.0, 2.0)
            await asyncio.sleep(down)
            took = await runner.start()
            return f"down {down:.1f}s, back in {took:.1f}s"
        if kind == "kill-database":
            if not runner.kill_database():
                return "no database to kill"
            # The runner does not restart its database: it answers 5xx until it is itself restarted.
            down = rng.uniform(0.5, 2.5)
            await asyncio.sleep(down)
            runner.kill()
            took = await runner.start()
            return f"runner answered without a database for {down:.1f}s, restarted in {took:.1f}s"
        if kind == "broker-restart-empty":
            down = rng.uniform(0.0, 1.5)
            ok = await runner.restart_broker_empty(down)
            return f"empty broker after {down:.1f}s" if ok else "no broker to restart"
        if kind == "broker-pause":
            pause = rng.uniform(1.0, 5.0)
            if not runner.pause_broker():
                return "no broker to pause"
            try:
                await asyncio.sleep(pause)
            finally:
                runner.resume_broker()
            return f"paused {pause:.1f}s"
        if kind == "redeliver":
            address = runner.broker_address()
            if address is None:
                return "no broker"
            copied = await asyncio.wait_for(redeliver(address, rng), timeout=20)
            return f"{copied} records delivered again"
        raise ValueError(kind)


async def redeliver(bootstrap: str, rng: random.Random) -> int:
    """Produce again a random share of the records every sajja topic holds, shuffled, each to its own partition
    with its key, value and headers: to a consumer these are duplicates and old events out of order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await consumer.start()
    try:
        topics = sorted(t for t in await consumer.topics() if t.startswith("sajja."))
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            return 0
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records = []
        while True:
            batch = await consumer.getmany(timeout_ms=700, max_records=10_000)
            if not batch:
                break
            for tp, rows in batch.items():
                records.extend((tp, r) for r in rows)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
    share = rng.uniform(0.2, 1.0)
    chosen = [r for r in records if rng.random() < share]
    rng.shuffle(chosen)
    await producer.start()
    try:
        for tp, record in chosen:
            await producer.send(
                tp.topic, record.value, key=record.key, partition=tp.partition, headers=list(record.headers)
            )
        await producer.flush()
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
    return len(chosen)
