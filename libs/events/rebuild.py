"""Rebuild a read model from its topics while the old one keeps answering (DESIGN §5).

`sajja projections rebuild NAME` asks the service that keeps the read model
(`POST /<service>/v1/projections/NAME/rebuilds`); the service rebuilds it in the background and the CLI
shows its progress (`GET …/rebuild`).

How, for a projection that names its tables (`Rebuildable`):
1. A shadow schema `<schema>__rebuild_<name>` gets an empty copy of each of the projection's tables — the
   live table's columns, defaults, identity and serial sequences (continuing after the live ones, so a
   cursor over a sequence never goes back), constraints, indexes, triggers, extended statistics and storage
   options, under the live names — and empty projector-progress tables. Every other table of the schema is
   seen through a view that refuses writes: the copy reads what it reads in the live schema (another
   service's events, say) and writes nothing but its own tables. What a projection does beyond its tables
   (an inbox message, a revocation in a partner feed, an erasure) happened when the events were first
   applied: its rebuilt copy (`rebuilt_in`) leaves it out.
2. A projector with no consumer group reads the topics from their beginning into the shadow, through the
   same batch step as every projector (duplicates skipped by stream version, progress stored with each
   batch), up to the offsets the live projector has applied — never past them — while the live projector
   keeps applying and the old tables keep answering.
3. Once within a batch of the live projector, one transaction locks the live projector's progress rows
   (its next batch waits there: it cannot apply to the tables being swapped), brings the shadow to exactly
   the live projector's offsets, replaces the live progress rows of this projection with the shadow's,
   moves the old tables out and the new ones in (ALTER TABLE … SET SCHEMA), drops the old ones, and commits.
   Readers see the old tables or the new ones, never a mixture; the live projector goes on from the new
   progress, wherever it runs (the lock is in the database, not in a process).

A projection may not be rebuilt while a view or a foreign key outside its tables depends on them (the swap
would carry it to the old tables); it is refused, naming the dependent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, runtime_checkable

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse

from libs.auth.access import Nationwide, Rule, access
from libs.events.http import Problem, idempotency_key
from libs.events.kafka import broker_cluster_id
from libs.events.projector import BatchPipeline, Projection, Projector

log = logging.getLogger("sajja.rebuild")

# PostgreSQL truncates identifiers longer than this; a shadow schema's name must stay whole.
MAX_IDENTIFIER = 63
# Once the shadow is this close to the live projector (records in all), the swap brings it the rest of the way.
CLOSE_ENOUGH = 5000
# How long the swap waits for a lock (a long read holding a table) before it lets go and tries again.
SWAP_LOCK_TIMEOUT = "3s"
SWAP_ATTEMPTS = 5
# The last stretch, done while the live projector waits: at most a few batches.
FINAL_CATCH_UP_SECONDS = 60.0
READ_SCOPE = "ops:read"
ADMIN_SCOPE = "ops:admin"


@runtime_checkable
class Rebuildable(Protocol):
    """A read model that can be rebuilt: its tables, named in one place, and a copy of it that keeps them in
    another schema."""

    name: str
    topics: Sequence[str]
    # The tables of its schema it keeps, and the only ones it writes. Progress rows (projector_offsets,
    # projector_streams) are the framework's and are not listed.
    tables: Sequence[str]

    async def apply(self, conn: asyncpg.Connection, events: Sequence[Any]) -> None: ...

    def rebuilt_in(self, schema: str) -> Projection:
        """The same read model kept in `schema`, writing nothing but its tables there (what it does beyond
        them already happened when the events were first applied)."""
        ...


def rebuildable(projection: Projection) -> bool:
    return isinstance(projection, Rebuildable) and bool(getattr(projection, "tables", ()))


def shadow_schema(schema: str, name: str) -> str:
    return _checked(f"{schema}__rebuild_{name}")


def retired_schema(schema: str, name: str) -> str:
    return _checked(f"{schema}__retired_{name}")


def _checked(identifier: str) -> str:
    if len(identifier.encode()) > MAX_IDENTIFIER:
        raise ValueError(f"{identifier} is longer than PostgreSQL's {MAX_IDENTIFIER}-byte identifiers")
    return identifier


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


class RebuildRefused(Exception):
    """The projection cannot be rebuilt as it stands (said to the caller as a 409)."""


# --- the shadow's tables ----------------------------------------------------------------------------------


async def _relations(conn: asyncpg.Connection, schema: str) -> dict[str, str]:
    """Every table, view and materialized view of a schema: name → relkind."""
    rows = await conn.fetch(
        """select c.relname, c.relkind::text as kind from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where n.nspname = $1 and c.relkind in ('r', 'p', 'v', 'm', 'f') order by c.relname""",
        schema,
    )
    return {r["relname"]: r["kind"] for r in rows}


async def progress_tables(conn: asyncpg.Connection, schema: str) -> list[str]:
    """The schema's projector-progress tables: every table with a `projector` column (rows keyed by it)."""
    rows = await conn.fetch(
        """select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attname = 'projector' and not a.attisdropped
           where n.nspname = $1 and c.relkind = 'r' order by c.relname""",
        schema,
    )
    return [r["relname"] for r in rows]


