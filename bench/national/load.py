"""Writing the nation: worker processes each generate chunks of groups and write each chunk in one transaction —
both event stores through EventStore.append_bulk (COPY), the member and payout registers and the answered
inbox messages by COPY. Nothing of the nation is held beyond a chunk."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from bench.national import nation
from libs.events.envelope import NewEvent
from libs.events.store import EventStore, StreamAppend
from services.ledger.handlers import ledger_event_store
from services.lending import domain as lending

LEDGER = ledger_event_store()
LENDING = EventStore("lending")
CHUNK_GROUPS = 16


@dataclass
class Loaded:
    """What the write phase did."""

    events: int = 0
    ledger_events: int = 0
    lending_events: int = 0
    members: int = 0
    groups: int = 0
    seconds: float = 0.0
    generate_seconds: float = 0.0  # summed over the workers
    write_seconds: float = 0.0  # summed over the workers
    workers: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def write_products(dsn: str) -> list[Any]:
    """The two loan products, as lending's POST /products writes them (before any group: loans name them)."""
    events = nation.products()
    conn = await asyncpg.connect(dsn)
    try:
        appends = [
            StreamAppend(lending.product_stream(p.product_id), 0, [NewEvent(p, actor=nation.DEPARTMENT)])
            for p in events
        ]
        async with conn.transaction():
            await LENDING.append_bulk(conn, LENDING.prepare(appends))
    finally:
        await conn.close()
    return events


async def write_chunk(conn: asyncpg.Connection, out: nation.Output) -> None:
    now = datetime.now(UTC)
    async with conn.transaction():
        await LEDGER.append_bulk(conn, out.ledger, texts=out.ledger_texts)
        await conn.copy_records_to_table(
            "member_register",
            schema_name="ledger",
            columns=(
                "member_id", "group_id", "national_id_hash", "national_id", "full_name", "phone",
                "no_registration_status", "joined_on",
            ),
            records=out.register,
        )  # fmt: skip
        await LENDING.append_bulk(conn, out.lending, texts=out.lending_texts)
        await conn.copy_records_to_table(
            "payout_register",
            schema_name="lending",
            columns=("instruction_id", "ticket_id", "channel", "bank_code", "account_number", "promptpay_id"),
            records=out.payouts,
        )
        for schema, rows in (("ledger", out.ledger_inbox), ("lending", out.lending_inbox)):
            await conn.copy_records_to_table(
                "inbox",
                schema_name=schema,
                columns=("message_id", "kind", "payload", "handled_at", "outcome"),
                records=[(m, k, p, now, o) for m, k, p, o in rows],
            )


def _worker(
    index: int, workers: int, dsn: str, seed: int, scale: float, hash_key: str, today: date, progress: Any
) -> None:
    asyncio.run(_work(index, workers, dsn, seed, scale, hash_key, today, progress))


async def _work(
    index: int, workers: int, dsn: str, seed: int, scale: float, hash_key: str, today: date, progress: Any
) -> None:
    specs = nation.plan(seed, scale)
    products = nation.products()
    chunks = [specs[i : i + CHUNK_GROUPS] for i in range(0, len(specs), CHUNK_GROUPS)][index::workers]
    conn = await asyncpg.connect(dsn)
    generating = writing = 0.0
    try:
        for chunk in chunks:
            t0 = time.perf_counter()
            out = nation.Output()
            for spec in chunk:
                out.extend(nation.group_year(seed, spec, hash_key, today, products))
            t1 = time.perf_counter()
            await write_chunk(conn, out)
            t2 = time.perf_counter()
            generating += t1 - t0
            writing += t2 - t1
            progress.put(("chunk", len(out.ledger), len(out.lending), out.counts))
    except BaseException as error:
        progress.put(("error", f"worker {index}: {type(error).__name__}: {error}"))
        raise
    finally:
        await conn.close()
    progress.put(("done", generating, writing))


def load(dsn: str, seed: int, scale: float, hash_key: str, today: date, workers: int, on_chunk: Any = None) -> Loaded:
    """Write the nation with `workers` processes; `on_chunk(events_so_far, total_groups_done)` reports."""
    asyncio.run(write_products(dsn))
    specs = nation.plan(seed, scale)
    if workers <= 1:
        return _load_here(dsn, seed, scale, hash_key, today, specs, on_chunk)
    ctx = mp.get_context("spawn")
    progress: Any = ctx.Queue()
    result = Loaded(workers=workers, groups=len(specs), members=sum(s.size for s in specs))
    started = time.perf_counter()
    procs = [
        ctx.Process(target=_worker, args=(i, workers, dsn, seed, scale, hash_key, today, progress), daemon=True)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    done = 0
    groups_done = 0
    try:
        while done < workers:
            try:
                message = progress.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a writer process exited with {dead[0].exitcode}") from None
                continue
            if message[0] == "chunk":
                _, ledger_n, lending_n, counts = message
                result.ledger_events += ledger_n
                result.lending_events += lending_n
                groups_done += counts.get("groups", 0)
                for k, v in counts.items():
                    result.counts[k] = result.counts.get(k, 0) + v
                if on_chunk is not None:
                    on_chunk(result.ledger_events + result.lending_events, groups_done)
            elif message[0] == "done":
                done += 1
                result.generate_seconds += message[1]
                result.write_seconds += message[2]
            else:
                raise RuntimeError(message[1])
    finally:
        for p in procs:
            if p.is_alive() and done < workers:
                p.terminate()
            p.join(timeout=30)
    result.seconds = time.perf_counter() - started
    result.events = result.ledger_events + result.lending_events + len(nation.products())
    return result


def _load_here(
    dsn: str, seed: int, scale: float, hash_key: str, today: date, specs: list[nation.GroupSpec], on_chunk: Any
) -> Loaded:
    """One worker: in this process (no process to start)."""
    result = Loaded(workers=1, groups=len(specs), members=sum(s.size for s in specs))
    started = time.perf_counter()

    class Here:
        def put(self, message: tuple[Any, ...]) -> None:
            if message[0] == "chunk":
                _, ledger_n, lending_n, counts = message
                result.ledger_events += ledger_n
                result.lending_events += lending_n
                for k, v in counts.items():
                    result.counts[k] = result.counts.get(k, 0) + v
                if on_chunk is not None:
                    on_chunk(result.ledger_events + result.lending_events, result.counts.get("groups", 0))
            elif message[0] == "done":
                result.generate_seconds, result.write_seconds = message[1], message[2]

    asyncio.run(_work(0, 1, dsn, seed, scale, hash_key, today, Here()))
    result.seconds = time.perf_counter() - started
    result.events = result.ledger_events + result.lending_events + len(nation.products())
    return result


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 4))
