"""The `sajja` command line against a real database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg

from libs.events.kafka import topic_for
from libs.events.settings import Settings
from tests.integration.test_event_store import append, deposit_event


def sajja(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SAJJA_")} | env
    return subprocess.run(
        [sys.executable, "-m", "sajja_cli.main", *args], env=clean, capture_output=True, text=True, timeout=60
    )


async def test_relay_republish_resets_the_checkpoint(pool: asyncpg.Pool, database_url: str) -> None:
    settings = Settings()
    topic = topic_for("ledger", settings.topic_prefix)
    member = uuid.uuid4()
    await append(pool, f"member-{member}", 0, deposit_event(member), deposit_event(member))
    await pool.execute(
        "insert into ledger.relay_checkpoint (topic, xact_id, position, published, cluster_id)"
        " values ($1, '999'::xid8, 2, 2, 'c')",
        topic,
    )
    result = sajja("relay", "republish", "ledger", SAJJA_DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    assert "republish 2 events" in result.stdout
    row = await pool.fetchrow(
        "select xact_id::text as x, position from ledger.relay_checkpoint where topic = $1", topic
    )
    assert (row["x"], row["position"]) == ("0", 0)


def test_republish_names_the_services_it_knows() -> None:
    result = sajja("relay", "republish", "reporting", SAJJA_DATABASE_URL="postgresql://unused/x")
    assert result.returncode == 2
    assert "ledger, lending, campaign" in result.stderr


def test_commands_needing_a_database_say_how_to_give_one() -> None:
    result = sajja("migrate")
    assert result.returncode == 2
    assert "SAJJA_DATABASE_URL" in result.stderr


def test_committed_schemas_match_the_models() -> None:
    result = sajja("schemas", "--check")
    assert result.returncode == 0, result.stderr
