"""Each projector alone: every read model that can be rebuilt is rebuilt from its topics, one after another, with
nothing else catching up (`sajja projections rebuild NAME`, asked over HTTP as the CLI asks). Its rate is the
projector's own — its topics' records read, decoded, checked against their streams' versions and applied, per
second — where the catch-up's rates are eleven projectors' and two relays' sharing the machine's cores."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from sajja_cli.projections import projections

POLL_SECONDS = 0.5


@dataclass
class AloneFigure:
    service: str
    name: str
    records: int
    applied: int
    seconds: float
    error: str | None = None

    @property
    def records_per_s(self) -> int:
        return round(self.records / self.seconds) if self.seconds > 0 else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "projection": self.name,
            "records": self.records,
            "applied": self.applied,
            "seconds": round(self.seconds, 1),
            "records_per_s": self.records_per_s,
            "error": self.error,
        }


async def rebuild_each(
    base_url: str,
    token: str,
    sizes: dict[str, int],
    max_records: int,
    shown: Callable[[str, int, int], None],
    timeout: float = 3600.0,
) -> tuple[list[AloneFigure], list[str]]:
    """Rebuild every rebuildable read model whose topics hold at most `max_records` records (`sizes`: the
    records of each projection's topics, by name); (figures, the names left out for their topics' size)."""
    figures: list[AloneFigure] = []
    skipped: list[str] = []
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60.0
    ) as client:
        for item in await projections(client):
            if not item["rebuildable"]:
                continue
            if sizes.get(item["name"], 0) > max_records:
                skipped.append(item["name"])
                continue
            where = f"/{item['service']}/v1/projections/{item['name']}"
            began = time.monotonic()
            answer = await client.post(f"{where}/rebuilds", headers={"Idempotency-Key": str(uuid.uuid4())})
            if answer.status_code != 202:
                figures.append(AloneFigure(item["service"], item["name"], 0, 0, 0.0, f"{answer.status_code}"))
                continue
            status = answer.json()
            while status["state"] not in ("done", "failed"):
                if time.monotonic() - began > timeout:
                    status = status | {"state": "failed", "error": f"not done within {timeout:g} s"}
                    break
                shown(item["name"], status["read"], status["target"])
                await asyncio.sleep(POLL_SECONDS)
                status = (await client.get(f"{where}/rebuild")).json()
            figures.append(
                AloneFigure(
                    item["service"],
                    item["name"],
                    status["read"],
                    status["applied"],
                    time.monotonic() - began,
                    status.get("error") if status["state"] == "failed" else None,
                )
            )
    return figures, skipped
