"""`sajja projections list|rebuild`: the read models of a running platform, asked over HTTP.

A rebuild runs inside the service that keeps the read model (libs/events/rebuild.py), beside its live
projector; this only asks for it and shows its progress."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

SERVICES = ("ledger", "lending", "campaign", "reporting")
POLL_SECONDS = 0.25


class CliError(Exception):
    """Said on stderr; the command exits 1."""


async def signed_in(client: httpx.AsyncClient, user: str, password: str) -> None:
    """Sign in as a department user; the session then goes as a bearer token (no cookie, no CSRF)."""
    try:
        answer = await client.post("/auth/v1/sessions", json={"username": user, "password": password})
    except httpx.TransportError as exc:
        raise CliError(f"no answer from {client.base_url} ({exc!r}): is Sajja running (make run)?") from None
    if answer.status_code != 201:
        raise CliError(f"signing in as {user} at {client.base_url}: {answer.status_code} {_detail(answer)}")
    client.headers["Authorization"] = f"Bearer {answer.cookies['sajja_session']}"
    client.cookies.clear()


async def projections(client: httpx.AsyncClient, services: tuple[str, ...] = SERVICES) -> list[dict[str, Any]]:
    """Every service's read models, each with its service's name."""
    found: list[dict[str, Any]] = []
    for service in services:
        answer = await client.get(f"/{service}/v1/projections")
        if answer.status_code == 404:
            continue  # a service that keeps no read models, or is not served here
        if answer.status_code != 200:
            raise CliError(f"{service}: {answer.status_code} {_detail(answer)}")
        found += [item | {"service": service} for item in answer.json()["items"]]
    return found


async def rebuild(client: httpx.AsyncClient, name: str, console: Console, service: str | None = None) -> dict[str, Any]:
    known = await projections(client, (service,) if service else SERVICES)
    chosen = [p for p in known if p["name"] == name]
    if not chosen:
        names = ", ".join(sorted(p["name"] for p in known if p["rebuildable"]))
        raise CliError(f"no read model named {name}; those that can be rebuilt: {names}")
    where = f"/{chosen[0]['service']}/v1/projections/{name}"
    started = await client.post(f"{where}/rebuilds", headers={"Idempotency-Key": str(uuid.uuid4())})
    if started.status_code != 202:
        raise CliError(f"{name}: {started.status_code} {_detail(started)}")
    columns = (
        TextColumn("{task.description:<32}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[applied]:>10,} events applied"),
        TimeElapsedColumn(),
    )
    status = started.json()
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{name}: {status['state']}", total=None, applied=0)
        while True:
            progress.update(
                task,
                description=f"{name}: {status['state']}",
                completed=status["read"],
                total=max(status["target"], status["read"]) or None,
                applied=status["applied"],
            )
            if status["state"] in ("done", "failed"):
                break
            await asyncio.sleep(POLL_SECONDS)
            answer = await client.get(f"{where}/rebuild")
            if answer.status_code != 200:
                raise CliError(f"{name}: lost sight of the rebuild: {answer.status_code} {_detail(answer)}")
            status = answer.json()
    if status["state"] == "failed":
        raise CliError(f"the rebuild of {name} failed: {status.get('error')}")
    return status


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    return str(body.get("detail") or body.get("title") or body)[:300]


def run(url: str, user: str, password: str, action: str, name: str | None, service: str | None) -> None:
    console = Console()

    async def go() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await signed_in(client, user, password)
            if action == "list":
                for p in await projections(client):
                    mark = "rebuildable" if p["rebuildable"] else "not rebuildable (no tables of its own)"
                    console.print(f"{p['service']:<10} {p['name']:<18} {mark:<12} {', '.join(p['tables'])}")
                return
            assert name is not None
            began = time.monotonic()
            status = await rebuild(client, name, console, service)
            console.print(
                f"{name}: rebuilt from {status['applied']:,} events ({status['read']:,} records) and swapped in;"
                f" {time.monotonic() - began:.1f} s. The old tables answered until the swap and are gone."
            )

    try:
        asyncio.run(go())
    except CliError as exc:
        console.print(f"[bold red]sajja projections:[/] {exc}")
        raise SystemExit(1) from None
