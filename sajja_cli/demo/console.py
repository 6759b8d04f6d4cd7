"""`sajja demo` on a terminal: a progress bar by phase, then what was loaded and what the platform shows."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from libs.events.envelope import today_in_thailand
from libs.events.runtime import run_until_complete
from sajja_cli.demo.generator import Scale, generate
from sajja_cli.demo.loader import DemoAborted, Loader, Summary


class RichProgress:
    """The loader's progress on two bars: the whole run, and the phase it is in."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.overall: TaskID | None = None
        self.current: TaskID | None = None

    def start(self, total: int) -> None:
        self.overall = self.progress.add_task("all", total=total)
        self.current = self.progress.add_task("", total=1)

    def phase(self, description: str, total: int) -> None:
        assert self.current is not None
        self.progress.reset(self.current, total=max(total, 1), completed=0, description=description)

    def advance(self, n: int = 1) -> None:
        assert self.overall is not None and self.current is not None
        self.progress.advance(self.current, n)
        self.progress.advance(self.overall, n)


class PlainProgress:
    """The loader's progress as plain lines, for output that is not a terminal (a log file, CI): each phase as it
    starts, and how far the run is every `every` seconds."""

    def __init__(self, console: Console, every: float = 10.0) -> None:
        self.console = console
        self.every = every
        self.total = self.done = 0
        self.description = ""
        self.said = time.monotonic()
        self.started = self.said

    def start(self, total: int) -> None:
        self.total = total

    def phase(self, description: str, total: int) -> None:
        self.description = description
        self._say()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self.said >= self.every:
            self._say()

    def _say(self) -> None:
        self.said = time.monotonic()
        share = 100 * self.done / self.total if self.total else 0.0
        elapsed = int(self.said - self.started)
        clock = f"{elapsed // 60:d}:{elapsed % 60:02d}"
        line = f"[{clock}] {self.done:,} of {self.total:,} ({share:.1f} %): {self.description}"
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def baht(satang: int) -> str:
    """Baht with thousands separators, to the satang: 1,234,567.89."""
    sign = "-" if satang < 0 else ""
    whole, fraction = divmod(abs(satang), 100)
    return f"{sign}{whole:,}.{fraction:02d}"


def _shown(value: Any) -> str:
    """A figure as the platform gave it: decimal strings of money get separators."""
    if isinstance(value, str) and value.replace(".", "", 1).lstrip("-").isdigit() and "." in value:
        whole, _, fraction = value.partition(".")
        return f"{int(whole):,}.{fraction}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def development_credentials(data_dir: Path, username: str) -> str | None:
    """The password `make run` printed on its first start for `username` (kept in .sajja/dev-credentials)."""
    path = data_dir / "dev-credentials"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition("\t")
        name, _, secret = rest.partition("\t")
        if kind.startswith("user") and name == username:
            return secret
    return None


def _skip_failing_sniffio_import() -> None:
    """httpcore 1.0 imports the optional `sniffio` on every request, and Python does not remember a
    failed import: without sniffio (anyio ≥ 4.11 stopped requiring it) each request searches sys.path
    again, about a sixth of the demo's CPU (encode/httpcore#1103). Marking it absent makes that import
    fail at once; nothing changes where sniffio is installed."""
    if importlib.util.find_spec("sniffio") is None:
        sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]


