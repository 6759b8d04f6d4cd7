"""Watching the platform catch up (relays publishing the stores, each projector reading its topics), and the
resident memory of the broker, the database and the services."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import psutil

STORES = ("ledger", "lending", "campaign")
PROJECTOR_SCHEMAS = ("ledger", "lending", "campaign", "reporting")


@dataclass
class RelayFigure:
    schema: str
    topic: str = ""
    events: int = 0
    first_at: float | None = None  # seconds after the platform's start
    done_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        busy = (self.done_at or 0) - (self.first_at or 0)
        return {
            "topic": self.topic,
            "events": self.events,
            "first_published_s": _r(self.first_at),
            "caught_up_s": _r(self.done_at),
            "events_per_s": round(self.events / self.done_at) if self.done_at else None,
            "events_per_s_publishing": round(self.events / busy) if self.done_at and busy > 0 else None,
        }


@dataclass
class ProjectorFigure:
    schema: str
    name: str
    topics: dict[str, int] = field(default_factory=dict)  # topic → records read
    first_at: float | None = None
    done_at: float | None = None

    @property
    def events(self) -> int:
        return sum(self.topics.values())

    def as_json(self) -> dict[str, Any]:
        busy = (self.done_at or 0) - (self.first_at or 0)
        return {
            "service": self.schema,
            "topics": self.topics,
            "events": self.events,
            "first_progress_s": _r(self.first_at),
            "caught_up_s": _r(self.done_at),
            # Records read over the time from the platform's start until caught up (what an operator waits).
            "events_per_s": round(self.events / self.done_at) if self.done_at else None,
            # The same over the time it was reading (from its first batch): its own pace.
            "events_per_s_reading": round(self.events / busy) if self.done_at and busy > 0 else None,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class CatchUp:
    """Polls the relays' checkpoints and the projectors' stored offsets until every projector has read every
    record the relays published."""

    def __init__(self, pool: asyncpg.Pool, started: float) -> None:
        self.pool = pool
        self.started = started
        self.relays = {s: RelayFigure(s) for s in STORES}
        self.projectors: dict[tuple[str, str], ProjectorFigure] = {}
        self.ends: dict[str, int] = {}
        self.done_at: float | None = None
        self.notes: list[str] = []
        self.published_to_end: set[str] = set()

    def _now(self) -> float:
        return time.monotonic() - self.started

    async def poll(self) -> bool:
        """One look; True once every projector has caught up with relays that have published everything."""
        now = self._now()
        relays_done = True
        for schema, relay in self.relays.items():
            row = await self.pool.fetchrow(
                f"""select c.topic, c.published, c.through, c.offsets::text as offsets,
                           (select coalesce(max(position), 0) from "{schema}".events) as last
                    from (select 1) one left join "{schema}".relay_checkpoint c on true"""
            )
            assert row is not None
            if row["topic"] is None:
                relays_done = relays_done and row["last"] == 0
                continue
            relay.topic = row["topic"]
            relay.events = row["published"]
            if relay.events and relay.first_at is None:
                relay.first_at = now
            self.ends[relay.topic] = sum(json.loads(row["offsets"] or "{}").values())
            if row["through"] >= row["last"]:
                if relay.done_at is None:
                    relay.done_at = now
                self.published_to_end.add(relay.topic)
            else:
                relay.done_at = None
                self.published_to_end.discard(relay.topic)
                relays_done = False
        all_done = relays_done
        for schema in PROJECTOR_SCHEMAS:
            rows = await self.pool.fetch(
                f'select projector, topic, sum(next_offset)::bigint as read from "{schema}".projector_offsets'
                " group by projector, topic"
            )
            seen: dict[str, dict[str, int]] = {}
            for r in rows:
                seen.setdefault(r["projector"], {})[r["topic"]] = r["read"]
            for name, topics in seen.items():
                figure = self.projectors.setdefault((schema, name), ProjectorFigure(schema, name))
                figure.topics = topics
                if figure.events and figure.first_at is None:
                    figure.first_at = now
                # Caught up: every topic it reads is published to the end, and it has read to that end.
                caught_up = all(
                    t in self.published_to_end and read >= self.ends.get(t, 0) for t, read in topics.items()
                )
                if caught_up and figure.done_at is None:
                    figure.done_at = now
                elif not caught_up:
                    figure.done_at = None
                    all_done = False
        if not self.projectors:
            all_done = False
        if all_done and self.done_at is None:
            self.done_at = now
        return all_done

    async def run(
        self,
        expected_projectors: int,
        timeout: float,
        on_poll: Callable[[CatchUp], None] | None = None,
        alive: Callable[[], bool] = lambda: True,
        missing_after: float = 120.0,
    ) -> None:
        """Until every projector has made itself known and all stay caught up for a few looks. Projectors that
        never show (one that fails before its first batch) are given up on `missing_after` seconds after the
        others caught up, and noted."""
        deadline = time.monotonic() + timeout
        settled = 0
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError("the platform stopped while its projectors were catching up (see its log)")
            done = await self.poll()
            if on_poll is not None:
                on_poll(self)
            settled = settled + 1 if done else 0
            if settled >= 3 and len(self.projectors) >= expected_projectors:
                return
            if settled and self.done_at is not None and self._now() - self.done_at > missing_after:
                self.notes.append(
                    f"only {len(self.projectors)} of {expected_projectors} projectors stored any progress within"
                    f" {missing_after:g} s of the others catching up"
                )
                return
            await asyncio.sleep(1.0)
        raise TimeoutError(f"projectors not caught up within {timeout:g} s")

    def as_json(self) -> dict[str, Any]:
        return {
            "relays": {s: r.as_json() for s, r in self.relays.items() if r.topic},
            "projectors": {f"{s}.{n}": p.as_json() for (s, n), p in sorted(self.projectors.items())},
            "all_caught_up_s": _r(self.done_at),
            "notes": self.notes,
        }


@dataclass
class Memory:
    """Resident memory (MiB) of each process group, sampled: peak and last. PostgreSQL's processes share its
    buffers, so their RSS sum counts shared pages many times; PSS (proportional) sums to what they hold."""

    groups: dict[str, list[int]]
    peak: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def _sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, roots in list(self.groups.items()):
            rss = pss = 0
            for pid in roots:
                try:
                    root = psutil.Process(pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    continue
                for proc in procs:
                    try:
                        info = proc.memory_full_info()
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
                    rss += info.rss
                    pss += getattr(info, "pss", info.rss)
            out[f"{name}_rss_mib"] = round(rss / 2**20, 1)
            out[f"{name}_pss_mib"] = round(pss / 2**20, 1)
        out["machine_available_mib"] = round(psutil.virtual_memory().available / 2**20, 1)
        return out

    def sample(self, at: float) -> dict[str, float]:
        values = self._sample()
        self.samples.append((round(at, 1), values))
        for k, v in values.items():
            self.last[k] = v
            if k == "machine_available_mib":
                self.peak[k] = min(self.peak.get(k, v), v)
            else:
                self.peak[k] = max(self.peak.get(k, 0.0), v)
        return values

    async def run(self, started: float, stop: asyncio.Event, every: float = 2.0) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await loop.run_in_executor(None, self.sample, time.monotonic() - started)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass

    def as_json(self) -> dict[str, Any]:
        return {"peak": self.peak, "last": self.last, "every_sample": self.samples[-400:]}
