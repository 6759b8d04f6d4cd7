"""The national benchmark's progress and tables (rich)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.live import Live
from rich.progress import Progress, TaskID
from rich.table import Table

from bench.common import console, progress
from bench.national.measure import CatchUp

PROJECTOR_TARGET = 20_000  # events/s each projector catches up at (issue 13)
READ_P99_TARGET_MS = 100.0  # every dashboard read at national level, at scale 0.1, with the deposit load


@contextmanager
def bar(description: str, total: int) -> Iterator[tuple[Progress, TaskID]]:
    with progress() as p:
        yield p, p.add_task(description, total=total)


def catch_up_table(catch_up: CatchUp) -> Table:
    t = Table(title="Catching up (seconds since the platform started)", title_justify="left")
    t.add_column("relay / projector")
    t.add_column("events", justify="right")
    t.add_column("caught up at", justify="right")
    for schema, relay in catch_up.relays.items():
        if relay.topic:
            t.add_row(f"relay {schema}", f"{relay.events:,}", _s(relay.done_at))
    for (schema, name), p in sorted(catch_up.projectors.items()):
        t.add_row(f"{schema}.{name}", f"{p.events:,}", _s(p.done_at))
    return t


@contextmanager
def catch_up_display() -> Iterator[Callable[[CatchUp], None]]:
    if not console.is_terminal:
        last = [0.0]

        def show_plain(catch_up: CatchUp) -> None:
            now = catch_up._now()  # noqa: SLF001
            if now - last[0] >= 30:
                last[0] = now
                behind = [n for (_, n), p in catch_up.projectors.items() if p.done_at is None]
                published = sum(r.events for r in catch_up.relays.values())
                console.print(f"  {now:6.0f} s: relays published {published:,}; catching up: {', '.join(behind)}")

        yield show_plain
        return
    with Live(console=console, refresh_per_second=1, transient=True) as live:
        yield lambda catch_up: live.update(catch_up_table(catch_up))


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


def _n(value: float | None, unit: str = "") -> str:
    return "—" if value is None else f"{value:,.0f}{unit}"


def print_catch_up(catch_up: CatchUp) -> None:
    figures = catch_up.as_json()
    t = Table(title="Relays and projectors: catch-up from the platform's start", title_justify="left")
    for column, justify in (
        ("relay / projector", "left"),
        ("records", "right"),
        ("caught up at", "right"),
        ("events/s (since start)", "right"),
        ("events/s (while reading)", "right"),
        ("target", "left"),
    ):
        t.add_column(column, justify=justify)  # type: ignore[arg-type]
    for schema, r in figures["relays"].items():
        t.add_row(
            f"relay {schema}", f"{r['events']:,}", _s(r["caught_up_s"]), _n(r["events_per_s"]),
            _n(r["events_per_s_publishing"]), "",
        )  # fmt: skip
    for name, p in figures["projectors"].items():
        rate = p["events_per_s"]
        mark = "" if rate is None else ("[green]✓[/]" if rate >= PROJECTOR_TARGET else "[red]✗[/]")
        t.add_row(
            name,
            f"{p['events']:,}",
            _s(p["caught_up_s"]),
            _n(rate),
            _n(p["events_per_s_reading"]),
            f"≥ {PROJECTOR_TARGET:,}/s {mark}",
        )
    console.print(t)


def print_summary(results: dict[str, Any]) -> None:
    w = results.get("write", {})
    console.print(
        f"[bold]Write[/]: {w.get('events', 0):,} events ({w.get('ledger_events', 0):,} ledger,"
        f" {w.get('lending_events', 0):,} lending) for {w.get('groups', 0):,} groups and {w.get('members', 0):,}"
        f" members in {w.get('seconds', 0):,.0f} s = [bold]{w.get('events_per_s', 0):,} events/s[/]"
        f" ({w.get('processes')} processes; generation {w.get('generate_cpu_s')} s, COPY {w.get('copy_s')} s,"
        f" summed over them); database {w.get('database_mib', {}).get('database', 0):,.0f} MiB"
    )
    if "reads" in results:
        t = Table(
            title="Dashboard reads over HTTP (ms), with deposits arriving in the background", title_justify="left"
        )
        for column, justify in (
            ("read", "left"),
            ("national p50", "right"),
            ("p99", "right"),
            ("province p50", "right"),
            ("p99", "right"),
            ("district p50", "right"),
            ("p99", "right"),
            ("group p50", "right"),
            ("p99", "right"),
        ):
            t.add_column(column, justify=justify)  # type: ignore[arg-type]
        by_read: dict[str, dict[str, dict[str, Any]]] = {}
        for r in results["reads"]:
            by_read.setdefault(r["read"], {})[r["level"]] = r
        for name, levels in by_read.items():
            cells = []
            for level in ("national", "province", "district", "group"):
                r = levels.get(level)
                if r is None:
                    cells += ["", ""]
                    continue
                p99 = r["p99_ms"]
                style = "" if p99 is None or p99 <= READ_P99_TARGET_MS else "red"
                p99_text = "—" if p99 is None else f"{p99:,.1f}"
                if r["errors"]:
                    p99_text += f" ({sum(r['errors'].values())} errors)"
                cells += [
                    "—" if r["p50_ms"] is None else f"{r['p50_ms']:,.1f}",
                    f"[{style}]{p99_text}[/]" if style else p99_text,
                ]
            t.add_row(name, *cells)
        console.print(t)
        national = [r for r in results["reads"] if r["level"] == "national" and r["p99_ms"] is not None]
        missed = [r["read"] for r in national if r["p99_ms"] > READ_P99_TARGET_MS]
        console.print(
            f"Target: every read's p99 ≤ {READ_P99_TARGET_MS:g} ms at national level: "
            + ("[green]met[/]" if not missed else f"[red]missed by {', '.join(missed)}[/]")
        )
        d = results["deposit_load"]
        console.print(
            f"[bold]Deposit load[/]: {d['achieved_per_second']}/s of {d['target_per_second']:g}/s,"
            f" p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms (from when each was due), statuses {d['statuses']},"
            f" {d['sent_late']} sent late, {d['dropped_overdue']} dropped (over a second overdue)"
        )
    if "alone" in results:
        t = Table(
            title="Each read model rebuilt alone from its topics (its projector's own rate)", title_justify="left"
        )
        for column in ("read model", "records", "applied", "seconds", "records/s"):
            t.add_column(column, justify="left" if column == "read model" else "right")
        for f in results["alone"]["projections"]:
            rate = f"{f['records_per_s']:,}"
            if f["error"]:
                rate += f" (failed: {f['error']})"
            elif f["records_per_s"] < PROJECTOR_TARGET:
                rate = f"[red]{rate}[/]"
            t.add_row(
                f"{f['service']}.{f['projection']}",
                f"{f['records']:,}",
                f"{f['applied']:,}",
                f"{f['seconds']:.1f}",
                rate,
            )
        console.print(t)
        if results["alone"]["skipped"]:
            console.print(
                f"Not rebuilt alone (topics over {results['alone']['max_records']:,} records):"
                f" {', '.join(results['alone']['skipped'])}"
            )
    mem = results.get("memory", {}).get("peak", {})
    if mem:
        console.print(
            "[bold]Resident memory[/] (peak, MiB): broker (Tansu) "
            f"{mem.get('broker_rss_mib', 0):,.0f}; database {mem.get('database_pss_mib', 0):,.0f} PSS"
            f" ({mem.get('database_rss_mib', 0):,.0f} RSS summed over its processes); services"
            f" {mem.get('services_rss_mib', 0):,.0f} RSS ({mem.get('services_pss_mib', 0):,.0f} PSS); machine memory"
            f" available at its lowest {mem.get('machine_available_mib', 0):,.0f}"
        )
    if "load_average" in results:
        console.print(f"Load average (1, 5, 15 min): {results['load_average']}")
