"""Shared pieces: settings, databases, percentiles, CPU accounting, result records."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg
import psutil
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from libs.events.settings import Settings

console = Console()
if not console.is_terminal:  # `make bench | tee`: keep the table on one line per row
    console = Console(width=150)
CLIENTS = 32
POOL_SIZE = 40


def bench_settings(prefix: str) -> Settings:
    return Settings(
        topic_prefix=prefix,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=100,
        database_pool_size=POOL_SIZE,
    )


def progress() -> Progress:
    return Progress(
        TextColumn("  {task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def with_database(dsn: str, name: str) -> str:
    base, _, query = dsn.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


async def fresh_database(admin_dsn: str, name: str, *, migrate: bool = True) -> str:
    """A new database on the bench server, with every service's schema migrated (as `make run` does)."""
    from services.catalog import migrate_all

    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
        await admin.execute(f"create database {name}")
    finally:
        await admin.close()
    url = with_database(admin_dsn, name)
    if migrate:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        assert pool is not None
        try:
            await migrate_all(pool)
        finally:
            await pool.close()
    return url


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of `samples` (q in 0..100); NaN when empty."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


class CpuMeter:
    """CPU used by the processes of a phase, in cores (1.0 = one core busy for the whole phase).

    Each group is a list of process ids, counted with their descendants (PostgreSQL's backends), except
    the bench process itself: the broker and server subprocesses are its children but not its work."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._start: dict[str, dict[int, float]] = {}
        self._t0 = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, roots in self.groups.items():
            times: dict[int, float] = {}
            for pid in roots:
                try:
                    root = psutil.Process(pid)
                    procs = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for proc in procs:
                    try:
                        t = proc.cpu_times()
                        times[proc.pid] = t.user + t.system
                    except psutil.NoSuchProcess:
                        pass
            out[name] = times
        return out

    def __enter__(self) -> CpuMeter:
        self._start = self._sample()
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        end = self._sample()
        self.cores = {
            name: round(sum(t - self._start.get(name, {}).get(pid, 0.0) for pid, t in times.items()) / elapsed, 2)
            for name, times in end.items()
        }


@dataclass
class Side:
    """One side of a comparison: what was measured, and how."""

    label: str
    count: int
    seconds: float
    rate: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    cpu_cores: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_ms_per_op(self) -> float | None:
        """CPU milliseconds per event or request, over every measured process but the load client."""
        if not self.count or not self.cpu_cores:
            return None
        cores = sum(v for k, v in self.cpu_cores.items() if "client" not in k)
        return round(cores * self.seconds * 1000 / self.count, 3)


@dataclass
class Comparison:
    key: str
    title: str
    ours: Side
    baseline: Side
    target: str
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.ours.rate / self.baseline.rate if self.baseline.rate else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "ours": asdict(self.ours) | {"cpu_ms_per_op": self.ours.cpu_ms_per_op},
            "baseline": asdict(self.baseline) | {"cpu_ms_per_op": self.baseline.cpu_ms_per_op},
            "ratio": round(self.ratio, 4),
            "target": self.target,
            "notes": self.notes,
        }


def cpu_count() -> tuple[int, int]:
    return os.cpu_count() or 0, len(os.sched_getaffinity(0))