async def _dependents(conn: asyncpg.Connection, schema: str, tables: Sequence[str]) -> list[str]:
    """Views and foreign keys outside the projection's tables that depend on them."""
    oids = [f"{qualified(schema, t)}" for t in tables]
    rows = await conn.fetch(
        """with owned as (select x::regclass::oid as oid from unnest($1::text[]) as x)
           select distinct format('view %s', v.ev_class::regclass) as what
             from pg_depend d join pg_rewrite v on d.classid = 'pg_rewrite'::regclass and d.objid = v.oid
            where d.refobjid in (select oid from owned) and v.ev_class not in (select oid from owned)
           union
           select format('foreign key %s of %s', c.conname, c.conrelid::regclass)
             from pg_constraint c
            where c.contype = 'f' and c.confrelid in (select oid from owned)
              and c.conrelid not in (select oid from owned)""",
        oids,
    )
    return sorted(r["what"] for r in rows)


async def _printed(conn: asyncpg.Connection, schema: str, name: str) -> str:
    """How PostgreSQL prints a qualified name in the definitions it gives (quoting only where needed)."""
    printed: str = await conn.fetchval("select quote_ident($1) || '.' || quote_ident($2)", schema, name)
    return printed


def _retarget(definition: str, old: str, new: str, what: str) -> str:
    replaced = definition.replace(f" ON {old} ", f" ON {new} ", 1)
    if replaced == definition:
        raise RuntimeError(f"cannot place {what} on the shadow table: {definition}")
    return replaced


