"""The printed table and bench/results/latest.json."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.common import Comparison, console

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def _num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or math.isnan(a) or math.isnan(b):
        return "—"
    return f"{a / b:.2f}×"


def table(comparisons: list[Comparison]) -> Table:
    t = Table(title="Sajja bench — ours vs raw baseline, same run", title_justify="left", show_lines=False)
    t.add_column("Figure")
    t.add_column("Sajja", justify="right")
    t.add_column("Baseline", justify="right")
    t.add_column("Ratio", justify="right")
    t.add_column("Target (issue)")
    for c in comparisons:
        t.add_row(c.title, _num(c.ours.rate), _num(c.baseline.rate), _ratio(c.ours.rate, c.baseline.rate), c.target)
        if c.ours.p50_ms is not None:
            for q in ("p50", "p99"):
                ours, base = getattr(c.ours, f"{q}_ms"), getattr(c.baseline, f"{q}_ms")
                t.add_row(f"  {q} latency", _num(ours, "ms"), _num(base, "ms"), _ratio(ours, base), "", style="dim")
        t.add_row(
            "  events/requests, seconds",
            f"{c.ours.count:,} in {c.ours.seconds:.1f} s",
            f"{c.baseline.count:,} in {c.baseline.seconds:.1f} s",
            "",
            "",
            style="dim",
        )
        t.add_row("  CPU (cores busy)", _cpu(c.ours.cpu_cores), _cpu(c.baseline.cpu_cores), "", "", style="dim")
        ours_ms, base_ms = c.ours.cpu_ms_per_op, c.baseline.cpu_ms_per_op
        t.add_row(
            "  CPU ms per op (not client)",
            "—" if ours_ms is None else f"{ours_ms:.3f}",
            "—" if base_ms is None else f"{base_ms:.3f}",
            _ratio(ours_ms, base_ms),
            "",
            style="dim",
        )
        if c.ours.errors or c.baseline.errors:
            t.add_row("  errors", str(c.ours.errors), str(c.baseline.errors), "", "", style="red")
        t.add_section()
    return t


def _cpu(cores: dict[str, float]) -> str:
    short = {"bench process": "bench", "bench process (client)": "client", "server process": "server", "postgres": "pg"}
    return " ".join(f"{short.get(k, k)} {v:.2f}" for k, v in cores.items())


def notes(comparisons: list[Comparison]) -> None:
    console.print(
        "Ratio = Sajja / baseline (for rates < 1 means Sajja is slower; for latency and CPU rows > 1 means it is)."
        " CPU: cores busy during the measurement, per process group; 'bench' runs the library code under test"
        " in figures 1–3, 'client' is only the load generator in figure 4."
    )
    for c in comparisons:
        for note in c.notes:
            console.print(f"  [bold]{c.key}[/]: {note}")


def write(machine: dict[str, Any], comparisons: list[Comparison], seconds: float, path: Path | None = None) -> Path:
    path = path or RESULTS
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "machine": machine,
        "total_seconds": round(seconds, 1),
        "figures": {c.key: c.as_json() for c in comparisons},
    }
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    return path
