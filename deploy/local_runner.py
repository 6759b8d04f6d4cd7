"""`make run`: embedded PostgreSQL and Tansu (unless SAJJA_DATABASE_URL / SAJJA_KAFKA_BOOTSTRAP_SERVERS
name external servers), every service with its relays and projectors, one HTTP port.

The services run in worker processes (deploy/workers.py; a process per service unless SAJJA_WORKERS says
otherwise, "0" for all in this one), so that they use every core; this process owns the servers, the
secrets, the schema migrations and the port, which proxies to the workers by the first path segment
(deploy/proxy.py). Ctrl-C (SIGINT) or SIGTERM stops the port, then the workers, then the broker and the
database. Workers die with this process however it dies; servers left by a run that crashed are found
through their pid files under .sajja/ and stopped at the next start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from deploy.gateway import INDEX
from deploy.http_server import http_server
from deploy.platform import create_pool, running_platform
from deploy.proxy import Proxy
from deploy.workers import DEFAULT_PLAN, Workers, plan_of
from libs.auth.tokens import new_signing_key_pem
from libs.events.runtime import run_until_complete
from libs.events.settings import DEVELOPMENT_NATIONAL_ID_HASH_KEY, Settings, public_key_warning
from libs.events.telemetry import setup_logging, setup_tracing
from libs.infra.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from services.auth.store import create_development_credentials
from services.catalog import SERVICES, create_topics, migrate_all

log = logging.getLogger("sajja.run")


@contextmanager
def infrastructure(settings: Settings) -> Iterator[tuple[str, str]]:
    """Yields (database URL, bootstrap servers), starting embedded servers for whatever is not set."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        database_url = settings.database_url
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir / "postgres", free_port(), durable=True)
            log.info(
                "starting embedded PostgreSQL in %s", postgres.data_dir if hasattr(postgres, "data_dir") else data_dir
            )
            postgres.start()
            stack.callback(postgres.stop)
            database_url = postgres.dsn
        bootstrap = settings.kafka_bootstrap_servers
        if bootstrap is None:
            # A new cluster id each start: the broker keeps nothing, and relays/projectors notice and
            # republish / re-read from the start.
            kafka = EmbeddedKafka(free_port(), data_dir / "kafka", cluster_id=f"sajja-{uuid.uuid4().hex[:12]}")
            kafka.start()
            stack.callback(kafka.stop)
            bootstrap = kafka.bootstrap_servers
        yield database_url, bootstrap


def development_signing_key(settings: Settings) -> Settings:
    """Without SAJJA_AUTH_SIGNING_KEYS (a developer's machine), a key is made once under the data
    directory (readable by its owner only) and used as if it came from the environment."""
    if settings.auth_signing_keys:
        return settings
    path = settings.data_dir.resolve() / "dev-signing-key.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_signing_key_pem())
        log.info("created a development token-signing key in %s", path)
    return settings.model_copy(update={"auth_signing_keys": [path.read_text()]})


NATIONAL_ID_KEY_FILE = "national-id-hash-key"


