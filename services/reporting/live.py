"""Live updates for the dashboard: what the reporting projections just applied, as server-sent events.

The statistics projector tells PostgreSQL (NOTIFY, after its batch has committed) what it applied; every
reporting process LISTENs and fans the news out to its connected browsers. Going through the database
means a browser connected to any replica hears of batches applied by any other. A notice carries only
counts by event type and the areas touched — no member data — so it can be shown as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from libs.auth.principal import Principal
from libs.events.cancel import raise_if_cancelling
from libs.events.envelope import RecordedEvent

log = logging.getLogger("sajja.reporting.live")

# NOTIFY payloads must stay under 8,000 bytes: a notice names at most this many of each kind of area,
# and a batch that touches more is told in several notices. Every notice lists every area its events
# touch, so who may hear of it is decided exactly (a truncated list once went to everyone).
MOST_NAMED = 40


def notices(events: Sequence[RecordedEvent]) -> list[dict[str, Any]]:
    """What a committed batch changed, for the dashboard, as notices that each name at most MOST_NAMED
    provinces, districts and groups, and count only their own events (the counts add up to the batch).
    Events without an area ride in the first. Pure."""
    at = datetime.now(UTC).isoformat(timespec="seconds")
    by_place: dict[tuple[str, str, str], list[RecordedEvent]] = {}
    for e in events:
        group = str(e.payload["group_id"]) if e.payload.get("group_id") else ""
        place = (e.area.province_code, e.area.district_code, group) if e.area else ("", "", group)
        by_place.setdefault(place, []).append(e)
    chunks: list[tuple[set[str], set[str], set[str], list[RecordedEvent]]] = []
    for (province, district, group), in_place in sorted(by_place.items()):
        if chunks:
            provinces, districts, groups, chunk_events = chunks[-1]
            fits = (
                len(provinces | {province} - {""}) <= MOST_NAMED
                and len(districts | {district} - {""}) <= MOST_NAMED
                and len(groups | {group} - {""}) <= MOST_NAMED
            )
        if not chunks or not fits:
            chunks.append((set(), set(), set(), []))
        provinces, districts, groups, chunk_events = chunks[-1]
        provinces |= {province} - {""}
        districts |= {district} - {""}
        groups |= {group} - {""}
        chunk_events.extend(in_place)
    return [
        {
            "events": len(chunk_events),
            "types": dict(Counter(e.event_type for e in chunk_events).most_common(MOST_NAMED)),
            "provinces": sorted(provinces),
            "districts": sorted(districts),
            "groups": sorted(groups),
            "at": at,
        }
        for provinces, districts, groups, chunk_events in chunks
    ]


def concerns(body: dict[str, Any], principal: Principal | None) -> bool:
    """Whether a notice touches the caller's area: live updates keep to the same limits as every read."""
    if principal is None or principal.nationwide:
        return True
    if principal.role == "committee":
        return principal.group_id in body.get("groups", [])
    if principal.role == "district_officer":
        return principal.district_code in body.get("districts", [])
    if principal.role == "province_officer":
        return principal.province_code in body.get("provinces", [])
    return False


class LiveFeed:
    """Publishes notices after projector commits; a background worker listens and feeds subscribers."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.channel = f"sajja_live_{schema}"
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.listening = asyncio.Event()

    async def publish(self, events: Sequence[RecordedEvent]) -> None:
        """A projector's after-commit hook: never fails the projector (a lost notice only delays a refresh)."""
        if not events:
            return
        try:
            await self.pool.executemany(
                "select pg_notify($1, $2)", [(self.channel, json.dumps(body)) for body in notices(events)]
            )
        except (asyncpg.PostgresError, OSError) as exc:
            raise_if_cancelling()
            log.warning("live notice not sent: %s", exc)

    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        # A slow browser loses old notices rather than holding memory: each one only says "refresh".
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=64)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        for queue in list(self._subscribers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(body)

    async def run(self) -> None:
        """Hold one listening connection for the process's life, coming back after a lost connection."""
        while True:
            try:
                async with self.pool.acquire() as conn:
                    await conn.add_listener(self.channel, self._deliver)
                    self.listening.set()
                    try:
                        while not conn.is_closed():
                            await asyncio.sleep(5)
                    finally:
                        self.listening.clear()
                        if not conn.is_closed():
                            await conn.remove_listener(self.channel, self._deliver)
            except (asyncpg.PostgresError, OSError) as exc:
                raise_if_cancelling()
                log.warning("live listener lost its connection (%s); listening again shortly", exc)
            await asyncio.sleep(1)