async def copy_table(conn: asyncpg.Connection, schema: str, shadow: str, table: str, owned: Sequence[str]) -> None:
    """An empty copy of schema.table in the shadow schema, under the same names (indexes, constraints,
    statistics), so that once swapped in nothing looks different to a migration that names them."""
    live, copy = qualified(schema, table), qualified(shadow, table)
    info = await conn.fetchrow(
        "select c.oid, c.relkind::text as kind, c.relpersistence::text as persistence, c.reloptions"
        " from pg_class c where c.oid = $1::regclass",
        live,
    )
    if info is None or info["kind"] != "r":
        raise RebuildRefused(f"{schema}.{table} is not a plain table")
    unlogged = "unlogged " if info["persistence"] == "u" else ""
    await conn.execute(
        f"create {unlogged}table {copy} (like {live} including defaults including identity including generated"
        " including constraints including storage including compression including comments)"
    )
    if info["reloptions"]:
        options = ", ".join(
            f"{ident(k)} = '{v.replace(chr(39), chr(39) * 2)}'"
            for k, _, v in (o.partition("=") for o in info["reloptions"])
        )
        await conn.execute(f"alter table {copy} set ({options})")
    printed_live, printed_copy = await _printed(conn, schema, table), await _printed(conn, shadow, table)
    # Primary keys, unique and exclusion constraints (with their indexes), under their own names.
    for c in await conn.fetch(
        "select conname, pg_get_constraintdef(oid) as def from pg_constraint"
        " where conrelid = $1 and contype in ('p', 'u', 'x') order by conname",
        info["oid"],
    ):
        await conn.execute(f"alter table {copy} add constraint {ident(c['conname'])} {c['def']}")
    # Foreign keys: one to another of the projection's tables points at its copy.
    for c in await conn.fetch(
        "select conname, pg_get_constraintdef(oid) as def, confrelid::regclass::text as target from pg_constraint"
        " where conrelid = $1 and contype = 'f' order by conname",
        info["oid"],
    ):
        definition: str = c["def"]
        for other in owned:
            printed = await _printed(conn, schema, other)
            if c["target"] == printed:
                definition = definition.replace(f"REFERENCES {printed}(", f"REFERENCES {qualified(shadow, other)}(", 1)
        await conn.execute(f"alter table {copy} add constraint {ident(c['conname'])} {definition}")
    # Every other index, by its definition.
    for i in await conn.fetch(
        """select c.relname, pg_get_indexdef(i.indexrelid) as def
           from pg_index i join pg_class c on c.oid = i.indexrelid
           where i.indrelid = $1 and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid
                                                 and k.conrelid = i.indrelid)
           order by c.relname""",
        info["oid"],
    ):
        await conn.execute(_retarget(i["def"], printed_live, printed_copy, f"index {i['relname']}"))
    # Triggers (not the ones PostgreSQL makes for constraints).
    for t in await conn.fetch(
        "select tgname, pg_get_triggerdef(oid) as def from pg_trigger where tgrelid = $1 and not tgisinternal",
        info["oid"],
    ):
        await conn.execute(_retarget(t["def"], printed_live, printed_copy, f"trigger {t['tgname']}"))
    # Extended statistics: made in the shadow schema; moved with the table at the swap.
    for s in await conn.fetch(
        "select s.stxname, n.nspname as namespace, pg_get_statisticsobjdef(s.oid) as def"
        " from pg_statistic_ext s join pg_namespace n on n.oid = s.stxnamespace where s.stxrelid = $1",
        info["oid"],
    ):
        statistic: str = s["def"]
        head = f"CREATE STATISTICS {await _printed(conn, s['namespace'], s['stxname'])} "
        if not statistic.startswith(head) or not statistic.endswith(f" FROM {printed_live}"):
            raise RuntimeError(f"cannot place statistics {s['stxname']} on the shadow table: {statistic}")
        body = statistic[len(head) : -len(f" FROM {printed_live}")]
        await conn.execute(f"create statistics {qualified(shadow, s['stxname'])} {body} from {copy}")
    await _own_sequences(conn, schema, shadow, table)


async def _own_sequences(conn: asyncpg.Connection, schema: str, shadow: str, table: str) -> None:
    """Serial columns of the copy get a sequence of their own (LIKE shares the live table's), and every
    sequence of the copy continues after the live one: numbers given out before stay unique and ordered."""
    live, copy = qualified(schema, table), qualified(shadow, table)
    columns = await conn.fetch(
        """select a.attname, pg_get_expr(d.adbin, d.adrelid) as def,
                  pg_get_serial_sequence($1::text, a.attname) as live_seq,
                  pg_get_serial_sequence($2::text, a.attname) as own_seq
           from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
           where a.attrelid = $2::text::regclass and a.attnum > 0 and not a.attisdropped""",
        live,
        copy,
    )
    for c in columns:
        if c["live_seq"] is None:
            continue
        own = c["own_seq"]
        if own is None and c["def"] and "nextval(" in c["def"]:
            name = await conn.fetchval("select relname from pg_class where oid = $1::regclass", c["live_seq"])
            kind = await conn.fetchval(
                "select seqtypid::regtype::text from pg_sequence where seqrelid = $1::regclass", c["live_seq"]
            )
            own = qualified(shadow, name)
            await conn.execute(f"create sequence {own} as {kind} owned by {copy}.{ident(c['attname'])}")
            await conn.execute(f"alter table {copy} alter column {ident(c['attname'])} set default nextval('{own}')")
        if own is not None:
            last = await conn.fetchrow(f"select last_value, is_called from {c['live_seq']}")
            await conn.execute("select setval($1::regclass, $2, $3)", own, last["last_value"], last["is_called"])


