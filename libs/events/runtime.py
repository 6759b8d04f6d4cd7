"""What a service needs at run time, and the background work (relays, projectors) it runs."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import asyncpg
import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from libs.auth.access import PUBLIC, Anywhere, Guard, KeySource, Rule, access, routes_without_rules
from libs.auth.hardening import BodySizeLimit
from libs.auth.principal import SERVICE_SCOPES, Principal
from libs.auth.revocations import Revocations
from libs.auth.tokens import KeyRing
from libs.events.cancel import raise_if_cancelling
from libs.events.http import Problem, install_problem_handlers
from libs.events.kafka import make_consumer, make_producer
from libs.events.projector import Projection, Projector
from libs.events.read_after import (
    AfterPositions,
    ReadAfter,
    document,
    forwarded_headers,
    published_answer,
    wait_published,
)
from libs.events.rebuild import Rebuilds, add_projection_routes
from libs.events.relay import Relay
from libs.events.settings import Settings
from libs.events.store import EventStore

log = logging.getLogger("sajja.runtime")


def run_until_complete(main: Coroutine[Any, Any, None]) -> None:
    """Run a service process's main coroutine on uvloop (asyncpg and uvicorn are markedly faster on
    it), or on the standard loop where uvloop is not available."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


class Worker(Protocol):
    """Background work a service runs for as long as it lives."""

    async def run(self) -> None: ...


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client between services: httpx makes a new one for each client it is not
    given one, loading the CA bundle each time (22 ms of CPU here, on every call between services)."""
    return httpx.create_ssl_context()


@dataclass
class Platform:
    """The shared handles one process holds: settings, the database pool, the broker address."""

    settings: Settings
    pool: asyncpg.Pool
    bootstrap_servers: str
    # The services running in this process (the local runner and tests run all of them in one).
    apps: dict[str, FastAPI] = field(default_factory=dict)
    guard: Guard | None = None
    # The auth service, when it runs in this process, reads its revocation list here directly.
    revocation_source: Callable[[int], Awaitable[dict[str, Any]]] | None = None
    _service_token: tuple[str, float] | None = None

    def service_client(self, name: str) -> httpx.AsyncClient:
        """An HTTP client for another service: in-process when it runs here, else at its configured URL
        (SAJJA_SERVICE_URLS, e.g. {"ledger": "http://ledger:8000"}). It carries a service token when this
        process holds the signing keys (the local runner, tests); see README for split deployments."""
        headers = {"Authorization": f"Bearer {self.service_token()}"} if self.settings.auth_signing_keys else {}
        # Serving a read with ?after=, a call to another service waits there for the same positions.
        headers |= forwarded_headers()
        if name in self.apps:
            transport = httpx.ASGITransport(app=self.apps[name])
            return httpx.AsyncClient(
                transport=transport, base_url=f"http://{name}.internal", timeout=10, headers=headers
            )
        url = self.settings.service_urls.get(name)
        if not url:
            raise LookupError(f"service {name} is not in this process and SAJJA_SERVICE_URLS has no URL for it")
        return httpx.AsyncClient(base_url=url, timeout=10, headers=headers, verify=tls_context())

    async def service_get(self, name: str, path: str, params: dict[str, str] | None = None) -> Any:
        """GET another service's JSON answer. One that cannot answer (not reachable, no URL for it, or failing)
        is a 503 problem the caller may retry, never a 500."""
        unavailable = Problem(
            503, "Unavailable", f"the {name} service cannot answer right now; retry shortly", "unavailable",
            headers={"Retry-After": "2"},
        )  # fmt: skip
        try:
            async with self.service_client(name) as client:
                answer = await client.get(path, params=params)
        except (LookupError, httpx.HTTPError) as exc:
            raise unavailable from exc
        if answer.status_code != 200:
            raise unavailable
        return answer.json()

    def service_token(self) -> str:
        """A token for calls between services, renewed a minute before it expires."""
        now = time.time()
        if self._service_token is None or self._service_token[1] - 60 < now:
            principal = Principal(subject="sajja-services", kind="service", scopes=SERVICE_SCOPES)
            lifetime = self.settings.access_token_seconds
            token = KeyRing(self.settings.auth_signing_keys).issue(principal, lifetime, now=now)
            self._service_token = (token, now + lifetime)
        return self._service_token[0]

    def relay(self, store: EventStore, topic: str, **kwargs: Any) -> Relay:
        return Relay(
            self.pool,
            store,
            self.bootstrap_servers,
            topic,
            lambda: make_producer(self.settings, self.bootstrap_servers),
            topic_partitions=self.settings.topic_partitions,
            **kwargs,
        )

    def projector(self, schema: str, projection: Projection, **kwargs: Any) -> Projector:
        kwargs.setdefault("max_batch", self.settings.projector_batch)
        return Projector(
            self.pool,
            schema,
            projection,
            lambda group: make_consumer(self.settings, self.bootstrap_servers, group),
            self.bootstrap_servers,
            **kwargs,
        )


@dataclass
class ServiceRuntime:
    """One service: its HTTP app and its background workers."""

    name: str
    app: FastAPI
    platform: Platform
    relays: list[Relay] = field(default_factory=list)
    projectors: list[Projector] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    # Awaited before anything runs or is served (e.g. launching shipped definitions).
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Called after the workers have stopped (e.g. shutting a thread pool).
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for step in self.on_start:
            await step()
        workers: list[Worker] = [*self.relays, *self.projectors, *self.workers]
        for worker in workers:
            self._tasks.append(asyncio.create_task(self._supervise(worker), name=f"{self.name}:{worker}"))

    async def _supervise(self, worker: Worker) -> None:
        """Restart a worker that died (broker gone, database restarted) after a short pause."""
        while True:
            try:
                await worker.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelling()
                log.exception("%s worker failed; restarting in 1 s", self.name)
            await asyncio.sleep(1.0)

    async def stop(self, timeout: float = 15.0) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                log.error("%s: worker %s did not stop within %.0f s", self.name, task.get_name(), timeout)
        self._tasks.clear()
        for step in self.on_stop:
            step()

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        ready = True
        try:
            await self.platform.pool.fetchval("select 1")
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
            ready = False
        for relay in self.relays:
            st = relay.status
            entry: dict[str, Any] = {"running": st.running, "leader": st.leader, "published": st.published}
            try:
                entry["pending_events"] = await relay.pending()
            except Exception as exc:
                entry["pending_events"] = f"error: {type(exc).__name__}"
            if st.error:
                entry["error"] = st.error
            ready &= st.running and st.error is None
            checks[f"relay:{relay.topic}"] = entry
        for projector in self.projectors:
            ps = projector.status
            checks[f"projector:{projector.projection.name}"] = {
                "running": ps.running,
                "applied": ps.applied,
                "duplicates_skipped": ps.duplicates,
                "partitions": len(ps.assigned),
                "delay_seconds": None if ps.delay_seconds is None else round(ps.delay_seconds, 3),
                "idle_seconds": None if ps.last_applied_at is None else round(time.time() - ps.last_applied_at, 1),
                "streams_waiting": len(ps.waiting),
                **({"missing_events": missing} if (missing := await _missing(projector)) else {}),
                **({"error": ps.error} if ps.error else {}),
            }
            # Ready once the consumer group has handed it partitions: before that, reads would lag.
            ready &= ps.running and bool(ps.assigned) and not missing
        return {"service": self.name, "ready": ready, "checks": checks}


def guard_for(platform: Platform) -> Guard:
    """One guard per process: it fetches the auth service's published keys once and shares them."""
    if platform.guard is None:

        async def fetch_keys() -> dict[str, Any]:
            if platform.settings.auth_signing_keys:  # this process holds the keys: no need to ask
                return KeyRing(platform.settings.auth_signing_keys).jwks()
            async with platform.service_client("auth") as auth:
                response = await auth.get("/auth/v1/jwks.json")
                response.raise_for_status()
                keys: dict[str, Any] = response.json()
                return keys

        async def fetch_revocations(after: int) -> dict[str, Any]:
            if platform.revocation_source is not None:
                return await platform.revocation_source(after)
            async with platform.service_client("auth") as auth:
                response = await auth.get("/auth/v1/revocations", params={"after": after})
                response.raise_for_status()
                body: dict[str, Any] = response.json()
                return body

        revocations = Revocations(fetch_revocations, platform.settings.revocation_refresh_seconds)
        platform.guard = Guard(KeySource(fetch_keys), platform.settings.rate_limit_per_minute, revocations)
    return platform.guard


