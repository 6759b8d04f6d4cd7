"""A transactional inbox: messages another service's events ask this one to act on.

A projector stores each message in the inbox inside the transaction that records its progress, so a
message is kept exactly once however often Kafka delivers it. A worker then handles each message in
a transaction of its own: the handler appends its events first (the event store's first-write rule)
and the worker marks the message handled in the same transaction. Handlers are idempotent by the
state they read (a request already answered is answered again with nothing new), so two workers or a
retry after a crash can never act twice.

Messages travel in lanes (by default the group named in the payload): a lane's messages are handled in
arrival order, one at a time, and lanes side by side, so one group's payout never waits behind another
group's postings. A message that fails waits for its retry, and the rest of its lane waits behind it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from libs.events.cancel import raise_if_cancelling
from libs.events.errors import ConcurrencyConflict

log = logging.getLogger("sajja.inbox")


@dataclass(frozen=True)
class InboxMessage:
    message_id: str  # the source event's id
    kind: str  # the source event's type
    payload: dict[str, Any]
    received_at: datetime | None = None
    lane: str = ""


Handler = Callable[[asyncpg.Connection, InboxMessage], Awaitable[str]]
LaneOf = Callable[[InboxMessage], str]


def group_lane(message: InboxMessage) -> str:
    """The group a message is about (every lending request and posting answer names it); '' for none."""
    group_id = message.payload.get("group_id")
    return str(group_id) if group_id else ""


class Inbox:
    """The `inbox` table of one service schema (created by the shared migration)."""

    def __init__(self, schema: str, lane_of: LaneOf = group_lane, retry_scale: float = 1.0) -> None:
        s = f'"{schema}"'
        self.schema = schema
        self.lane_of = lane_of
        # A failed message is tried again after 1, 2, 4 … 60 seconds (times this scale: tests make it short).
        self.retry_scale = retry_scale
        self._put_sql = f"""insert into {s}.inbox (message_id, kind, payload, lane)
            select * from unnest($1::text[], $2::text[], $3::jsonb[], $4::text[]) on conflict (message_id) do nothing"""
        # Due messages in arrival order, except those behind a message of their lane that waits for a retry.
        self._pending_sql = f"""select message_id, kind, payload::text as payload, received_at, lane from {s}.inbox i
            where handled_at is null and (retry_at is null or retry_at <= now())
              and not exists (select 1 from {s}.inbox w where w.lane = i.lane and w.handled_at is null
                              and w.seq < i.seq and w.retry_at > now())
            order by seq limit $1"""
        self._done_sql = f"update {s}.inbox set handled_at = now(), outcome = $2 where message_id = $1"
        self._retry_sql = f"""update {s}.inbox set attempts = attempts + 1, outcome = $2,
            retry_at = now() + make_interval(secs => least(60, power(2, attempts)) * $3) where message_id = $1"""
        self._pending_count_sql = f"select count(*) from {s}.inbox where handled_at is null"

    async def put(self, conn: asyncpg.Connection, messages: Sequence[InboxMessage]) -> None:
        if messages:
            await conn.execute(
                self._put_sql,
                [m.message_id for m in messages],
                [m.kind for m in messages],
                [json.dumps(m.payload) for m in messages],
                [self.lane_of(m) for m in messages],
            )

    async def pending(self, conn: asyncpg.Connection | asyncpg.Pool, limit: int = 100) -> list[InboxMessage]:
        return [
            InboxMessage(r["message_id"], r["kind"], json.loads(r["payload"]), r["received_at"], r["lane"])
            for r in await conn.fetch(self._pending_sql, limit)
        ]

    async def retry_later(self, pool: asyncpg.Pool, message: InboxMessage, outcome: str) -> None:
        await pool.execute(self._retry_sql, message.message_id, outcome, self.retry_scale)

    async def pending_count(self, pool: asyncpg.Pool) -> int:
        return int(await pool.fetchval(self._pending_count_sql))


class InboxWorker:
    """Handles an inbox's messages: each lane in arrival order, up to `lanes` lanes at once, each message in
    its own transaction."""

    def __init__(
        self, pool: asyncpg.Pool, inbox: Inbox, handler: Handler, idle_poll: float = 0.1, lanes: int = 4
    ) -> None:
        self.pool = pool
        self.inbox = inbox
        self.handler = handler
        self.idle_poll = idle_poll
        self.handled = 0
        # Lanes handled at once: each holds a pool connection while it works, the rest are for requests.
        self._lanes = asyncio.Semaphore(lanes)

    async def run(self) -> None:
        while True:
            messages = await self.inbox.pending(self.pool)
            lanes: dict[str, list[InboxMessage]] = {}
            for message in messages:
                lanes.setdefault(message.lane, []).append(message)
            await asyncio.gather(*(self._lane(queue) for queue in lanes.values()))
            if not messages:
                await asyncio.sleep(self.idle_poll)

    async def _lane(self, queue: list[InboxMessage]) -> None:
        async with self._lanes:
            for message in queue:
                if not await self._handle(message):
                    return  # it waits for its retry, and the rest of its lane behind it

    async def _handle(self, message: InboxMessage) -> bool:
        """Handle one message; False when it was put off for a retry."""
        for _ in range(5):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    outcome = await self.handler(conn, message)
                    await conn.execute(self.inbox._done_sql, message.message_id, outcome)  # noqa: SLF001
                self.handled += 1
                return True
            except ConcurrencyConflict:
                continue  # someone changed the stream: re-read and decide again
            except Exception as exc:
                raise_if_cancelling()
                log.exception("inbox %s: message %s failed", self.inbox.schema, message.message_id)
                await self.inbox.retry_later(self.pool, message, f"error: {type(exc).__name__}")
                return False
        await self.inbox.retry_later(self.pool, message, "conflict")
        return False

    def __repr__(self) -> str:
        return f"InboxWorker({self.inbox.schema})"