async def prepare_shadow(
    conn: asyncpg.Connection, schema: str, shadow: str, name: str, tables: Sequence[str]
) -> list[str]:
    """The shadow schema, made afresh: copies of the tables, empty progress tables, and read-only views of
    everything else. Returns the progress tables."""
    relations = await _relations(conn, schema)
    missing = [t for t in tables if t not in relations]
    if missing:
        raise RebuildRefused(f"{name} names tables {schema} does not have: {', '.join(missing)}")
    if dependents := await _dependents(conn, schema, tables):
        raise RebuildRefused(f"{name}: {', '.join(dependents)} depend(s) on its tables; the swap would break them")
    progress = await progress_tables(conn, schema)
    if overlap := sorted(set(progress) & set(tables)):
        raise RebuildRefused(f"{name} names progress tables as its own: {', '.join(overlap)}")
    async with conn.transaction():
        await conn.execute(f"drop schema if exists {ident(shadow)} cascade")
        await conn.execute(f"create schema {ident(shadow)}")
        for table in tables:
            await copy_table(conn, schema, shadow, table, tables)
        for table in progress:
            await conn.execute(
                f"create table {qualified(shadow, table)} (like {qualified(schema, table)} including all)"
            )
        refuse = qualified(shadow, "refuse_write")
        await conn.execute(
            f"""create function {refuse}() returns trigger language plpgsql as $fn$
                begin
                    raise exception 'a rebuild of % writes %, which is not one of its tables', tg_argv[0], tg_table_name
                        using hint = 'name the table in the projection''s tables, or leave the write out of rebuilt_in';
                end $fn$"""
        )
        literal = "'" + name.replace("'", "''") + "'"
        for other in relations:
            if other in tables or other in progress:
                continue
            view = qualified(shadow, other)
            await conn.execute(f"create view {view} as select * from {qualified(schema, other)}")
            await conn.execute(
                f"create trigger refuse_write instead of insert or update or delete on {view}"
                f" for each row execute function {refuse}({literal})"
            )
    return progress


async def swap_tables(conn: asyncpg.Connection, schema: str, shadow: str, retired: str, tables: Sequence[str]) -> None:
    """Inside the caller's transaction: the old tables out (and dropped), the new ones in, with their
    statistics objects (which do not move with a table)."""
    statistics = [
        r["stxname"]
        for r in await conn.fetch(
            "select s.stxname from pg_statistic_ext s join pg_namespace n on n.oid = s.stxnamespace"
            " where n.nspname = $1",
            shadow,
        )
    ]
    await conn.execute(f"drop schema if exists {ident(retired)} cascade")
    await conn.execute(f"create schema {ident(retired)}")
    for table in tables:
        await conn.execute(f"alter table {qualified(schema, table)} set schema {ident(retired)}")
    for table in tables:
        await conn.execute(f"alter table {qualified(shadow, table)} set schema {ident(schema)}")
    await conn.execute(f"drop schema {ident(retired)} cascade")
    for name in statistics:
        await conn.execute(f"alter statistics {qualified(shadow, name)} set schema {ident(schema)}")


# --- the rebuild --------------------------------------------------------------------------------------------


FINAL = ("done", "failed")
# How long a rebuild may sit asked-for before its process starts it.
QUEUED_SECONDS = 30.0


@dataclass
class RebuildStatus:
    """How far a rebuild is; kept in `<schema>.projection_rebuilds` so that every process can say."""

    state: str = "queued"  # queued, preparing, replaying, swapping, done, failed
    # Records read from the topics into the shadow, and the live projector's offsets they go to (in all).
    read: int = 0
    target: int = 0
    applied: int = 0  # events the shadow applied (duplicates and redeliveries skipped)
    error: str | None = None


