"""Every service of the platform, for the local runner, the CLI and the tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from libs.events import schemas  # noqa: F401  (registers every event type)
from libs.events.kafka import ensure_topics, topic_for
from libs.events.migrations import migrate
from libs.events.runtime import Platform, ServiceRuntime
from libs.events.settings import Settings
from services.auth import app as auth_app
from services.campaign import app as campaign_app
from services.ledger import app as ledger_app
from services.lending import app as lending_app
from services.reporting import app as reporting_app


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    build: Callable[[Platform], ServiceRuntime]
    migrations: Path
    publishes: bool  # has a command side with an event store and a topic


SERVICES: dict[str, ServiceSpec] = {
    "auth": ServiceSpec("auth", auth_app.build, auth_app.MIGRATIONS, False),
    "ledger": ServiceSpec("ledger", ledger_app.build, ledger_app.MIGRATIONS, True),
    "lending": ServiceSpec("lending", lending_app.build, lending_app.MIGRATIONS, True),
    "campaign": ServiceSpec("campaign", campaign_app.build, campaign_app.MIGRATIONS, True),
    "reporting": ServiceSpec("reporting", reporting_app.build, reporting_app.MIGRATIONS, False),
}


async def migrate_all(pool: asyncpg.Pool, names: list[str] | None = None) -> list[str]:
    applied: list[str] = []
    async with pool.acquire() as conn:
        for spec in SERVICES.values():
            if names is None or spec.name in names:
                applied += await migrate(conn, spec.name, spec.migrations)
    return applied


def topics(settings: Settings) -> list[str]:
    return [topic_for(s.name, settings.topic_prefix) for s in SERVICES.values() if s.publishes]


async def create_topics(settings: Settings, bootstrap_servers: str) -> list[str]:
    return await ensure_topics(
        bootstrap_servers, topics(settings), settings.topic_partitions, settings.topic_replication_factor
    )
