"""Lending's migrations on a database that already has data (real PostgreSQL): 007 (the officers' worklists) adds
the waiting applications' table, filled by a projector of its own, and leaves the loan portfolio, its totals by
area and its projector's progress as they were — emptying them made every portfolio read short until lending's
topic was re-read, and a projector of the old code still running could store its progress again after them."""

from __future__ import annotations

import shutil
import uuid
from datetime import date
from pathlib import Path

import asyncpg

from libs.events.migrations import migrate
from services.lending.app import MIGRATIONS

SCHEMA = "lending_before_007"


async def test_migration_007_keeps_the_portfolio_and_its_progress(pool: asyncpg.Pool, tmp_path: Path) -> None:
    for migration in sorted(MIGRATIONS.glob("*.sql")):
        if migration.name < "007":
            shutil.copy(migration, tmp_path / migration.name)
    s = f'"{SCHEMA}"'
    async with pool.acquire() as conn:
        try:
            await migrate(conn, SCHEMA, tmp_path)
            await conn.execute(
                f"insert into {s}.loan_portfolio values ($1, $2, $3, '27', '2701', 'active', 100000, 80000,"
                " '2024-03-15', '2024-01-15')",
                uuid.uuid4(),
                uuid.uuid4(),
                uuid.uuid4(),
            )
            await conn.execute(
                f"insert into {s}.portfolio_dues values ('district', '2701', '27', $1, 1, 80000)", date(2024, 3, 15)
            )
            await conn.execute(
                f"insert into {s}.projector_offsets values ('loan_portfolio', 'sajja.lending.v1', 0, 42, 'cluster')"
            )
            await conn.execute(
                f"insert into {s}.projector_streams (projector, stream_id, stream_version, position)"
                " values ('loan_portfolio', 'loan-x', 3, 41)"
            )
            kept = [
                "select count(*) from {s}.loan_portfolio",
                "select count(*) from {s}.portfolio_dues",
                "select coalesce(sum(next_offset), 0) from {s}.projector_offsets where projector = 'loan_portfolio'",
                "select count(*) from {s}.projector_streams where projector = 'loan_portfolio'",
            ]
            before = [await conn.fetchval(sql.format(s=s)) for sql in kept]
            assert before == [1, 1, 42, 1]
            assert await migrate(conn, SCHEMA, MIGRATIONS) == [f"{SCHEMA}/007_worklists.sql"]
            assert [await conn.fetchval(sql.format(s=s)) for sql in kept] == before
            assert await conn.fetchval(f"select count(*) from {s}.loan_applications") == 0
        finally:
            await conn.execute(f"drop schema if exists {s} cascade")