def lock_key(schema: str, name: str) -> int:
    """The advisory lock a rebuild of schema.name holds (session-level) for as long as it runs."""
    digest = hashlib.sha256(f"rebuild:{schema}.{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def status_of(pool: asyncpg.Pool, schema: str, name: str, tables: Sequence[str]) -> dict[str, Any] | None:
    """The latest rebuild of a projection as the API shows it; None if there never was one. A rebuild that
    is not finished while nobody holds its lock was interrupted (its process stopped)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"select *, extract(epoch from coalesce(finished_at, now()) - started_at) as seconds,"
            f" extract(epoch from now() - updated_at) as quiet from {ident(schema)}.projection_rebuilds"
            " where projection = $1",
            name,
        )
        if row is None:
            return None
        state, error = row["state"], row["error"]
        if state not in FINAL and not (state == "queued" and row["quiet"] < QUEUED_SECONDS):
            if await conn.fetchval("select pg_try_advisory_lock($1)", lock_key(schema, name)):
                await conn.execute("select pg_advisory_unlock($1)", lock_key(schema, name))
                state, error = "failed", "interrupted: the process running it stopped; ask again"
    return {
        "projection": name,
        "state": state,
        "read": row["read"],
        "target": row["target"],
        "applied": row["applied"],
        "tables": list(tables),
        "seconds": round(float(row["seconds"]), 2),
        **({"error": error} if error else {}),
    }


class Rebuild:
    """One rebuild of one projection, beside its live projector."""

    def __init__(self, live: Projector, *, key: str) -> None:
        projection = live.projection
        if not rebuildable(projection):
            raise RebuildRefused(f"{projection.name} is not a read model that can be rebuilt (it names no tables)")
        self.live = live
        self.projection: Rebuildable = projection  # type: ignore[assignment]
        self.schema = live.schema
        self.name = projection.name
        self.key = key
        self.shadow = shadow_schema(self.schema, self.name)
        self.retired = retired_schema(self.schema, self.name)
        self.status = RebuildStatus()
        self._positions: dict[TopicPartition, int] = {}
        self._shadow: Projector | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._cluster: str | None = None
        self._reported = 0.0

    async def report(self, *, final: bool = False, every: float = 0.0) -> None:
        """The status into the table (at most every `every` seconds), if this rebuild is still the latest."""
        now = time.monotonic()
        if now - self._reported < every:
            return
        self._reported = now
        st = self.status
        await self.live.pool.execute(
            f"""update {ident(self.schema)}.projection_rebuilds set state = $3, read = $4, target = $5, applied = $6,
                    error = $7, updated_at = now(), finished_at = case when $8 then now() end
                where projection = $1 and request_key = $2""",
            self.name,
            self.key,
            st.state,
            st.read,
            st.target,
            st.applied,
            st.error,
            final,
        )

    async def run(self) -> None:
        status = self.status
        key = lock_key(self.schema, self.name)
        try:
            async with self.live.pool.acquire() as conn:
                if not await conn.fetchval("select pg_try_advisory_lock($1)", key):
                    status.state, status.error = "failed", f"a rebuild of {self.name} is already running"
                    await self.report(final=True)
                    return
                try:
                    await self._rebuild(conn)
                    status.state = "done"
                    log.info("rebuilt %s.%s from %d events", self.schema, self.name, status.applied)
                except asyncio.CancelledError:
                    status.state, status.error = "failed", "stopped: the service stopped during the rebuild"
                    raise
                except Exception as exc:
                    status.state, status.error = "failed", f"{type(exc).__name__}: {exc}"
                    log.exception("rebuild of %s.%s failed", self.schema, self.name)
                finally:
                    # The shadow gone and the outcome told before the lock is let go (until then, the
                    # rebuild is running to anyone who asks).
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._clean_up(conn))
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self.report(final=True))
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.execute("select pg_advisory_unlock($1)", key))
        except Exception:
            log.exception("rebuild of %s.%s could not run", self.schema, self.name)

    async def _clean_up(self, conn: asyncpg.Connection) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        await conn.execute(f"drop schema if exists {ident(self.shadow)} cascade")
        await conn.execute(f"drop schema if exists {ident(self.retired)} cascade")

    async def _rebuild(self, conn: asyncpg.Connection) -> None:
        status = self.status
        status.state = "preparing"
        await self.report()
        progress = await prepare_shadow(conn, self.schema, self.shadow, self.name, self.projection.tables)
        bootstrap = self.live.bootstrap_servers
        self._cluster = await broker_cluster_id(bootstrap)
        copy = self.projection.rebuilt_in(self.shadow)
        shadow = Projector(
            self.live.pool,
            self.shadow,
            copy,
            self.live.consumer_factory,
            bootstrap,
            max_batch=self.live.max_batch,
            registry=self.live.registry,
        )
        shadow.cluster_id = self._cluster
        self._shadow = shadow
        consumer = _reader(bootstrap)
        self._consumer = consumer
        await consumer.start()
        partitions = await _partitions(consumer, self.projection.topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        self._positions = dict.fromkeys(partitions, 0)

        status.state = "replaying"
        await self.report()
        await self._drive(lambda: self._live_offsets(conn), until_gap=CLOSE_ENOUGH)
        # The planner's statistics for the new tables before they answer anything.
        for table in self.projection.tables:
            await conn.execute(f"analyze {qualified(self.shadow, table)}")

        status.state = "swapping"
        await self.report()
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                await self._swap(conn, progress)
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as exc:
                if attempt == SWAP_ATTEMPTS:
                    raise
                log.warning("swap of %s waited too long for a lock (%s); trying again", self.name, exc)
                await asyncio.sleep(0.5 * attempt)

    async def _swap(self, conn: asyncpg.Connection, progress: Sequence[str]) -> None:
        s = ident(self.schema)
        partitions = sorted(self._positions, key=lambda tp: (tp.topic, tp.partition))
        async with conn.transaction():
            await conn.execute(f"set local lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
            # The live projector's progress rows, every partition's (made if new, in the order its batches
            # claim them): its next batch waits here, before it touches a table.
            await conn.execute(
                f"""insert into {s}.projector_offsets (projector, topic, partition, next_offset, cluster_id)
                    select $1, t, p, 0, $4 from unnest($2::text[], $3::int[]) as x(t, p) order by t, p
                    on conflict (projector, topic, partition) do nothing""",
                self.name,
                [tp.topic for tp in partitions],
                [tp.partition for tp in partitions],
                self._cluster,
            )
            rows = await conn.fetch(
                f"""select topic, partition, next_offset, cluster_id from {s}.projector_offsets
                    where projector = $1 order by topic, partition for update""",
                self.name,
            )
            target = {
                TopicPartition(r["topic"], r["partition"]): r["next_offset"]
                for r in rows
                if r["cluster_id"] == self._cluster
            }
            if await broker_cluster_id(self.live.bootstrap_servers) != self._cluster:
                raise RuntimeError("the broker restarted during the rebuild (it keeps nothing); run it again")
            await self._drive(lambda: _constant(target), until_gap=0, within=FINAL_CATCH_UP_SECONDS)
            # Only now the locks readers notice: the move of the progress rows waits for nobody.
            for table in progress:
                columns = ", ".join(
                    ident(r["attname"])
                    for r in await conn.fetch(
                        "select attname from pg_attribute where attrelid = $1::regclass and attnum > 0"
                        " and not attisdropped and attgenerated = '' order by attnum",
                        qualified(self.schema, table),
                    )
                )
                live, copy = qualified(self.schema, table), qualified(self.shadow, table)
                await conn.execute(f"delete from {live} where projector = $1", self.name, timeout=None)
                await conn.execute(
                    f"insert into {live} ({columns}) select {columns} from {copy} where projector = $1",
                    self.name,
                    timeout=None,
                )
            await swap_tables(conn, self.schema, self.shadow, self.retired, self.projection.tables)

    async def _live_offsets(self, conn: asyncpg.Connection) -> dict[TopicPartition, int]:
        rows = await conn.fetch(
            f"select topic, partition, next_offset from {ident(self.schema)}.projector_offsets"
            " where projector = $1 and cluster_id = $2",
            self.name,
            self._cluster,
        )
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def _drive(
        self,
        targets: Callable[[], Awaitable[dict[TopicPartition, int]]],
        *,
        until_gap: int,
        within: float | None = None,
    ) -> None:
        """Apply records into the shadow up to (never past) the targets, until at most `until_gap` are left;
        the targets are read again now and then (they move while the live projector works)."""
        consumer, shadow, status = self._consumer, self._shadow, self.status
        assert consumer is not None and shadow is not None
        target = await targets()
        refreshed = time.monotonic()
        deadline = None if within is None else refreshed + within
        paused: set[TopicPartition] = set()
        # The batch before is applied while the next is fetched and decoded (BatchPipeline); `_positions` are
        # what was fetched, and equal what was applied whenever this returns.
        applying = BatchPipeline()
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise RuntimeError(f"the rebuild did not reach the live projector's offsets within {within:g} s")
                if time.monotonic() - refreshed > 0.5:
                    target, refreshed = await targets(), time.monotonic()
                pending = {tp for tp, at in self._positions.items() if at < target.get(tp, 0)}
                behind = sum(target.get(tp, 0) - self._positions[tp] for tp in pending)
                status.read = sum(min(at, target.get(tp, 0)) for tp, at in self._positions.items())
                status.target = sum(target.get(tp, 0) for tp in self._positions)
                status.applied = shadow.status.applied
                await self.report(every=0.5)
                if behind <= until_gap:
                    await applying.finish()
                    status.applied = shadow.status.applied
                    return
                # Only partitions with records still to apply are fetched.
                stop, go = set(self._positions) - pending - paused, pending & paused
                if stop:
                    consumer.pause(*stop)
                if go:
                    consumer.resume(*go)
                paused = (paused | stop) - go
                batch = await consumer.getmany(timeout_ms=200, max_records=shadow.max_batch)
                kept: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {}
                for tp, records in batch.items():
                    limit = target.get(tp, 0)
                    below = [r for r in records if self._positions[tp] <= r.offset < limit]
                    if len(below) < len(records) and records[-1].offset >= limit:
                        consumer.seek(tp, limit)  # read again once the live projector has applied them
                    if below:
                        kept[tp] = below
                if kept:
                    decoded = await shadow.decode(kept)
                    await applying.then(shadow.apply_batch(consumer, kept, decoded))
                    for tp, records in kept.items():
                        self._positions[tp] = records[-1].offset + 1
        finally:
            await applying.close()


async def _constant(target: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    return target


def _reader(bootstrap_servers: str) -> AIOKafkaConsumer:
    """A consumer of no group: the rebuild assigns itself every partition and reads from the start."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=100,
    )


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    await consumer.topics()  # fetches the cluster's metadata
    found: list[TopicPartition] = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise RuntimeError(f"topic {topic} is not on the broker")
        found += [TopicPartition(topic, p) for p in sorted(numbers)]
    return found


