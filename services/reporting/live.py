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

# NOTIFY payloads must stay under 8,000 bytes: a notice names at most this many types and areas.
MOST_NAMED = 40


def notice(events: Sequence[RecordedEvent]) -> dict[str, Any]:
    """What a committed batch changed, for the dashboard. Pure."""
    types = Counter(e.event_type for e in events)
    provinces = sorted({e.area.province_code for e in events if e.area})
    districts = sorted({e.area.district_code for e in events if e.area})
    groups = sorted({str(e.payload["group_id"]) for e in events if e.payload.get("group_id")})
    return {
        "events": len(events),
        "types": dict(types.most_common(MOST_NAMED)),
        "provinces": provinces[:MOST_NAMED],
        "districts": districts[:MOST_NAMED],
        "groups": groups[:MOST_NAMED],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def concerns(body: dict[str, Any], principal: Principal | None) -> bool:
    """Whether a notice touches the caller's area: live updates keep to the same limits as every read.
    (A batch naming more areas than a notice lists is shown to everyone it might concern.)"""
    if principal is None or principal.nationwide:
        return True
    crowded = any(len(body.get(k, [])) >= MOST_NAMED for k in ("provinces", "districts", "groups"))
    if principal.role == "committee":
        return crowded or principal.group_id in body.get("groups", [])
    if principal.role == "district_officer":
        return crowded or principal.district_code in body.get("districts", [])
    if principal.role == "province_officer":
        return crowded or principal.province_code in body.get("provinces", [])
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
            await self.pool.execute("select pg_notify($1, $2)", self.channel, json.dumps(notice(events)))
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