def service_runtime(
    name: str,
    platform: Platform,
    description: str,
    *,
    routers: Sequence[APIRouter] = (),
    relays: Sequence[Relay] = (),
    projectors: Sequence[Projector] = (),
    workers: Sequence[Worker] = (),
    on_start: Sequence[Callable[[], Awaitable[None]]] = (),
) -> ServiceRuntime:
    """A service's app (OpenAPI under /<name>/, problem+json errors, health routes) and workers."""
    app = FastAPI(
        title=f"Sajja {name}",
        version="1",
        description=description,
        openapi_url=f"/{name}/openapi.json",
        docs_url=f"/{name}/docs",
        redoc_url=None,
        # Our TracingMiddleware makes the server span; FastAPI's own spans would double the cost.
        telemetry={"tracing": False},
        # Every route names its access rule; the guard enforces it (and refuses routes without one).
        dependencies=[Depends(guard_for(platform))],
    )
    app.add_middleware(
        BodySizeLimit, limit=platform.settings.max_body_bytes, upload_limit=platform.settings.max_upload_bytes
    )
    app.add_middleware(AfterPositions)
    install_problem_handlers(app)
    for router in routers:
        app.include_router(router)
    runtime = ServiceRuntime(name, app, platform, list(relays), list(projectors), list(workers), list(on_start))
    add_health_routes(app, runtime, name)
    # ?after= on every route (libs/events/read_after.py): the guard awaits this before its area checks.
    app.state.read_after = ReadAfter(runtime)
    if runtime.relays:
        add_published_route(app, runtime, name)
    if runtime.projectors:
        # Its read models, and their rebuild from the topics on request (libs/events/rebuild.py).
        rebuilds = Rebuilds(runtime.projectors)
        runtime.workers.append(rebuilds)
        add_projection_routes(app, rebuilds, name)
    document(app)
    # Fail at start rather than serve a route nobody decided who may use (the guard would refuse it).
    if unruled := routes_without_rules(app.routes):
        raise RuntimeError(f"{name}: routes without an access rule: {', '.join(unruled)}")
    return runtime