# --- in a service: one rebuild at a time, asked over HTTP ------------------------------------------------


class Rebuilds:
    """The rebuilds a service runs (a worker of the service): asked over HTTP, each run in the background in
    the process asked; their progress is in the database, for any process of the service to tell."""

    def __init__(self, projectors: Sequence[Projector]) -> None:
        self.projectors = {p.projection.name: p for p in projectors}
        self._running: set[asyncio.Task[None]] = set()

    def __str__(self) -> str:
        return "rebuilds"

    def _projector(self, name: str) -> Projector:
        projector = self.projectors.get(name)
        if projector is None:
            raise Problem(404, "No such projection", f"this service keeps no projection named {name}", "not-found")
        return projector

    async def ask(self, name: str, key: str) -> dict[str, Any]:
        """Start a rebuild of `name` (the same key: the one it started), and say how it stands."""
        projector = self._projector(name)
        try:
            rebuild = Rebuild(projector, key=key)
        except RebuildRefused as exc:
            raise Problem(409, "Cannot be rebuilt", str(exc), "not-rebuildable") from None
        table = f"{ident(projector.schema)}.projection_rebuilds"
        async with projector.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"insert into {table} (projection, request_key, state, finished_at) values ($1, '', 'done', now())"
                " on conflict do nothing",
                name,
            )
            row = await conn.fetchrow(
                f"select request_key, state, extract(epoch from now() - updated_at) as quiet from {table}"
                " where projection = $1 for update",
                name,
            )
            assert row is not None
            if row["request_key"] == key:
                started = False
            else:
                if row["state"] not in FINAL:
                    running = row["state"] == "queued" and row["quiet"] < QUEUED_SECONDS
                    if not running and not await conn.fetchval(
                        "select pg_try_advisory_xact_lock($1)", lock_key(projector.schema, name)
                    ):
                        running = True
                    if running:
                        raise Problem(
                            409, "Rebuild in progress", f"a rebuild of {name} is {row['state']}", "rebuild-running"
                        )
                await conn.execute(
                    f"""update {table} set request_key = $2, state = 'queued', read = 0, target = 0, applied = 0,
                            error = null, started_at = now(), updated_at = now(), finished_at = null
                        where projection = $1""",
                    name,
                    key,
                )
                started = True
        if started:
            task = asyncio.create_task(rebuild.run(), name=f"rebuild {name}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        answer = await self.status(name)
        assert answer is not None
        return answer

    async def status(self, name: str) -> dict[str, Any] | None:
        projector = self._projector(name)
        return await status_of(projector.pool, projector.schema, name, getattr(projector.projection, "tables", ()))

    async def run(self) -> None:
        """As a worker of the service: rebuilds in flight are stopped (and their shadows dropped) with it."""
        try:
            await asyncio.Event().wait()
        finally:
            for task in list(self._running):
                task.cancel()
            if self._running:
                await asyncio.wait(list(self._running), timeout=10)

    async def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "topics": list(p.projection.topics),
                "rebuildable": rebuildable(p.projection),
                "tables": list(getattr(p.projection, "tables", ())),
                "rebuild": await self.status(name) if rebuildable(p.projection) else None,
            }
            for name, p in self.projectors.items()
        ]


