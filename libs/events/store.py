"""PostgreSQL event store: append with an expected version, read a stream, read in relay order."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import orjson
from opentelemetry import propagate, trace

from libs.events import free_text
from libs.events.envelope import Actor, Area, NewEvent, RecordedEvent
from libs.events.errors import ConcurrencyConflict
from libs.events.free_text import FreeText
from libs.events.ids import new_id
from libs.events.registry import REGISTRY, EventRegistry

tracer = trace.get_tracer("sajja.events.store")

_COLUMNS = (
    "stream_id, stream_version, position, event_id, event_type, schema_version, occurred_at,"
    " recorded_at, actor, correlation_id, causation_id, area, payload, traceparent, tracestate"
)


class StoreMisuse(RuntimeError):
    """Append was not the first write of its transaction (it would break the relay's ordering)."""


@dataclass(frozen=True)
class ResponseRecord:
    """A command's response, stored under its Idempotency-Key by the same statement that appends its
    events (one round trip, atomic). The store adds {"position": {schema: N}} to the body."""

    key: str
    fingerprint: str
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class StreamAppend:
    """Events for one stream, which must be at `expected_version`, in a multi-stream append."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]


class PreparedEvent(NamedTuple):
    """An event ready for a bulk append (`EventStore.append_bulk`): its stream version given, its envelope's
    JSON parts serialised — `payload` exactly as `model_dump(mode="json")` of its model gives it. A tuple in
    the order of the columns COPY writes (`_BULK_COLUMNS`): an import makes one per event, and COPY takes it
    as it is."""

    stream_id: str
    stream_version: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    occurred_at: datetime
    actor: str  # the Actor, as JSON
    area: str | None  # the Area, as JSON
    payload: str  # the payload, as JSON
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class BulkAppended:
    """What a bulk append wrote: how many events, and the highest position its transaction has written."""

    count: int
    last_position: int


_BULK_COLUMNS = PreparedEvent._fields


@dataclass(frozen=True, slots=True)
class AppendedFact:
    """What an append hook sees of each event it asked for."""

    event_type: str
    payload: Mapping[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class AppendHook:
    """Work a service does in the appending transaction itself, for the events of some types: an aggregate
    that must never disagree with the events (the ledger's books per group and day). Every append path runs
    it — `append`, `append_to_streams`, `append_bulk` — so an aggregate kept this way is exact by
    construction, whichever command or import wrote."""

    event_types: frozenset[str]
    apply: Callable[[asyncpg.Connection, list[AppendedFact]], Awaitable[None]]


@dataclass(frozen=True)
class RelayCursor:
    """Where the relay has read to: events are read in (transaction id, position) order."""

    xact_id: int = 0
    position: int = 0


# A bulk append's hook facts, from this many events on, are made in a thread (and hooks may do their own work on
# that many in one): tens of thousands of payloads to parse would hold the event loop for a second.
OFF_LOOP_EVENTS = 2_000


def _facts(events: Sequence[PreparedEvent], recorded_at: datetime) -> list[AppendedFact]:
    return [AppendedFact(e.event_type, orjson.loads(e.payload), recorded_at) for e in events]


class EventStore:
    """One service's event store, in that service's schema."""

    def __init__(
        self, schema: str, registry: EventRegistry = REGISTRY, *, after_append: AppendHook | None = None
    ) -> None:
        self.schema = schema
        self.registry = registry
        self.after_append = after_append
        self.notify_channel = f"{schema}_events"
        s = f'"{schema}"'
        guard = f"""guard as (
                select pg_current_xact_id_if_assigned() is null as fresh,
                       (select coalesce(max(stream_version), 0) from {s}.events where stream_id = $1) as current
            )"""
        insert = f"""insert into {s}.events (stream_id, stream_version, event_id, event_type, schema_version,
                                    occurred_at, actor, correlation_id, causation_id, area, payload,
                                    traceparent, tracestate, xact_id)
            select $1, e.stream_version, e.event_id, e.event_type, e.schema_version, e.occurred_at,
                   e.actor::jsonb, e.correlation_id, e.causation_id, e.area::jsonb, e.payload::jsonb, $3, $4, xid.x
            from unnest($5::int[], $6::uuid[], $7::text[], $8::int[], $9::timestamptz[], $10::text[],
                        $11::uuid[], $12::uuid[], $13::text[], $14::text[])
                 as e(stream_version, event_id, event_type, schema_version, occurred_at, actor,
                      correlation_id, causation_id, area, payload),
                 guard, xid
            where guard.fresh and guard.current = $2
            order by e.stream_version
            returning position, recorded_at"""
        # The transaction id is assigned (xid) after the guard and before any position is drawn: a row's
        # defaults are evaluated in column order, `position` before `xact_id`, so without it a transaction
        # could draw a position, be preempted, and get its id after the relay's probe had read both the
        # highest position drawn and the next transaction id — the relay would then count that position as
        # published (`through`) while it was still uncommitted, and a read with ?after= could miss it.
        # MATERIALIZED and stored as the row's xact_id: pg_current_xact_id() is only STABLE, so an inlined
        # CTE whose value is not used is dropped by the planner and never runs (seen in EXPLAIN VERBOSE).
        xid = """xid as materialized (
                select pg_current_xact_id() as x from guard where guard.fresh and guard.current = $2)"""
        # One statement: the guard proves the stream is at the expected version and that this is the
        # transaction's first write, so its transaction id is assigned after it read the stream. That
        # keeps (transaction id, position) order equal to stream order for the relay.
        self._append_sql = f"with {guard}, {xid} {insert}"
        # The same append, also storing the command's response under its idempotency key (nothing is
        # stored when the guard refuses the append).
        self._append_recording_sql = f"""with {guard}, {xid}, ins as ({insert}),
            idem as (
                insert into {s}.idempotency_keys (key, fingerprint, status_code, response)
                select $15, $16, $17,
                       jsonb_set($18::jsonb, '{{position}}', jsonb_build_object($19::text, max(position)))
                from ins having count(*) > 0
            )
            select position, recorded_at from ins order by position"""
        # Several streams in one statement (a month-end close touches the group and its members): every
        # stream's guard is checked before anything is inserted, with the same first-write rule.
        self._append_many_sql = f"""
            with expected as (
                select x.stream_id, x.expected_version,
                       (select coalesce(max(ev.stream_version), 0) from {s}.events ev
                        where ev.stream_id = x.stream_id) as current
                from unnest($1::text[], $2::int[]) as x(stream_id, expected_version)
            ),
            guard as (
                select pg_current_xact_id_if_assigned() is null as fresh,
                       bool_and(expected.current = expected.expected_version) as ok
                from expected
            ),
            xid as materialized (select pg_current_xact_id() as x from guard where guard.fresh and guard.ok),
            ins as (
                insert into {s}.events (stream_id, stream_version, event_id, event_type, schema_version,
                                        occurred_at, actor, correlation_id, causation_id, area, payload,
                                        traceparent, tracestate, xact_id)
                select e.stream_id, e.stream_version, e.event_id, e.event_type, e.schema_version, e.occurred_at,
                       e.actor::jsonb, e.correlation_id, e.causation_id, e.area::jsonb, e.payload::jsonb, $3, $4,
                       xid.x
                from unnest($5::int[], $6::text[], $7::int[], $8::uuid[], $9::text[], $10::int[],
                            $11::timestamptz[], $12::text[], $13::uuid[], $14::uuid[], $15::text[], $16::text[])
                     as e(ord, stream_id, stream_version, event_id, event_type, schema_version, occurred_at,
                          actor, correlation_id, causation_id, area, payload),
                     guard, xid
                where guard.fresh and guard.ok
                order by e.ord
                returning position, recorded_at, stream_id, stream_version
            ),
            idem as (
                insert into {s}.idempotency_keys (key, fingerprint, status_code, response)
                select $17, $18, $19,
                       jsonb_set($20::jsonb, '{{position}}', jsonb_build_object($21::text, max(position)))
                from ins having count(*) > 0 and $17::text is not null
            )
            select position, recorded_at from ins order by position"""
        self._diagnose_many_sql = f"""
            select pg_current_xact_id_if_assigned() is null as fresh, x.stream_id, x.expected_version,
                   (select coalesce(max(ev.stream_version), 0) from {s}.events ev
                    where ev.stream_id = x.stream_id) as current
            from unnest($1::text[], $2::int[]) as x(stream_id, expected_version)"""
        self._diagnose_sql = (
            f"select pg_current_xact_id_if_assigned() is null as fresh,"
            f" (select coalesce(max(stream_version), 0) from {s}.events where stream_id = $1) as current"
        )
        self._read_stream_sql = (
            f"select {_COLUMNS} from {s}.events where stream_id = $1 and stream_version > $2 order by stream_version"
        )
        # The envelope JSON (DESIGN §3) is built by PostgreSQL: the relay forwards bytes, never decodes.
        self._read_after_sql = f"""
            select stream_id, event_id, event_type, schema_version, position, traceparent, tracestate,
                   xact_id::text as xact_text,
                   json_build_object(
                       'event_id', event_id, 'event_type', event_type, 'schema_version', schema_version,
                       'stream_id', stream_id, 'stream_version', stream_version, 'position', position,
                       'occurred_at', to_char(occurred_at at time zone 'Asia/Bangkok',
                                              'YYYY-MM-DD"T"HH24:MI:SS.US"+07:00"'),
                       'recorded_at', to_char(recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
                       'actor', actor, 'correlation_id', correlation_id, 'causation_id', causation_id,
                       'area', area, 'payload', payload
                   )::text as envelope
            from {s}.events
            where (xact_id, position) > ($1::text::xid8, $2)
              and xact_id < pg_snapshot_xmin(pg_current_snapshot())
            order by events.xact_id, events.position
            limit $3
        """
        self._read_streams_sql = (
            f"select {_COLUMNS} from {s}.events where stream_id = any($1::text[]) order by stream_id, stream_version"
        )
        self._read_positions_sql = f"select {_COLUMNS} from {s}.events where position > $1 order by position limit $2"
        # A bulk append's check, after its COPY: each stream's event at the expected version exists, and was
        # written by an older transaction than this one (or by this one, in an earlier statement). Then the
        # relay's (transaction id, position) order puts it before the copied events, whenever either
        # commits; an event at the expected version that another transaction wrote after this one began
        # would break that order, so it is a conflict too. Versions above the expected one are the
        # primary key's business: the COPY fails on them.
        self._bulk_check_sql = f"""
            select x.stream_id, x.expected,
                   (select coalesce(max(ev.stream_version), 0) from {s}.events ev
                    where ev.stream_id = x.stream_id and ev.stream_version <= x.expected) as current
            from unnest($1::text[], $2::int[]) as x(stream_id, expected)
            where not exists (select 1 from {s}.events e where e.stream_id = x.stream_id
                              and e.stream_version = x.expected and e.xact_id <= pg_current_xact_id())
            limit 1"""
        self._bulk_last_position_sql = f"select max(position) from {s}.events where xact_id = pg_current_xact_id()"
        self._bulk_record_sql = f"""insert into {s}.idempotency_keys (key, fingerprint, status_code, response)
            values ($1, $2, $3, jsonb_set($4::jsonb, '{{position}}', jsonb_build_object($5::text, $6::bigint)))"""

    async def append(
        self,
        conn: asyncpg.Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        record: ResponseRecord | None = None,
        texts: Sequence[FreeText | None] = (),
    ) -> list[RecordedEvent]:
        """Append `events` to `stream_id`, which must be at `expected_version`: one atomic statement, alone
        (autocommit) or inside a transaction as its first write. Raises ConcurrencyConflict when the
        stream has moved on. `texts` the events refer to go into the free-text register in the same
        transaction (libs/events/free_text.py)."""
        if not events:
            return []
        if any(texts):
            async with conn.transaction():
                recorded = await self.append(conn, stream_id, expected_version, events, record=record)
                await self._keep(conn, texts, recorded)
            return recorded
        rows, sources, carrier = self._prepare([StreamAppend(stream_id, expected_version, events)])
        # The single-stream statement takes the columns after (ordinal, stream id).
        columns = [list(c) for c in zip(*rows, strict=True)][2:]
        with tracer.start_as_current_span("event_store.append", attributes={"sajja.stream_id": stream_id}):
            extra: list[Any] = []
            if record is not None:
                extra = [record.key, record.fingerprint, record.status, json.dumps(record.body), self.schema]
            async with self._hooked(conn, rows):
                try:
                    written = await conn.fetch(
                        self._append_recording_sql if record is not None else self._append_sql,
                        stream_id,
                        expected_version,
                        carrier.get("traceparent"),
                        carrier.get("tracestate"),
                        *columns,
                        *extra,
                    )
                except asyncpg.UniqueViolationError:
                    raise ConcurrencyConflict(stream_id, expected_version) from None
                if not written:
                    state = await conn.fetchrow(self._diagnose_sql, stream_id)
                    assert state is not None
                    if not state["fresh"]:
                        raise StoreMisuse("append must be the first write in its transaction")
                    raise ConcurrencyConflict(stream_id, expected_version, state["current"])
                recorded = _recorded(rows, written, sources, carrier)
                await self._run_hook(conn, recorded)
        return recorded

    async def append_to_streams(
        self,
        conn: asyncpg.Connection,
        appends: Sequence[StreamAppend],
        *,
        record: ResponseRecord | None = None,
        texts: Sequence[FreeText | None] = (),
    ) -> list[RecordedEvent]:
        """Append to several streams atomically, each at its expected version, in one statement (with
        the same first-write rule as `append`). Raises ConcurrencyConflict naming the first stream that
        moved on. Events are numbered in the order given. `texts` as for `append`."""
        appends = [a for a in appends if a.events]
        if not appends:
            return []
        if any(texts):
            async with conn.transaction():
                recorded = await self.append_to_streams(conn, appends, record=record)
                await self._keep(conn, texts, recorded)
            return recorded
        stream_ids = [a.stream_id for a in appends]
        if len(set(stream_ids)) != len(stream_ids):
            raise StoreMisuse("each stream may appear once in a multi-stream append")
        rows, sources, carrier = self._prepare(appends)
        columns = [list(c) for c in zip(*rows, strict=True)]
        extra: list[Any] = [None, None, None, None, self.schema]
        if record is not None:
            extra = [record.key, record.fingerprint, record.status, json.dumps(record.body), self.schema]
        expected = [a.expected_version for a in appends]
        span = tracer.start_as_current_span("event_store.append_to_streams", attributes={"sajja.streams": len(appends)})
        with span:
            async with self._hooked(conn, rows):
                try:
                    written = await conn.fetch(
                        self._append_many_sql,
                        stream_ids,
                        expected,
                        carrier.get("traceparent"),
                        carrier.get("tracestate"),
                        *columns,
                        *extra,
                    )
                except asyncpg.UniqueViolationError:
                    raise ConcurrencyConflict("(several streams)", -1) from None
                if not written:
                    states = await conn.fetch(self._diagnose_many_sql, stream_ids, expected)
                    if states and not states[0]["fresh"]:
                        raise StoreMisuse("append must be the first write in its transaction")
                    moved = next((st for st in states if st["current"] != st["expected_version"]), None)
                    if moved is None:
                        raise ConcurrencyConflict("(several streams)", -1)
                    raise ConcurrencyConflict(moved["stream_id"], moved["expected_version"], moved["current"])
                recorded = _recorded(rows, written, sources, carrier)
                await self._run_hook(conn, recorded)
        return recorded

    def prepare(self, appends: Sequence[StreamAppend]) -> list[PreparedEvent]:
        """Events a command (or an import) decided, prepared for `append_bulk`: numbered from each stream's
        expected version, in the order given. Payloads are serialised by pydantic-core straight to JSON (the
        column is jsonb: the text's form does not matter), actors and areas once each."""
        now = datetime.now().astimezone()
        as_json: dict[int, str] = {}  # id(actor or area) → its JSON; the objects live as long as `appends`

        def once(model: Actor | Area) -> str:
            text = as_json.get(id(model))
            if text is None:
                text = as_json[id(model)] = model.model_dump_json()
            return text

        prepared: list[PreparedEvent] = []
        add = prepared.append
        name_of = self.registry.name_of
        for a in appends:
            stream, version = a.stream_id, a.expected_version
            for event in a.events:
                version += 1
                event_type, schema_version = name_of(event.payload)
                area = event.area
                add(
                    PreparedEvent(
                        stream, version, new_id(), event_type, schema_version, event.occurred_at or now,
                        once(event.actor), once(area) if area else None, event.payload.model_dump_json(),
                        event.correlation_id, event.causation_id,
                    )
                )  # fmt: skip
        return prepared

    async def append_bulk(
        self,
        conn: asyncpg.Connection,
        events: Sequence[PreparedEvent],
        *,
        texts: Sequence[tuple[str, FreeText]] = (),
        record: ResponseRecord | None = None,
    ) -> BulkAppended:
        """Append many events at once with COPY (an import, a benchmark's nation): tens of thousands of events
        a second where `append` does a few thousand.

        The same guarantees as `append`: each stream's first event here must follow the version the stream
        is at (its `stream_version` minus one is the expected version) and its events come in version order
        with no gap; the events get positions from the store's identity in the order given, and the writing
        transaction's id, so the relay's gap rule holds; a stream that moved on raises ConcurrencyConflict
        and nothing is written. Unlike `append` it need not be its transaction's first write: the check
        after the copy compares transaction ids itself. Runs in the caller's transaction, or in one of its
        own. `texts` are free texts the events refer to, with their streams (libs/events/free_text.py);
        `record` stores a command's response under its idempotency key, with the last position written.
        After it commits, `notify` wakes the relays (they also poll)."""
        if not events:
            return BulkAppended(0, 0)
        expected: dict[str, int] = {}
        last: dict[str, int] = {}
        for e in events:
            before = last.get(e.stream_id)
            if before is None:
                if e.stream_version < 1:
                    raise StoreMisuse(f"stream {e.stream_id}: versions start at 1")
                expected[e.stream_id] = e.stream_version - 1
            elif e.stream_version != before + 1:
                raise StoreMisuse(
                    f"stream {e.stream_id}: version {e.stream_version} follows {before} (versions in order, no gaps)"
                )
            last[e.stream_id] = e.stream_version
        following = [(stream, version) for stream, version in expected.items() if version > 0]
        with tracer.start_as_current_span("event_store.append_bulk", attributes={"sajja.events": len(events)}):
            try:
                async with conn.transaction():
                    # The transaction's id before any position is drawn (see the append's xid).
                    await conn.execute("select pg_current_xact_id()")
                    await conn.copy_records_to_table(
                        "events",
                        schema_name=self.schema,
                        columns=_BULK_COLUMNS,
                        records=events,
                    )
                    if following:
                        moved = await conn.fetchrow(
                            self._bulk_check_sql, [s for s, _ in following], [v for _, v in following]
                        )
                        if moved is not None:
                            raise ConcurrencyConflict(moved["stream_id"], moved["expected"], moved["current"])
                    if texts:
                        await conn.copy_records_to_table(
                            "free_text",
                            schema_name=self.schema,
                            columns=("text_id", "stream_id", "field", "body"),
                            records=[(t.text_id, stream, t.field, t.body) for stream, t in texts],
                        )
                    if self.after_append is not None:
                        hooked = [e for e in events if e.event_type in self.after_append.event_types]
                        if hooked:
                            # The column's default: the transaction's start, the same for every row copied.
                            recorded_at = await conn.fetchval("select now()")
                            if len(hooked) < OFF_LOOP_EVENTS:
                                facts = _facts(hooked, recorded_at)
                            else:  # an import's chunk: parsing its payloads is CPU, kept off the event loop
                                facts = await asyncio.to_thread(_facts, hooked, recorded_at)
                            await self.after_append.apply(conn, facts)
                    position = int(await conn.fetchval(self._bulk_last_position_sql))
                    if record is not None:
                        await conn.execute(
                            self._bulk_record_sql,
                            record.key,
                            record.fingerprint,
                            record.status,
                            json.dumps(record.body),
                            self.schema,
                            position,
                        )
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name != "events_pkey":
                    raise
                # A version copied here exists already: name the first stream that is not where expected.
                stream, current = await self._first_moved(conn, expected)
                raise ConcurrencyConflict(stream, expected.get(stream, -1), current) from None
        return BulkAppended(len(events), position)

    def _hooked(self, conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> Any:
        """A transaction around the append when the hook has work in it (the append alone needs none: it is
        one statement), so the hook's writes commit or roll back with the events."""
        hook = self.after_append
        if hook is not None and any(row[4] in hook.event_types for row in rows):
            return conn.transaction()
        return contextlib.nullcontext()

    async def _run_hook(self, conn: asyncpg.Connection, recorded: list[RecordedEvent]) -> None:
        hook = self.after_append
        if hook is None:
            return
        facts = [
            AppendedFact(e.event_type, e.payload, e.recorded_at) for e in recorded if e.event_type in hook.event_types
        ]
        if facts:
            await hook.apply(conn, facts)

    async def _first_moved(self, conn: asyncpg.Connection, expected: dict[str, int]) -> tuple[str, int | None]:
        rows = await conn.fetch(
            f'select stream_id, max(stream_version) as current from "{self.schema}".events'
            " where stream_id = any($1::text[]) group by stream_id",
            list(expected),
        )
        current = {r["stream_id"]: r["current"] for r in rows}
        for stream, version in expected.items():
            if current.get(stream, 0) != version:
                return stream, current.get(stream, 0)
        return "(several streams)", None

    async def notify(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        """Wake this store's relays (after a bulk append committed)."""
        await conn.execute("select pg_notify($1, '')", self.notify_channel)

    async def _keep(
        self, conn: asyncpg.Connection, texts: Sequence[FreeText | None], recorded: Sequence[RecordedEvent]
    ) -> None:
        """The texts the appended events refer to, into the register (after the append: it must be the
        transaction's first write)."""
        await free_text.keep(
            conn, self.schema, free_text.texts_referred_to(texts, [(e.stream_id, e.payload) for e in recorded])
        )

    def _prepare(
        self, appends: Sequence[StreamAppend]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[str, NewEvent, dict[str, Any]]], dict[str, str]]:
        """The rows to insert — (ordinal, stream id, version, event id, type, schema version, occurred at,
        actor, correlation, causation, area, payload JSON) — what each came from, and the trace carrier."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        now = datetime.now().astimezone()
        rows: list[tuple[Any, ...]] = []
        sources: list[tuple[str, NewEvent, dict[str, Any]]] = []
        for a in appends:
            for offset, event in enumerate(a.events, start=1):
                payload = event.payload.model_dump(mode="json")
                event_type, schema_version = self.registry.name_of(event.payload)
                rows.append(
                    (
                        len(rows),
                        a.stream_id,
                        a.expected_version + offset,
                        new_id(),
                        event_type,
                        schema_version,
                        event.occurred_at or now,
                        event.actor.model_dump_json(),
                        event.correlation_id,
                        event.causation_id,
                        event.area.model_dump_json() if event.area else None,
                        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                    )
                )
                sources.append((a.stream_id, event, payload))
        return rows, sources, carrier

    async def read_stream(
        self, conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, after_version: int = 0
    ) -> list[RecordedEvent]:
        return [_from_row(r) for r in await conn.fetch(self._read_stream_sql, stream_id, after_version)]

    async def read_streams(
        self, conn: asyncpg.Connection | asyncpg.Pool, stream_ids: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        """Several whole streams in one round trip (streams with no events are absent)."""
        streams: dict[str, list[RecordedEvent]] = {}
        for row in await conn.fetch(self._read_streams_sql, list(stream_ids)):
            streams.setdefault(row["stream_id"], []).append(_from_row(row))
        return streams

    async def read_all_after(
        self, conn: asyncpg.Connection | asyncpg.Pool, position: int, limit: int = 1000
    ) -> list[RecordedEvent]:
        """Committed events after a global position, in position order (for inspection and replays of a
        quiet store; the relay uses read_for_relay, which is safe under concurrent appends)."""
        return [_from_row(r) for r in await conn.fetch(self._read_positions_sql, position, limit)]

    async def read_for_relay(
        self, conn: asyncpg.Connection, cursor: RelayCursor, limit: int
    ) -> tuple[list[OutboundEvent], RelayCursor]:
        """Events after `cursor` whose transactions are older than every running one, so none can
        still appear behind them (the gap pitfall). Returns the events and the cursor after them."""
        rows = await conn.fetch(self._read_after_sql, str(cursor.xact_id), cursor.position, limit)
        if not rows:
            return [], cursor
        last = rows[-1]
        events = [
            OutboundEvent(
                r["event_id"],
                r["stream_id"],
                r["event_type"],
                r["schema_version"],
                r["position"],
                r["envelope"].encode(),
                r["traceparent"],
                r["tracestate"],
            )
            for r in rows
        ]
        return events, RelayCursor(int(last["xact_text"]), last["position"])


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """An event on its way to Kafka: the envelope as the store rendered it, and what the record needs."""

    event_id: uuid.UUID
    stream_id: str
    event_type: str
    schema_version: int
    position: int
    envelope: bytes
    traceparent: str | None
    tracestate: str | None


def _recorded(
    rows: list[tuple[Any, ...]],
    written: list[asyncpg.Record],
    sources: list[tuple[str, NewEvent, dict[str, Any]]],
    carrier: dict[str, str],
) -> list[RecordedEvent]:
    """The appended events as recorded: the prepared rows with the positions the database gave them."""
    return [
        RecordedEvent(
            event_id=row[3],
            event_type=row[4],
            schema_version=row[5],
            stream_id=stream_id,
            stream_version=row[2],
            position=w["position"],
            occurred_at=row[6],
            recorded_at=w["recorded_at"],
            actor=event.actor,
            correlation_id=event.correlation_id,
            causation_id=event.causation_id,
            area=event.area,
            payload=payload,
            traceparent=carrier.get("traceparent"),
            tracestate=carrier.get("tracestate"),
        )
        for row, w, (stream_id, event, payload) in zip(rows, written, sources, strict=True)
    ]


@functools.lru_cache(maxsize=4096)
def _actor(text: str) -> Actor:
    """An actor's JSON as the model (frozen: one instance serves every event it caused; a stream's events repeat
    a few actors and areas, and reading a group's members' streams validated them thousands of times)."""
    return Actor.model_validate_json(text)


@functools.lru_cache(maxsize=4096)
def _area(text: str) -> Area:
    return Area.model_validate_json(text)


def _from_row(row: asyncpg.Record) -> RecordedEvent:
    area = row["area"]
    return RecordedEvent(
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        position=row["position"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        actor=_actor(row["actor"]),
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        area=_area(area) if area else None,
        payload=orjson.loads(row["payload"]),
        traceparent=row["traceparent"],
        tracestate=row["tracestate"],
    )


def stream_uuid(stream_id: str) -> uuid.UUID:
    """The entity id inside a 'kind-<uuid>' stream id."""
    return uuid.UUID(stream_id.split("-", 1)[1])
