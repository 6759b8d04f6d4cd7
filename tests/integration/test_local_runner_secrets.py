"""`make run`'s own secrets: the national-ID hash key is random and owner-only unless set, an older
.sajja/ whose members were hashed with the public development key keeps it (loudly), and every runner
says so when the public key is in use."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from deploy.local_runner import NATIONAL_ID_KEY_FILE, development_national_id_key, warn_public_key
from libs.events.settings import DEVELOPMENT_NATIONAL_ID_HASH_KEY, Settings, public_key_warning

ROOT = Path(__file__).resolve().parents[2]


def _owner_only(path: Path) -> bool:
    info = path.stat()
    return stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()


async def test_first_start_makes_a_random_key_kept_owner_only(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "sajja"
    first = await development_national_id_key(Settings(data_dir=data_dir), database_url)
    key_file = data_dir / NATIONAL_ID_KEY_FILE
    assert first.national_id_hash_key != DEVELOPMENT_NATIONAL_ID_HASH_KEY
    assert len(first.national_id_hash_key) >= 40
    assert _owner_only(key_file) and key_file.read_text().strip() == first.national_id_hash_key
    assert public_key_warning(first) is None
    warn_public_key(first, key_from_environment=False)
    assert "WARNING" not in capsys.readouterr().err

    again = await development_national_id_key(Settings(data_dir=data_dir), database_url)
    assert again.national_id_hash_key == first.national_id_hash_key  # the members' hashes stay comparable

    # SAJJA_NATIONAL_ID_HASH_KEY wins, and no file is made for it.
    elsewhere = tmp_path / "other"
    chosen = await development_national_id_key(
        Settings(data_dir=elsewhere, national_id_hash_key="from-the-environment"), database_url
    )
    assert chosen.national_id_hash_key == "from-the-environment"
    assert not (elsewhere / NATIONAL_ID_KEY_FILE).exists()


async def test_a_database_with_members_but_no_key_file_keeps_the_public_key_loudly(
    tmp_path: Path,
    database_url: str,
    pool: asyncpg.Pool,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A .sajja/ from before the key file: its members were hashed with the public key, and a new key
    would let the same person register twice in a group."""
    await pool.execute(
        "insert into ledger.member_register (member_id, group_id, national_id_hash) values ($1, $2, 'h')",
        uuid.uuid4(),
        uuid.uuid4(),
    )
    data_dir = tmp_path / "sajja"
    with caplog.at_level(logging.WARNING, logger="sajja.run"):
        settings = await development_national_id_key(Settings(data_dir=data_dir), database_url)
    assert settings.national_id_hash_key == DEVELOPMENT_NATIONAL_ID_HASH_KEY
    key_file = data_dir / NATIONAL_ID_KEY_FILE
    assert _owner_only(key_file) and key_file.read_text().strip() == DEVELOPMENT_NATIONAL_ID_HASH_KEY
    assert any(r.levelno == logging.WARNING and "public development key" in r.getMessage() for r in caplog.records)

    warn_public_key(settings, key_from_environment=False)
    printed = capsys.readouterr().err
    assert "WARNING: SAJJA_NATIONAL_ID_HASH_KEY is the PUBLIC development key" in printed
    assert f"delete {data_dir.resolve()}" in printed


def _serve_one(**env: str) -> subprocess.CompletedProcess[str]:
    """`sajja serve ledger` against servers that are not there: it warns before it fails to connect."""
    clean = {
        "PATH": os.defpath,
        "SAJJA_DATABASE_URL": "postgresql://nobody:none@127.0.0.1:1/none",
        "SAJJA_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "deploy.serve_one", "ledger"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_one_prints_and_logs_a_warning_for_the_public_key() -> None:
    public = _serve_one()
    assert public.returncode == 1
    assert "sajja serve: WARNING: SAJJA_NATIONAL_ID_HASH_KEY is the PUBLIC development key" in public.stderr
    logged = public.stdout + public.stderr
    assert (
        '"level": "WARNING", "logger": "sajja.platform", "message": "SAJJA_NATIONAL_ID_HASH_KEY is the PUBLIC' in logged
    )

    secret = _serve_one(SAJJA_NATIONAL_ID_HASH_KEY="a-secret-key")
    assert secret.returncode == 1
    assert "PUBLIC development key" not in secret.stdout + secret.stderr