PROJECTION = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,40}$", description="A projection's name")]


def add_projection_routes(app: FastAPI, rebuilds: Rebuilds, service: str) -> None:
    """GET /<service>/v1/projections, POST …/projections/{name}/rebuilds, GET …/projections/{name}/rebuild."""

    @access(Rule(READ_SCOPE, Nationwide()))
    async def projections() -> dict[str, Any]:
        return {"service": service, "items": await rebuilds.listing()}

    @access(Rule(ADMIN_SCOPE, Nationwide()))
    async def start_rebuild(name: PROJECTION, request: Request) -> JSONResponse:
        answer = await rebuilds.ask(name, await idempotency_key(request))
        return JSONResponse(
            answer,
            status_code=202,
            headers={"Location": f"/{service}/v1/projections/{name}/rebuild"},
        )

    @access(Rule(READ_SCOPE, Nationwide()))
    async def rebuild_status(name: PROJECTION) -> dict[str, Any]:
        answer = await rebuilds.status(name)
        if answer is None:
            raise Problem(404, "No rebuild", f"{name} has never been rebuilt", "not-found")
        return answer

    base = f"/{service}/v1/projections"
    app.add_api_route(
        base, projections, methods=["GET"], tags=["operations"], summary="The read models this service keeps"
    )
    app.add_api_route(
        f"{base}/{{name}}/rebuilds",
        start_rebuild,
        methods=["POST"],
        status_code=202,
        tags=["operations"],
        summary="Rebuild a read model from its topics; the old one answers until the new one is swapped in",
    )
    app.add_api_route(
        f"{base}/{{name}}/rebuild",
        rebuild_status,
        methods=["GET"],
        tags=["operations"],
        summary="The progress of the latest rebuild of a read model",
    )
