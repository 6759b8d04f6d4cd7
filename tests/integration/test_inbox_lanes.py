"""Inbox lanes (real PostgreSQL): each group's messages are handled once each, in arrival order, one at a time,
whatever fails and is retried; different groups' messages are handled side by side."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from libs.events.inbox import Inbox, InboxMessage, InboxWorker

GROUPS = [str(uuid.UUID(int=i)) for i in range(1, 5)]


def message(index: int, group: str | None) -> InboxMessage:
    payload = {"group_id": group, "n": index} if group else {"n": index}
    return InboxMessage(f"m{index}", "lending.RepaymentReceived", payload)


class Recorder:
    """A handler that fails the messages told to, a given number of times, and notes what it handled."""

    def __init__(self, failures: dict[str, int]) -> None:
        self.failures = Counter(failures)
        self.handled: list[InboxMessage] = []
        self.busy: Counter[str] = Counter()
        self.overlapped_within_a_lane = False
        self.most_lanes_at_once = 0

    async def __call__(self, conn: asyncpg.Connection, m: InboxMessage) -> str:
        lane = str(m.payload.get("group_id") or "")
        self.busy[lane] += 1
        try:
            self.overlapped_within_a_lane |= self.busy[lane] > 1
            self.most_lanes_at_once = max(self.most_lanes_at_once, sum(1 for n in self.busy.values() if n))
            await conn.execute("select pg_sleep(0.002)")
            if self.failures[m.message_id] > 0:
                self.failures[m.message_id] -= 1
                raise RuntimeError("the ledger could not post it this time")
            self.handled.append(m)
            return "posted"
        finally:
            self.busy[lane] -= 1


async def drain(pool: asyncpg.Pool, inbox: Inbox, recorder: Recorder, chunks: list[list[InboxMessage]]) -> None:
    worker = InboxWorker(pool, inbox, recorder, idle_poll=0.01)
    running = asyncio.create_task(worker.run())
    try:
        for chunk in chunks:  # messages keep arriving while the worker works
            async with pool.acquire() as conn, conn.transaction():
                await inbox.put(conn, chunk)
            await asyncio.sleep(0.005)
        async with asyncio.timeout(60):
            while await inbox.pending_count(pool):
                await asyncio.sleep(0.02)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_each_lane_is_handled_once_in_arrival_order(pool: asyncpg.Pool, data: st.DataObject) -> None:
    await pool.execute("truncate ledger.inbox")
    lanes = data.draw(st.lists(st.sampled_from([*GROUPS, None]), min_size=1, max_size=40), label="lanes")
    messages = [message(i, g) for i, g in enumerate(lanes)]
    failing = data.draw(st.dictionaries(st.sampled_from([m.message_id for m in messages]), st.integers(1, 2)))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(messages) - 1)), max_size=3)))
    chunks = [messages[a:b] for a, b in zip([0, *cuts], [*cuts, len(messages)], strict=True) if messages[a:b]]
    recorder = Recorder(failing)
    await drain(pool, Inbox("ledger", retry_scale=0.005), recorder, chunks)

    assert sorted(m.message_id for m in recorder.handled) == sorted(m.message_id for m in messages)  # each once
    by_lane: dict[str, list[int]] = defaultdict(list)
    for m in recorder.handled:
        by_lane[str(m.payload.get("group_id") or "")].append(m.payload["n"])
    assert all(order == sorted(order) for order in by_lane.values()), by_lane
    assert not recorder.overlapped_within_a_lane
    rows = await pool.fetch("select message_id, lane, outcome from ledger.inbox")
    assert {r["message_id"]: r["lane"] for r in rows} == {
        m.message_id: str(m.payload.get("group_id") or "") for m in messages
    }
    assert {r["outcome"] for r in rows} == {"posted"}


async def test_a_group_waiting_on_its_posting_does_not_hold_up_another_group(pool: asyncpg.Pool) -> None:
    """Group 1's first posting cannot finish until group 2's has been handled: in one lane for everyone it
    would wait forever (here: fail the time-out)."""
    inbox = Inbox("ledger")
    second_handled = asyncio.Event()
    handled: list[str] = []

    async def handler(conn: asyncpg.Connection, m: InboxMessage) -> str:
        if m.message_id == "m0":
            await asyncio.wait_for(second_handled.wait(), 20)
        handled.append(m.message_id)
        if m.message_id == "m2":
            second_handled.set()
        return "posted"

    messages = [message(0, GROUPS[0]), message(1, GROUPS[0]), message(2, GROUPS[1])]
    worker = InboxWorker(pool, inbox, handler, idle_poll=0.01)
    async with pool.acquire() as conn, conn.transaction():
        await inbox.put(conn, messages)
    running = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):
            while await inbox.pending_count(pool):
                await asyncio.sleep(0.02)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert handled == ["m2", "m0", "m1"]
