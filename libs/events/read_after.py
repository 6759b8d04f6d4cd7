"""Read your writes across streams and services: `?after=<service>:<position>` (DESIGN §5).

A command answers with the position its events took in its service's store (`{"position": {"ledger": N}}`).
Any route of any service given `?after=ledger:N` answers only once every read model of that service built
from the ledger's topic reflects every event of the ledger's store at or below position N — all of them,
on every stream: the wait includes a transaction that drew a position at or below N and had not yet
committed when N's command answered (it is waited for, or seen to abort). Positions of several services
go comma-separated or repeated (`?after=ledger:12,lending:7`); per service the highest counts. A service
with no read model built from that store has nothing to wait for. A route whose own `after` is a list's
cursor takes both (`?after=<cursor>&after=ledger:12`): a value that is a position never reaches it.
The wait is bounded by SAJJA_READ_WAIT_TIMEOUT_SECONDS; then the answer is 504 problem+json naming what
it waited for. A service's reads of its own command-side tables need no wait (the command committed
before it answered); its read models built from its own topic wait like any other.

How (no service reads another's tables): the producing service's relay records, in its checkpoint, the
position `through` which everything at or below is published, and the partitions' end offsets in the
broker cluster it published to (libs/events/relay.py). The producer serves them at
GET /<service>/v1/published?through=N, waiting (bounded) until `through` reaches N. The reading service
keeps the latest answer per producer in memory (a read at or below it asks nobody), waits until each of
its projectors that consume the topic has stored offsets at or past those, in the same cluster (one
indexed read when already there), and, for a read model an inbox worker keeps, until the inbox holds
nothing unhandled from before. A broker that came back empty has a new cluster id: offsets from the old
one never satisfy the new one, so the reader asks the producer again.

Calls one service makes to another while serving such a read forward the positions (a header), so a
figure composed from several services waits in each.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import asyncpg
import httpx
from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from libs.events.http import Problem
from libs.events.inbox import Inbox
from libs.events.kafka import topic_for
from libs.events.registry import REGISTRY
from libs.events.relay import Published, published

if TYPE_CHECKING:
    from libs.events.projector import Projector
    from libs.events.runtime import ServiceRuntime

PARAM = "after"
# Positions a service forwards to another when it calls it while serving a read with ?after=.
HEADER = "sajja-read-after"
_HEADER_BYTES = HEADER.encode()
# Where the middleware leaves a request's positions ({service: position}) for the guard's hook.
SCOPE_KEY = "sajja.read_after"
_POSITION = re.compile(r"([a-z][a-z0-9_]*):([0-9]{1,18})")
FORWARDED: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("sajja_read_after", default=None)
DESCRIPTION = (
    "Read your writes: a position a command returned, e.g. `ledger:1234` (several: `ledger:1234,lending:56`). "
    "The answer then reflects every event of that service's store at or below it; after "
    "SAJJA_READ_WAIT_TIMEOUT_SECONDS it is 504."
)
_LIST_PATTERN = r"^[a-z][a-z0-9_]*:[0-9]{1,18}(,[a-z][a-z0-9_]*:[0-9]{1,18})*$"
_FIRST_PAUSE = 0.002
_LAST_PAUSE = 0.05
_REASK_EVERY = 0.1


def parse_positions(values: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """The positions among `after` values (`ledger:12`, comma-separated or repeated; the highest per
    service), and the values that are not positions (a list's cursor)."""
    positions: dict[str, int] = {}
    others: list[str] = []
    for value in values:
        found = [_POSITION.fullmatch(token.strip()) for token in value.split(",")]
        if not value or not all(found):
            others.append(value)
            continue
        for match in found:
            assert match is not None
            positions[match[1]] = max(positions.get(match[1], 0), int(match[2]))
    return positions, others


def _merge(into: dict[str, int], more: dict[str, int]) -> None:
    for source, position in more.items():
        into[source] = max(into.get(source, 0), position)


class AfterPositions:
    """ASGI middleware: takes the positions out of a request's `after` query parameters (and out of the
    header another service forwards them in) before routing, so a list's own `after` (its cursor) never
    sees one. They wait in the guard (ReadAfter, once the caller is known and before an area is looked
    up), and calls this request makes to other services carry them on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        positions: dict[str, int] = {}
        raw: bytes = scope.get("query_string", b"")
        if PARAM.encode() in raw:
            kept: list[bytes] = []
            for part in raw.split(b"&"):
                name, _, value = part.partition(b"=")
                if unquote_plus(name.decode("latin-1")) == PARAM:
                    found, others = parse_positions([unquote_plus(value.decode("latin-1"))])
                    if found and not others:
                        _merge(positions, found)
                        continue
                kept.append(part)
            if positions:
                scope["query_string"] = b"&".join(kept)
        for name, value in scope.get("headers", ()):
            if name == _HEADER_BYTES:
                _merge(positions, parse_positions([value.decode("latin-1")])[0])
        if positions:
            scope[SCOPE_KEY] = positions
        token = FORWARDED.set(positions or None)
        try:
            await self.app(scope, receive, send)
        finally:
            FORWARDED.reset(token)


def forwarded_headers() -> dict[str, str]:
    """The header that carries this request's positions to another service (empty: none)."""
    positions = FORWARDED.get()
    return {HEADER: ",".join(f"{s}:{n}" for s, n in sorted(positions.items()))} if positions else {}


def sources() -> set[str]:
    """The services whose commands return positions: every service that publishes event types."""
    return {event_type.split(".", 1)[0] for event_type in REGISTRY.event_types()}


async def wait_published(pool: asyncpg.Pool, schema: str, topic: str, position: int, timeout: float) -> Published:
    """The producer's side: how far `schema`'s store is published, once at or past `position`, or as far as
    it got within `timeout` (see `covers`). One primary-key read of the relay's checkpoint a look."""
    deadline = time.monotonic() + timeout
    pause = _FIRST_PAUSE
    while True:
        mark = await published(pool, schema, topic)
        left = deadline - time.monotonic()
        if covers(mark, position) or left <= 0:
            return mark
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, _LAST_PAUSE)


