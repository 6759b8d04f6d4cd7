"""Start every service (or some) in one process against a database and a broker."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from deploy.gateway import Gateway
from libs.events.runtime import Platform, ServiceRuntime
from libs.events.settings import Settings, public_key_warning
from services.catalog import SERVICES, create_topics, migrate_all

log = logging.getLogger("sajja.platform")


@dataclass
class RunningPlatform:
    platform: Platform
    runtimes: dict[str, ServiceRuntime]
    gateway: Gateway


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=size, command_timeout=60)
    assert pool is not None
    return pool


@asynccontextmanager
async def running_platform(
    settings: Settings, database_url: str, bootstrap_servers: str, services: list[str] | None = None
) -> AsyncIterator[RunningPlatform]:
    warning = public_key_warning(settings)
    if warning is not None:
        log.warning(warning)
    pool = await create_pool(database_url, settings.database_pool_size)
    runtimes: dict[str, ServiceRuntime] = {}
    try:
        await migrate_all(pool, services)
        await create_topics(settings, bootstrap_servers)
        platform = Platform(settings, pool, bootstrap_servers)
        for name in services or list(SERVICES):
            runtimes[name] = SERVICES[name].build(platform)
            platform.apps[name] = runtimes[name].app
        # A leading relay holds two connections (its lock and LISTEN, and one to publish with); the
        # projectors and HTTP requests need the rest. Too small a pool would starve them silently.
        relays = sum(len(r.relays) for r in runtimes.values())
        needed = 2 * relays + len(runtimes) + 2
        if settings.database_pool_size < needed:
            raise ValueError(
                f"SAJJA_DATABASE_POOL_SIZE={settings.database_pool_size} is too small for {relays} relays and "
                f"{len(runtimes)} services: use at least {needed}"
            )
        for runtime in runtimes.values():
            await runtime.start()
        # What is alive once everything has started (apps, schemas, models, caches) lives as long as the process:
        # frozen, a full collection no longer walks it. In a heap of a million objects one such walk held the
        # event loop 0.9 s, and every request waited behind it. (No full collection first: in a process that
        # starts one platform after another, the tests, each would cost that second again.)
        gc.collect(1)
        gc.freeze()
        yield RunningPlatform(platform, runtimes, Gateway(list(runtimes.values())))
    finally:
        gc.unfreeze()  # a process that starts another platform (the tests) lets this one's objects go
        # Side by side: each waits for its consumers to leave their groups, which takes a moment.
        await asyncio.gather(*(runtime.stop() for runtime in runtimes.values()))
        try:
            await asyncio.wait_for(pool.close(), timeout=10)
        except TimeoutError:
            log.error("database pool did not close within 10 s; terminating its connections")
            pool.terminate()