def run_demo(url: str, scale: Scale, seed: int, concurrency: int, username: str, password: str) -> None:
    _skip_failing_sniffio_import()
    console = Console()
    today = today_in_thailand()
    province = generate(seed, scale, today)
    console.print(
        f"Sajja demo: Sa Kaeo (27), seed {seed} — {len(province.groups)} groups, {len(province.members):,} members,"
        f" {province.months[0]:%Y-%m} to {province.months[-1]:%Y-%m} (today {today}), into {url}"
    )
    columns = (
        TextColumn("{task.description:<42}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
    )

    async def go() -> Summary:
        limits = httpx.Limits(max_connections=concurrency + 16, max_keepalive_connections=concurrency + 16)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            # The demo acts as a department user, who creates the officers and partner clients it needs.
            signed = await client.post("/auth/v1/sessions", json={"username": username, "password": password})
            if signed.status_code != 201:
                raise DemoAborted(f"signing in as {username} at {url}: {signed.status_code} {signed.text[:200]}")
            client.headers["Authorization"] = f"Bearer {signed.cookies['sajja_session']}"
            client.cookies.clear()
            if not console.is_terminal:  # a log file or a pipe: lines a person (or a CI log) can read
                plain = PlainProgress(console)
                return await Loader(client, province, concurrency=concurrency, progress=plain, secret=password).run()
            with Progress(*columns, console=console) as progress:
                loader = Loader(
                    client, province, concurrency=concurrency, progress=RichProgress(progress), secret=password
                )
                return await loader.run()

    result: list[Summary] = []

    async def keep() -> None:
        result.append(await go())

    try:
        # uvloop where it is installed: the client's share of the two cores is what it costs.
        run_until_complete(keep())
    except DemoAborted as exc:
        console.print(f"[bold red]The demo stopped:[/] {exc}")
        console.print("Running `sajja demo` again with the same options resumes: what was loaded is replayed.")
        raise SystemExit(1) from None
    print_summary(console, result[0])


def print_summary(console: Console, summary: Summary) -> None:
    counts, money = summary.counts, summary.money
    loaded = Table(title="Loaded", show_header=False)
    loaded.add_column(justify="left")
    loaded.add_column(justify="right")
    for name, value in sorted(counts.items()):
        loaded.add_row(name, f"{value:,}")
    amounts = Table(title="Money (baht)", show_header=False)
    amounts.add_column(justify="left")
    amounts.add_column(justify="right")
    for name, value in sorted(money.items()):
        amounts.add_row(name, baht(value))
    console.print(loaded, amounts)
    phases = Table(title="Where the time went")
    for heading in ("phase", "seconds", "requests", "requests/s"):
        phases.add_column(heading, justify="left" if heading == "phase" else "right")
    for name, seconds in sorted(summary.phase_seconds.items(), key=lambda item: -item[1]):
        requests = summary.phase_requests[name]
        phases.add_row(name, f"{seconds:,.1f}", f"{requests:,}", f"{requests / seconds:,.0f}" if seconds else "")
    console.print(phases)
    rate = summary.requests / summary.seconds if summary.seconds else 0.0
    console.print(
        f"{summary.requests:,} requests in {summary.seconds:,.0f} s ({rate:,.0f}/s), {summary.retries:,} retried,"
        f" {summary.rate_limited:,} answered 429 (rate limit) and asked again"
    )
    if summary.refusals:
        console.print("[yellow]Refused by the platform[/] (counted, the run went on):")
        for what, count in summary.refusals.most_common():
            console.print(f"  {what}: {count:,}")
        for example in summary.refusal_examples[:5]:
            console.print(f"    e.g. {example}")
    else:
        console.print("Nothing was refused.")
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    figures = summary.figures
    if figures:
        shown = Table(title="What the platform shows for Sa Kaeo (27) today", show_header=False)
        shown.add_column(justify="left")
        shown.add_column(justify="right")
        for key in (
            "groups",
            "members",
            "savings",
            "sajja_savings",
            "special_savings",
            "borrowers",
            "loans_outstanding",
        ):
            shown.add_row(f"stats: {key}", _shown(figures["stats"].get(key)))
        portfolio = figures["portfolio"]
        shown.add_row("portfolio: loans", _shown(portfolio["loans"]))
        shown.add_row("portfolio: outstanding", _shown(portfolio["outstanding"]))
        for bucket, value in portfolio["buckets"].items():
            shown.add_row(f"portfolio: {bucket} days", f"{value['loans']:,} · {_shown(value['outstanding'])}")
        shown.add_row("portfolio: PAR30", f"{_shown(portfolio['par30'])} ({portfolio['par30_percent']} %)")
        for key, value in figures["campaign"]["counters"].items():
            shown.add_row(f"campaign: {key}", _shown(value))
        console.print(shown)
