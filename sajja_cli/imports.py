"""`sajja import FILE`: onboard groups from a spreadsheet into the running platform, over its API (the same job
the dashboard starts), with a progress bar on a terminal and plain progress lines otherwise. `sajja import
--template FILE` writes the template (XLSX, or a ZIP of CSVs) with its example."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sajja_cli.projections import CliError, _detail, signed_in

POLL_SECONDS = 0.25
PLAIN_EVERY_SECONDS = 5.0


def write_template(out: Path, example: bool) -> None:
    from services.ledger.onboarding import workbook

    if out.is_dir():
        workbook.write_template_csv(out, example=example)
    elif out.suffix.lower() == ".zip":
        out.write_bytes(workbook.template_zip(example=example))
    else:
        workbook.write_template(out, example=example)


async def import_file(
    client: httpx.AsyncClient, path: Path, good_groups_only: bool, console: Console
) -> dict[str, Any]:
    started = await client.post(
        "/ledger/v1/imports",
        params={"file_name": path.name, "good_groups_only": str(good_groups_only).lower()},
        content=path.read_bytes(),
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/octet-stream"},
        timeout=120,
    )
    if started.status_code not in (200, 202):
        raise CliError(f"{path.name}: {started.status_code} {_detail(started)}")
    job = started.json()
    where = job["links"]["self"]
    if console.is_terminal:
        columns = (
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("events"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"{path.name}: {job['status']}", total=None)
            while job["status"] in ("queued", "importing"):
                done, total = job["progress"]["events_done"], job["progress"]["events_total"]
                progress.update(task, description=f"{path.name}: {job['status']}", completed=done, total=total or None)
                await asyncio.sleep(POLL_SECONDS)
                job = await _status(client, where)
            done, total = job["progress"]["events_done"], job["progress"]["events_total"]
            progress.update(task, description=f"{path.name}: {job['status']}", completed=done, total=total or done)
        return job
    said = 0.0
    while job["status"] in ("queued", "importing"):
        if time.monotonic() - said >= PLAIN_EVERY_SECONDS:
            done, total = job["progress"]["events_done"], job["progress"]["events_total"]
            console.print(f"{path.name}: {job['status']}, {done:,} of {total:,} events written", highlight=False)
            said = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
        job = await _status(client, where)
    return job


async def _status(client: httpx.AsyncClient, where: str) -> dict[str, Any]:
    answer = await client.get(where)
    if answer.status_code != 200:
        raise CliError(f"lost sight of the import: {answer.status_code} {_detail(answer)}")
    return answer.json()  # type: ignore[no-any-return]


def run(url: str, user: str, password: str, path: Path, good_groups_only: bool, report: Path | None) -> None:
    console = Console(highlight=False)

    async def go() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await signed_in(client, user, password)
            job = await import_file(client, path, good_groups_only, console)
            result = job["result"] or {}
            problems = result.get("problems", [])
            for p in problems[:20]:
                where = f"{p['sheet']} row {p['row']}" + (f", {p['field']}" if p.get("field") else "")
                console.print(f"  {where}: {p['reason_th']} / {p['reason_en']}")
            if len(problems) > 20:
                console.print(f"  … and {len(problems) - 20:,} more (all in the report)")
            if job["links"]["report"]:
                out = report or path.with_name(path.stem + "-report.xlsx")
                answer = await client.get(job["links"]["report"])
                if answer.status_code == 200:
                    out.write_bytes(answer.content)
                    console.print(f"Report of the refused rows, their cells marked: {out}")
            if job["status"] == "imported":
                new, already = result["new"], result["already_imported"]
                console.print(
                    f"{path.name}: imported {new['groups']:,} groups, {new['members']:,} members,"
                    f" {new['opening_balances']:,} opening balances and {new['deposits']:,} deposits"
                    f" ({result['events_written']:,} events in {result['seconds']:.1f} s,"
                    f" {result['events_per_second'] or 0:,} events/s); already in Sajja: {already['groups']:,} groups,"
                    f" {already['members']:,} members, {already['deposits']:,} deposits"
                )
                return 0
            if job["status"] == "refused":
                console.print(
                    f"{path.name}: nothing imported — {len(problems):,} problems. Correct the file and import it"
                    " again, or import the groups without problems alone (--good-groups-only)."
                )
                return 1
            console.print(f"{path.name}: the import failed: {result.get('error')}")
            return 1

    try:
        code = asyncio.run(go())
    except CliError as exc:
        console.print(f"[bold red]sajja import:[/] {exc}")
        raise SystemExit(1) from None
    raise SystemExit(code)
