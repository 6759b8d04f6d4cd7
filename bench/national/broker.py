"""How far up the scale the embedded broker goes on this machine: `python -m bench.national.broker --scale S`.

Tansu (the embedded broker) keeps every record in memory, and the relays publish each store's whole history
into it. This writes a nation at scale S as the benchmark does, then publishes it with the platform's own
relays (libs/events/relay.py, no projectors, nothing else running) while sampling the broker's resident
memory, and stops early, before the machine runs short, once the memory still available falls to a floor.
It prints the broker's memory per event published and the largest scale whose whole history it could hold
beside PostgreSQL and the services (as measured by the full benchmark: --others-mib)."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.common import bench_settings, console, fresh_database
from bench.infra import Infra
from bench.national import load
from libs.events.kafka import make_producer, topic_for
from libs.events.relay import Relay
from libs.events.store import EventStore

RESULTS = Path(__file__).resolve().parent.parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.national.broker", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--workers", type=int, default=load.default_workers())
    p.add_argument("--floor-mib", type=float, default=3072, help="stop publishing when less is available")
    p.add_argument(
        "--others-mib",
        type=float,
        default=0.0,
        help="memory PostgreSQL and the services need beside the broker in a full run (from the full benchmark)",
    )
    p.add_argument("--output", type=Path)
    return p.parse_args(argv)


async def publish(infra: Infra, dsn: str, floor_mib: float, total: int) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=8)
    assert pool is not None
    settings = bench_settings("sajja")
    relays = [
        Relay(
            pool,
            EventStore(s),
            infra.bootstrap_servers,
            topic_for(s),
            lambda: make_producer(settings, infra.bootstrap_servers),
        )
        for s in ("ledger", "lending")
    ]
    broker = psutil.Process(infra.kafka.pid)
    base = broker.memory_info().rss
    samples: list[tuple[float, int, float, float]] = []
    tasks = [asyncio.create_task(r.run()) for r in relays]
    started = time.monotonic()
    stopped_early = False
    try:
        while True:
            await asyncio.sleep(1.0)
            published = sum(r.status.published for r in relays)
            rss = broker.memory_info().rss
            available = psutil.virtual_memory().available / 2**20
            samples.append((round(time.monotonic() - started, 1), published, round(rss / 2**20, 1), round(available)))
            console.print(
                f"  {samples[-1][0]:6.0f} s: {published:>11,} published, broker {rss / 2**20:8,.0f} MiB,"
                f" machine available {available:8,.0f} MiB",
                highlight=False,
            )
            if published >= total:
                break
            if available < floor_mib:
                stopped_early = True
                break
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
    seconds = time.monotonic() - started
    published = samples[-1][1] if samples else 0
    rss_mib = samples[-1][2] if samples else 0.0
    per_event = (rss_mib * 2**20 - base) / published if published else 0.0
    return {
        "published": published,
        "seconds": round(seconds, 1),
        "events_per_s": round(published / seconds) if seconds else 0,
        "broker_rss_start_mib": round(base / 2**20, 1),
        "broker_rss_end_mib": rss_mib,
        "broker_bytes_per_event": round(per_event),
        "stopped_early": stopped_early,
        "samples": samples,
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the finally below stops the servers this run started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    infra = Infra()
    results: dict[str, Any] = {"scale": args.scale, "seed": args.seed}
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        infra.start()

        async def prepare() -> str:
            return await fresh_database(infra.dsn, "national")

        dsn = asyncio.run(prepare())
        console.print(f"writing the nation at scale {args.scale:g} …")
        written = load.load(dsn, args.seed, args.scale, "broker-probe-key", date.today(), args.workers)
        console.print(f"  {written.events:,} events in {written.seconds:.0f} s ({written.rate:,.0f}/s)")
        results["write"] = {"events": written.events, "seconds": round(written.seconds, 1)}
        total_memory = psutil.virtual_memory().total / 2**20
        results["machine_memory_mib"] = round(total_memory)
        results["available_before_publishing_mib"] = round(psutil.virtual_memory().available / 2**20)
        published = asyncio.run(publish(infra, dsn, args.floor_mib, written.events))
        results["publish"] = published
    finally:
        infra.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    per_event = published["broker_bytes_per_event"]
    events_per_scale = written.events / args.scale
    # What the broker may take on this machine: its memory, less what PostgreSQL and the services hold in a full
    # run, less the floor kept free for everything else.
    budget = (total_memory - args.others_mib - args.floor_mib) * 2**20
    largest = budget / (per_event * events_per_scale) if per_event else None
    results["events_per_unit_scale"] = round(events_per_scale)
    results["largest_scale_estimate"] = None if largest is None else round(largest, 3)
    results["budget_mib"] = round(budget / 2**20)
    console.print(
        f"Broker: {published['published']:,} events published in {published['seconds']:.0f} s"
        f" ({published['events_per_s']:,}/s); {published['broker_rss_end_mib']:,.0f} MiB resident,"
        f" {per_event:,} bytes an event. The nation is {events_per_scale:,.0f} events a year; with"
        f" {budget / 2**20:,.0f} MiB for the broker it holds scale {results['largest_scale_estimate']}."
    )
    path = args.output or RESULTS / f"national-broker-{args.scale:g}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