async def _missing(projector: Projector) -> dict[str, str] | str:
    try:
        return await projector.missing_events(30.0)
    except Exception as exc:  # readiness must answer even when the database does not
        return f"error: {type(exc).__name__}"


OPERATIONS_SCOPE = "ops:read"


async def may_read_operations(platform: Platform, request: Request) -> bool:
    """Whether the caller (if any) may see readiness details: pending events, counts, errors. The public
    answer to a probe is up or down, nothing more."""
    if not (request.headers.get("authorization") or request.cookies):
        return False
    try:
        principal = await guard_for(platform).authenticate(request)
    except Problem:
        return False
    return OPERATIONS_SCOPE in principal.scopes


def add_published_route(app: FastAPI, runtime: ServiceRuntime, name: str) -> None:
    """GET /<service>/v1/published?through=N: how far the service's store is published, for other
    services' reads with ?after= (libs/events/read_after.py): once `through` reaches N, or as far as it
    got after `wait` seconds (at most SAJJA_READ_WAIT_TIMEOUT_SECONDS)."""
    relay = runtime.relays[0]

    @access(Rule(OPERATIONS_SCOPE, Anywhere()))
    async def published(
        through: Annotated[int, Query(ge=0, le=2**63 - 1, description="A position a command returned")] = 0,
        wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for it at most")] = 0.0,
    ) -> dict[str, Any]:
        timeout = min(wait, runtime.platform.settings.read_wait_timeout_seconds)
        mark = await wait_published(runtime.platform.pool, relay.store.schema, relay.topic, through, timeout)
        return published_answer(name, relay.topic, mark)

    app.add_api_route(
        f"/{name}/v1/published",
        published,
        methods=["GET"],
        summary="How far this service's events are published (for reads with ?after= in other services)",
        tags=["operations"],
    )


def add_health_routes(app: FastAPI, runtime: ServiceRuntime, prefix: str) -> None:
    """/healthz (alive) and /readyz (ready or not; with a token holding ops:read, the database, relays
    and projectors in detail) — at the root when the service runs alone, and under its prefix so the
    local runner can reach each service's own."""

    @access(PUBLIC)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @access(PUBLIC)
    async def readyz(request: Request) -> JSONResponse:
        report = await runtime.readiness()
        status = 200 if report["ready"] else 503
        if not await may_read_operations(runtime.platform, request):
            report = {"service": report["service"], "ready": report["ready"]}
        return JSONResponse(report, status_code=status)

    for path in ("/healthz", f"/{prefix}/healthz"):
        app.add_api_route(path, healthz, methods=["GET"], include_in_schema=False)
    for path in ("/readyz", f"/{prefix}/readyz"):
        app.add_api_route(path, readyz, methods=["GET"], include_in_schema=False)