def covers(mark: Published, position: int) -> bool:
    """Whether every event at or below `position` is published, and where is known."""
    return mark.through >= position and mark.offsets is not None


def published_answer(service: str, topic: str, mark: Published) -> dict[str, Any]:
    return {
        "service": service,
        "topic": topic,
        "through": mark.through,
        "cluster_id": mark.cluster_id,
        "offsets": None if mark.offsets is None else {str(p): n for p, n in sorted(mark.offsets.items())},
    }


@dataclass(frozen=True)
class _Lag:
    """What a read still waits for: read models behind (by name), and whether one is in another cluster."""

    behind: list[str]
    other_cluster: bool


class ReadAfter:
    """The reading side for one service: the guard awaits it for every route (see the module's doc)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self._marks: dict[str, Published] = {}
        self._takes_after: dict[int, bool] = {}

    @property
    def timeout(self) -> float:
        return self.runtime.platform.settings.read_wait_timeout_seconds

    async def __call__(self, request: Request) -> None:
        if PARAM in request.query_params and not self._route_takes_after(request):
            raise _invalid('must look like "ledger:1234": a position a command returned (several: comma-separated)')
        positions: dict[str, int] | None = request.scope.get(SCOPE_KEY)
        if not positions:
            return
        if unknown := sorted(set(positions) - sources()):
            raise _invalid(
                f"{', '.join(unknown)} is no service that returns positions ({', '.join(sorted(sources()))})"
            )
        deadline = time.monotonic() + self.timeout
        for source, position in sorted(positions.items()):
            await self._wait(source, position, deadline)

    async def caught_up(self, source: str, position: int) -> None:
        """Wait, as a read with ?after=source:position does, until this service's projectors reading `source`
        have applied everything of it up to `position` (a 504 problem past the bound)."""
        await self._wait(source, position, time.monotonic() + self.timeout)

    def _route_takes_after(self, request: Request) -> bool:
        """Whether the route has an `after` of its own (a list's cursor), which then gets non-positions."""
        route = request.scope.get("route")
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            return False
        known = self._takes_after.get(id(route))
        if known is None:
            known = self._takes_after[id(route)] = PARAM in _query_params(dependant)
        return known

    async def _wait(self, source: str, position: int, deadline: float) -> None:
        topic = topic_for(source, self.runtime.platform.settings.topic_prefix)
        projectors = [p for p in self.runtime.projectors if topic in p.projection.topics]
        if not projectors:
            return  # nothing here is built from that store
        mark = await self._mark(source, topic, position, deadline)
        pause, asked_at = _FIRST_PAUSE, time.monotonic()
        while True:
            lag = await self._lag(projectors, topic, mark)
            if not lag.behind:
                break
            now = time.monotonic()
            if lag.other_cluster and now - asked_at > _REASK_EVERY:
                # The broker came back empty (a new cluster id) since the producer answered: ask again.
                mark, asked_at = await self._mark(source, topic, position, deadline, again=True), now
                continue
            if now >= deadline:
                raise self._late(source, position, f"{', '.join(lag.behind)} to apply it")
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _LAST_PAUSE)
        for projector in projectors:
            inbox = getattr(projector.projection, "inbox", None)
            if isinstance(inbox, Inbox):
                await self._handled(projector.pool, inbox, source, position, deadline)

    async def _mark(self, source: str, topic: str, position: int, deadline: float, again: bool = False) -> Published:
        """How far `source` is published, at or past `position`: remembered, or asked for (waiting)."""
        known = self._marks.get(source)
        if known is not None and covers(known, position) and not again:
            return known
        left = max(0.0, deadline - time.monotonic())
        own = next((r for r in self.runtime.relays if r.topic == topic), None)
        if own is not None:
            mark = await wait_published(own.pool, own.store.schema, topic, position, left)
        else:
            mark = await self._ask(source, position, left)
        if not covers(mark, position):
            raise self._late(source, position, f"{source} to publish it (published through {mark.through})")
        if known is None or mark.through >= known.through or mark.cluster_id != known.cluster_id:
            self._marks[source] = mark
        return mark

    async def _ask(self, source: str, position: int, wait: float) -> Published:
        token = FORWARDED.set(None)  # this call reads the producer's checkpoint: nothing to wait for there
        try:
            async with self.runtime.platform.service_client(source) as client:
                response = await client.get(
                    f"/{source}/v1/published",
                    params={"through": position, "wait": f"{wait:.3f}"},
                    timeout=wait + 10,
                )
        except (LookupError, httpx.HTTPError) as exc:
            raise Problem(
                503, "Service unavailable", f"cannot ask {source} how far it has published: {exc}", "unavailable"
            ) from exc
        finally:
            FORWARDED.reset(token)
        if response.status_code != 200:
            raise Problem(
                503,
                "Service unavailable",
                f"{source} did not say how far it has published ({response.status_code})",
                "unavailable",
            )
        body = response.json()
        offsets = None if body["offsets"] is None else {int(p): n for p, n in body["offsets"].items()}
        return Published(body["through"], offsets, body["cluster_id"])

    async def _lag(self, projectors: Sequence[Projector], topic: str, mark: Published) -> _Lag:
        """Which projectors have not yet stored offsets at or past the mark's (one indexed read a schema)."""
        needed = {p: n for p, n in (mark.offsets or {}).items() if n > 0}
        if not needed:
            return _Lag([], False)
        stored: dict[tuple[str, int], asyncpg.Record] = {}
        for schema in sorted({p.schema for p in projectors}):
            names = [p.projection.name for p in projectors if p.schema == schema]
            rows = await projectors[0].pool.fetch(
                f'select projector, partition, next_offset, cluster_id from "{schema}".projector_offsets'
                " where projector = any($1::text[]) and topic = $2",
                names,
                topic,
            )
            stored.update({(r["projector"], r["partition"]): r for r in rows})
        behind: list[str] = []
        other_cluster = False
        for projector in projectors:
            name = projector.projection.name
            for partition, offset in needed.items():
                row = stored.get((name, partition))
                if row is not None and row["cluster_id"] != mark.cluster_id:
                    other_cluster = True
                elif row is not None and row["next_offset"] >= offset:
                    continue
                behind.append(name)
                break
        return _Lag(behind, other_cluster)

    async def _handled(self, pool: asyncpg.Pool, inbox: Inbox, source: str, position: int, deadline: float) -> None:
        """Until every message the inbox held when its projector got there is handled."""
        s = f'"{inbox.schema}"'
        last = await pool.fetchval(
            f"select case when exists (select 1 from {s}.inbox where handled_at is null)"
            f" then (select max(seq) from {s}.inbox) end"
        )
        pause = _FIRST_PAUSE
        while last is not None:
            if not await pool.fetchval(
                f"select exists (select 1 from {s}.inbox where handled_at is null and seq <= $1)", last
            ):
                return
            now = time.monotonic()
            if now >= deadline:
                raise self._late(source, position, f"the {inbox.schema} inbox to handle it")
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, _LAST_PAUSE)

    def _late(self, source: str, position: int, waiting_for: str) -> Problem:
        return Problem(
            504,
            "Not yet up to date",
            f"This read has not caught up with {source} position {position} within {self.timeout:g} s "
            f"(waiting for {waiting_for}); retry shortly.",
            "projection-lagging",
            waited_for={"source": source, "position": position},
            headers={"Retry-After": "1"},
        )


def _query_params(dependant: Any) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_params(sub)
    return names


def _invalid(message: str) -> Problem:
    return Problem(
        422, "Invalid request", f"after: {message}", "validation", errors=[{"field": PARAM, "message": message}]
    )


def document(app: FastAPI) -> None:
    """Show `after` on every read in the app's OpenAPI (a list's cursor `after` says it takes both)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for operations in schema.get("paths", {}).values():
            operation = operations.get("get")
            if operation is None:
                continue
            parameters = operation.setdefault("parameters", [])
            own = next((p for p in parameters if p.get("name") == PARAM and p.get("in") == "query"), None)
            if own is None:
                parameters.append(
                    {
                        "name": PARAM,
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "pattern": r"^[a-z][a-z0-9_]*:[0-9]{1,18}(,[a-z][a-z0-9_]*:[0-9]{1,18})*$",
                        },
                        "description": DESCRIPTION,
                    }
                )
            else:
                own["description"] = f"{own.get('description') or 'Cursor'}. Also (repeated): {DESCRIPTION}"
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
