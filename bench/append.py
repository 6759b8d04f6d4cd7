"""Figure 1: single-event appends through EventStore vs plain INSERTs of the same rows.

Ours: each command appends one SavingsDeposited to a member stream at its expected version with
EventStore.append on a pooled connection, as one autocommit statement (atomic on its own: the store's
guard, version check and insert are a single statement). A command with more writes wraps them in a
transaction, which adds BEGIN and COMMIT round trips (measured 0.42–0.43× of raw on this machine).
Baseline: the same rows (same columns, same JSON texts) INSERTed one by one in autocommit into a copy of
the events table (`like ledger.events including all`: same indexes, identity and defaults, no trigger,
no guard). Both: 32 asyncio clients, each on its own pooled connection, until N events or the time is up.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from bench.common import CLIENTS, POOL_SIZE, Comparison, CpuMeter, Side, fresh_database, percentile, progress
from libs.events.envelope import Actor, Area, NewEvent
from libs.events.ids import new_id
from libs.events.schemas.ledger import SavingsDeposited
from libs.events.store import EventStore

STREAMS_PER_CLIENT = 64
ACTOR = Actor(kind="user", id="anonymous")
AREA = Area(province_code="27", district_code="2701")

RAW_INSERT = """
    insert into bench_raw.events (stream_id, stream_version, event_id, event_type, schema_version, occurred_at,
                                  actor, correlation_id, causation_id, area, payload, traceparent, tracestate)
    values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
"""


def deposit(member: uuid.UUID, group: uuid.UUID, version: int) -> SavingsDeposited:
    return SavingsDeposited(
        transaction_id=new_id(),
        member_id=member,
        group_id=group,
        account="special" if version % 2 else "sajja",
        amount_satang=5000,
        deposited_on=date(2024, 1, 5),
        balance_after_satang=5000 * version,
    )


def plan(per_client: int) -> list[list[tuple[str, int, SavingsDeposited]]]:
    """Per client: (stream, expected version, event) in order, cycling over the client's own streams."""
    group = new_id()
    work = []
    for _ in range(CLIENTS):
        members = [new_id() for _ in range(STREAMS_PER_CLIENT)]
        ops = []
        for k in range(per_client):
            member = members[k % STREAMS_PER_CLIENT]
            expected = k // STREAMS_PER_CLIENT
            ops.append((f"member-{member}", expected, deposit(member, group, expected + 1)))
        work.append(ops)
    return work


async def _drive(label: str, work: list[list[Any]], duration: float, op: Any, groups: dict[str, list[int]]) -> Side:
    total = sum(len(w) for w in work)
    latencies: list[float] = []
    errors = 0
    done = 0
    with progress() as bar:
        task = bar.add_task(label, total=total)

        async def client(ops: list[Any]) -> None:
            nonlocal errors, done
            for item in ops:
                if time.perf_counter() >= deadline:
                    return
                t0 = time.perf_counter()
                try:
                    await op(item)
                except Exception:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                done += 1
                if done % 500 == 0:
                    bar.update(task, completed=done)

        with CpuMeter(groups) as cpu:
            start = time.perf_counter()
            deadline = start + duration
            await asyncio.gather(*(client(ops) for ops in work))
            elapsed = time.perf_counter() - start
    return Side(
        label=label,
        count=len(latencies),
        seconds=round(elapsed, 3),
        rate=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 2),
        p99_ms=round(percentile(latencies, 99) * 1000, 2),
        errors=errors,
        cpu_cores=cpu.cores,
    )


async def run(admin_dsn: str, pids: dict[str, list[int]], events: int, duration: float) -> Comparison:
    url = await fresh_database(admin_dsn, "bench_append")
    pool = await asyncpg.create_pool(url, min_size=CLIENTS, max_size=POOL_SIZE)
    assert pool is not None
    groups = {"bench process": [os.getpid()], **pids}
    try:
        await pool.execute("create schema bench_raw; create table bench_raw.events (like ledger.events including all)")
        per_client = events // CLIENTS
        store = EventStore("ledger")

        # Ours: events built up front (the command's own work), the store's cost measured.
        work = [
            [(stream, expected, NewEvent(event, actor=ACTOR, area=AREA)) for stream, expected, event in ops]
            for ops in plan(per_client)
        ]

        async def append(item: tuple[str, int, NewEvent]) -> None:
            stream, expected, event = item
            async with pool.acquire() as conn:
                await store.append(conn, stream, expected, [event])

        ours = await _drive("EventStore.append, 1 event / statement", work, duration, append, groups)

        # Baseline: the same rows, serialised up front exactly as the store serialises them.
        actor_json, area_json = ACTOR.model_dump_json(), AREA.model_dump_json()
        now = datetime.now().astimezone()
        raw_work = [
            [
                (stream, expected + 1, new_id(), "ledger.SavingsDeposited", 1, now, actor_json, None, None,
                 area_json, event.model_dump_json(), None, None)
                for stream, expected, event in ops
            ]
            for ops in plan(per_client)
        ]  # fmt: skip

        async def insert(row: tuple[Any, ...]) -> None:
            async with pool.acquire() as conn:
                await conn.execute(RAW_INSERT, *row)

        baseline = await _drive("plain INSERT, autocommit", raw_work, duration, insert, groups)
        stored = await pool.fetchval("select count(*) from ledger.events")
        ours.extra["rows_in_store"] = stored
        ours.extra["streams"] = CLIENTS * STREAMS_PER_CLIENT
    finally:
        await pool.close()
    return Comparison(
        key="append",
        title="Event-store append (events/s)",
        ours=ours,
        baseline=baseline,
        target="≥ 50% of raw insert",
        notes=[
            f"{CLIENTS} clients, {CLIENTS * STREAMS_PER_CLIENT} member streams,"
            f" up to {events} events or {duration:g} s per side",
            "baseline: same rows into `like ledger.events including all` (no trigger, no guard), autocommit",
        ],
    )
