"""Schema migrations: ordered SQL files per service schema, each applied once, under an advisory lock."""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg

EVENT_STORE_SQL = Path(__file__).with_name("sql")


def _lock_id(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)


async def migrate(conn: asyncpg.Connection, schema: str, service_migrations: Path | None = None) -> list[str]:
    """Apply the shared event-store SQL, then the service's own files, in name order. Returns what ran."""
    files = sorted(EVENT_STORE_SQL.glob("*.sql"))
    names = [f"events/{f.name}" for f in files]
    if service_migrations is not None:
        own = sorted(service_migrations.glob("*.sql"))
        files += own
        names += [f"{schema}/{f.name}" for f in own]
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", _lock_id(schema))
        await conn.execute(f'create schema if not exists "{schema}"')
        await conn.execute(
            f'create table if not exists "{schema}".schema_migrations'
            " (name text primary key, applied_at timestamptz not null default now())"
        )
        done = {r["name"] for r in await conn.fetch(f'select name from "{schema}".schema_migrations')}
        await conn.execute(f'set local search_path to "{schema}"')
        for name, path in zip(names, files, strict=True):
            if name in done:
                continue
            await conn.execute(path.read_text())
            await conn.execute("insert into schema_migrations (name) values ($1)", name)
            applied.append(name)
    return applied