def _write_owner_only(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(text)
    tmp.replace(path)


async def holds_members(database_url: str) -> bool:
    """Whether the database already has members, whose hashes were made with some earlier key."""
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        if await conn.fetchval("select to_regclass('ledger.member_register')") is None:
            return False  # a new database: the schemas are made later
        return bool(await conn.fetchval("select exists (select 1 from ledger.member_register)"))
    finally:
        await conn.close()


async def development_national_id_key(settings: Settings, database_url: str) -> Settings:
    """Without SAJJA_NATIONAL_ID_HASH_KEY, the key for national-ID hashes is kept in .sajja/ (owner-only):
    made at random on the first start. A database that already has members but no key file was made
    before that, with the public development key: that key is kept (its duplicate checks depend on it),
    loudly."""
    if "national_id_hash_key" in settings.model_fields_set:
        return settings
    path = settings.data_dir.resolve() / NATIONAL_ID_KEY_FILE
    if not path.exists():
        if await holds_members(database_url):
            _write_owner_only(path, DEVELOPMENT_NATIONAL_ID_HASH_KEY + "\n")
            log.warning(
                "this database's members were registered under the public development key for national-ID "
                "hashes; it stays in use (kept in %s) so that duplicate checks keep working. To start fresh "
                "with a random key: stop Sajja, delete %s, and `make run` again",
                path,
                settings.data_dir.resolve(),
            )
        else:
            _write_owner_only(path, secrets.token_urlsafe(32) + "\n")
            log.info("created a random national-ID hash key in %s", path)
    key = path.read_text().strip()
    if not key:
        raise SystemExit(f"{path} is empty: delete it (with the database, if it has members) or put a key in it")
    return settings.model_copy(update={"national_id_hash_key": key})


def warn_public_key(settings: Settings, *, key_from_environment: bool) -> None:
    """Printed as well as logged (by the platform): a developer should not miss it in the JSON logs."""
    warning = public_key_warning(settings)
    if warning is not None:
        how = (
            "unset SAJJA_NATIONAL_ID_HASH_KEY"
            if key_from_environment
            else f"stop Sajja, delete {settings.data_dir.resolve()} (its database and keys) and `make run` again"
        )
        print(f"WARNING: {warning}\nWARNING: for a random key instead: {how}.", file=sys.stderr, flush=True)


def show_credentials_once(settings: Settings, created: list[tuple[str, str, str]] | None) -> None:
    """First start only: print the development users and partner clients, and keep them (owner-only)
    for `make demo`; later starts print nothing of them."""
    if not created:
        return
    lines = [f"  {kind:<28} {name:<16} {secret}" for kind, name, secret in created]
    print("Development credentials (shown once; kept in .sajja/dev-credentials for `make demo`):", flush=True)
    print("\n".join(lines), flush=True)
    path = settings.data_dir.resolve() / "dev-credentials"
    path.touch(mode=0o600)
    path.write_text("\n".join(f"{kind}\t{name}\t{secret}" for kind, name, secret in created) + "\n")


def _running_message(settings: Settings, database_url: str, bootstrap: str, workers: str = "") -> str:
    return (
        f"Sajja is running: http://{settings.host}:{settings.port}/  "
        f"(database {database_url.split('@')[-1]}, broker {bootstrap}{workers}). Ctrl-C stops it."
    )


def public_url(settings: Settings) -> str:
    """Where this machine reaches the runner's port (the workers call each other's services there)."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(settings.host, settings.host)
    return f"http://{host}:{settings.port}"


async def serve(settings: Settings) -> None:
    settings = development_signing_key(settings)
    plan = None if settings.workers.strip() == "0" else plan_of(settings.workers or DEFAULT_PLAN, list(SERVICES))
    with infrastructure(settings) as (database_url, bootstrap):
        key_from_environment = "national_id_hash_key" in settings.model_fields_set
        settings = await development_national_id_key(settings, database_url)
        warn_public_key(settings, key_from_environment=key_from_environment)
        if plan is None:
            await serve_in_process(settings, database_url, bootstrap)
        else:
            await serve_with_workers(settings, database_url, bootstrap, plan)
    print("Stopped: services, broker and database are down.", flush=True)


async def serve_in_process(settings: Settings, database_url: str, bootstrap: str) -> None:
    """SAJJA_WORKERS=0: every service in this process (one core at most; simplest to debug)."""
    loop = asyncio.get_running_loop()
    async with running_platform(settings, database_url, bootstrap) as running:
        show_credentials_once(settings, await create_development_credentials(running.platform.pool))
        server = http_server(running.gateway, settings)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        print(_running_message(settings, database_url, bootstrap), flush=True)
        await server.serve()
        print("Stopping services …", flush=True)


async def prepare(settings: Settings, database_url: str, bootstrap: str) -> None:
    """Before any worker starts: the schemas migrated, the topics made, the development credentials shown."""
    pool = await create_pool(database_url, 2)
    try:
        await migrate_all(pool)
        await create_topics(settings, bootstrap)
        show_credentials_once(settings, await create_development_credentials(pool))
    finally:
        await pool.close()


async def serve_with_workers(
    settings: Settings, database_url: str, bootstrap: str, plan: list[tuple[str, ...]]
) -> None:
    loop = asyncio.get_running_loop()
    await prepare(settings, database_url, bootstrap)
    workers = Workers(settings, database_url, bootstrap, public_url(settings), plan)
    proxy = Proxy(
        workers.upstreams(),
        runner_root(workers),
        settings.max_body_bytes,
        home="reporting",
        max_upload_bytes=settings.max_upload_bytes,
    )
    server = http_server(proxy, settings, front=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    failure: BaseException | None = None
    workers.start()
    serving = asyncio.create_task(server.serve())
    watching: asyncio.Task[None] | None = None
    try:
        starting = asyncio.create_task(workers.until_serving())
        await asyncio.wait({starting, serving}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()  # the server stopped (Ctrl-C, or its port was taken) before the workers were up
        elif (failure := starting.exception()) is None:
            pids = ", ".join(f"{name} {pid}" for name, pid in workers.pids().items())
            print(_running_message(settings, database_url, bootstrap, f"; workers: {pids}"), flush=True)
            watching = asyncio.create_task(workers.watch())
            await asyncio.wait({serving, watching}, return_when=asyncio.FIRST_COMPLETED)
            if watching.done() and not watching.cancelled():
                failure = watching.exception()
        server.should_exit = True
        await serving
        print("Stopping services …", flush=True)
    finally:
        if watching is not None:
            watching.cancel()
        await workers.stop()
    if failure is not None:
        print(f"Sajja stopped: {failure}", file=sys.stderr, flush=True)
        raise SystemExit(1)


def runner_root(workers: Workers) -> FastAPI:
    """The runner's own routes: /healthz, /readyz (every worker's services), /services."""
    root = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @root.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @root.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        # The caller's credentials go along: each service decides what of its readiness they may see.
        passed = [(k, v) for k, v in request.headers.raw if k in (b"authorization", b"cookie")]
        services = await workers.readiness(passed)
        ready = all(s.get("ready") for s in services.values())
        return JSONResponse({"ready": ready, "services": services}, status_code=200 if ready else 503)

    @root.get("/services", response_class=HTMLResponse)
    async def services_index() -> HTMLResponse:
        links = "".join(
            f'<li>{name}: <a href="/{name}/docs">/{name}/docs</a> · '
            f'<a href="/{name}/openapi.json">openapi.json</a></li>'
            for name in workers.upstreams()
        )
        return HTMLResponse(INDEX.format(links=links))

    return root


def main() -> None:
    settings = Settings()
    setup_logging(settings.log_level)
    setup_tracing("sajja-local")
    run_until_complete(serve(settings))


if __name__ == "__main__":
    main()
