"""Real embedded PostgreSQL and Tansu servers: start, use, stop, and recover from leftovers."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from libs.infra.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[2]


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """Live postgres processes whose working directory is ``data_dir``."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()) == data_dir.resolve():
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _fetchval(dsn: str, sql: str) -> object:
    async def run() -> object:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def _port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_postgres_starts_serves_tcp_and_stops(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    pg = EmbeddedPostgres(data_dir, free_port())
    with pg:
        assert pg.dsn.startswith("postgresql://postgres:") and pg.dsn.endswith(f"@127.0.0.1:{pg.port}/postgres")
        assert _fetchval(pg.dsn, "select 1") == 1
        assert _fetchval(pg.dsn, "show max_connections") == "200"
        assert _fetchval(pg.dsn, "show fsync") == "on"
        assert _fetchval(pg.dsn, "show server_encoding") == "UTF8"
        if os.geteuid() == 0:
            assert pg.pid is not None
            assert psutil.Process(pg.pid).username() == "embedded_postgres"
    assert _postgres_processes(data_dir) == []
    pg.stop()  # idempotent

    # Restart on the existing cluster (no initdb) works too.
    with EmbeddedPostgres(data_dir, free_port()) as again:
        assert _fetchval(again.dsn, "select 2") == 2
    assert _postgres_processes(data_dir) == []


def test_postgres_start_replaces_a_leftover_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    forgotten = EmbeddedPostgres(data_dir, free_port(), durable=False)
    forgotten.start()
    old_pid = forgotten.pid
    assert old_pid is not None

    fresh = EmbeddedPostgres(data_dir, free_port(), durable=False)
    try:
        fresh.start()
        assert fresh.pid is not None
        assert fresh.pid != old_pid
        assert not _alive(old_pid)
        assert _port_refuses(forgotten.port)
        assert _fetchval(fresh.dsn, "select 1") == 1
        assert {p.pid for p in _postgres_processes(data_dir)} == {
            fresh.pid,
            *(c.pid for c in psutil.Process(fresh.pid).children()),
        }
    finally:
        fresh.stop()
        forgotten.stop()
    assert _postgres_processes(data_dir) == []


def test_postgres_start_recovers_from_a_killed_postmaster(tmp_path: Path) -> None:
    """SIGKILL leaves a stale postmaster.pid (and briefly orphaned backends) behind."""
    data_dir = tmp_path / "pg"
    first = EmbeddedPostgres(data_dir, free_port(), durable=False)
    first.start()
    assert first.pid is not None
    killed = first.pid
    os.kill(killed, signal.SIGKILL)
    _wait_until(lambda: not _alive(killed))
    assert (data_dir / "postmaster.pid").exists()

    second = EmbeddedPostgres(data_dir, free_port(), durable=False)
    try:
        second.start()
        assert _fetchval(second.dsn, "select 1") == 1
        pid_file_lines = (data_dir / "postmaster.pid").read_text().splitlines()
    finally:
        second.stop()
    assert _postgres_processes(data_dir) == []

    # A stale postmaster.pid whose PID now belongs to an unrelated live process of the
    # server's user: postgres alone would refuse to start ("is another postmaster running?").
    as_server_user = {"user": "embedded_postgres"} if os.geteuid() == 0 else {}
    sleeper = subprocess.Popen(["sleep", "60"], **as_server_user)  # type: ignore[call-overload]
    try:
        (data_dir / "postmaster.pid").write_text("\n".join([str(sleeper.pid), *pid_file_lines[1:]]) + "\n")
        third = EmbeddedPostgres(data_dir, free_port(), durable=False)
        try:
            third.start()
            assert _fetchval(third.dsn, "select 1") == 1
        finally:
            third.stop()
        assert sleeper.poll() is None, "an unrelated process must not be killed"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert _postgres_processes(data_dir) == []


def _refused(**connect: object) -> bool:
    """Whether PostgreSQL turns this connection away (asyncpg raises on the authentication step)."""

    async def run() -> None:
        conn = await asyncpg.connect(timeout=10, **connect)  # type: ignore[arg-type]
        await conn.close()

    try:
        asyncio.run(run())
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError):
        return True
    return False


def _hba_rules(data_dir: Path) -> list[list[str]]:
    lines = (data_dir / "pg_hba.conf").read_text().splitlines()
    return [line.split("#")[0].split() for line in lines if line.split("#")[0].strip()]


def _assert_needs_password(pg: EmbeddedPostgres) -> None:
    """Nobody gets in without the password: not over TCP, not through the Unix socket."""
    rules = _hba_rules(pg.data_dir)
    assert rules and all(rule[-1] == "scram-sha-256" for rule in rules), rules
    mode = pg.password_file.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == os.geteuid()
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", pg.password)
    assert _refused(host="127.0.0.1", port=pg.port, user="postgres", database="postgres")
    assert _refused(host="127.0.0.1", port=pg.port, user="postgres", password="guess", database="postgres")
    socket_dir = next(
        p.parent
        for p in [*pg.data_dir.glob(".s.PGSQL.*"), *Path("/tmp").glob("sajja-pg-*/.s.PGSQL.*")]
        if p.name == f".s.PGSQL.{pg.port}"
    )
    assert _refused(host=str(socket_dir), port=pg.port, user="postgres", database="postgres")
    assert not _refused(host=str(socket_dir), port=pg.port, user="postgres", password=pg.password, database="postgres")
    assert _fetchval(pg.dsn, "select current_user") == "postgres"


def test_postgres_needs_its_password_and_migrates_a_trusting_cluster(tmp_path: Path) -> None:
    """Fresh clusters are made with scram-sha-256 everywhere and a 0600 password file beside the data
    directory; a cluster made by an older version (trust rules, no password file) keeps its data and
    gets a password at its next start."""
    data_dir = tmp_path / "pg"
    with EmbeddedPostgres(data_dir, free_port(), durable=False) as pg:
        assert pg.password_file == tmp_path / "postgres-password"
        _assert_needs_password(pg)
        _fetchval(pg.dsn, "create table kept as select 42 as answer")
        old_password = pg.password

    # What an older version left behind: every rule `trust`, no password file.
    hba = data_dir / "pg_hba.conf"
    hba.write_text(re.sub(r"scram-sha-256\s*$", "trust", hba.read_text(), flags=re.MULTILINE))
    assert any(rule[-1] == "trust" for rule in _hba_rules(data_dir))
    (tmp_path / "postgres-password").unlink()

    with EmbeddedPostgres(data_dir, free_port(), durable=False) as migrated:
        _assert_needs_password(migrated)
        assert migrated.password != old_password
        assert _fetchval(migrated.dsn, "select answer from kept") == 42
        assert _refused(
            host="127.0.0.1", port=migrated.port, user="postgres", password=old_password, database="postgres"
        )
    assert _postgres_processes(data_dir) == []


def test_postgres_non_durable_turns_fsync_off(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "pg", free_port(), durable=False) as pg:
        assert _fetchval(pg.dsn, "show fsync") == "off"
        assert _fetchval(pg.dsn, "show synchronous_commit") == "off"
        assert _fetchval(pg.dsn, "show full_page_writes") == "off"


async def _round_trip(bootstrap: str) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    topic = "embedded-infra-test"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"hello", key=b"k1", headers=[("traceparent", b"00-abc-def-01")])
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    return record.key, record.value, list(record.headers)


def test_kafka_starts_round_trips_a_message_and_stops() -> None:
    kafka = EmbeddedKafka(free_port())
    with kafka:
        assert kafka.bootstrap_servers == f"127.0.0.1:{kafka.port}"
        pid = kafka.pid
        assert pid is not None
        key, value, headers = asyncio.run(_round_trip(kafka.bootstrap_servers))
        assert (key, value) == (b"k1", b"hello")
        assert headers == [("traceparent", b"00-abc-def-01")]
    assert not _alive(pid)
    assert _port_refuses(kafka.port)
    kafka.stop()  # idempotent


def test_kafka_listens_on_loopback_only() -> None:
    """Tansu has no usable authentication with memory storage (see README): it must at least not be
    reachable from other machines."""
    with EmbeddedKafka(free_port()) as kafka:
        assert kafka.pid is not None
        listening = [
            c for c in psutil.Process(kafka.pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN
        ]
        assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
        outside = [
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        ]
        for address in outside:
            with pytest.raises(OSError), socket.create_connection((address, kafka.port), timeout=1):
                pass


def test_kafka_start_kills_a_leftover_from_the_pid_file(tmp_path: Path) -> None:
    port = free_port()
    forgotten = EmbeddedKafka(port, state_dir=tmp_path)
    forgotten.start()
    leftover_pid = forgotten.pid
    assert leftover_pid is not None
    assert (tmp_path / "tansu.pid").read_text().strip() == str(leftover_pid)

    # Same port: the leftover must be gone before the new broker can bind it.
    fresh = EmbeddedKafka(port, state_dir=tmp_path)
    try:
        fresh.start()
        assert fresh.pid is not None
        assert fresh.pid != leftover_pid
        assert not _alive(leftover_pid)
        assert (tmp_path / "tansu.pid").read_text().strip() == str(fresh.pid)
    finally:
        fresh.stop()
        forgotten.stop()
    assert not (tmp_path / "tansu.pid").exists()
    assert "listening on" in (tmp_path / "tansu.log").read_text()


def test_kafka_start_spares_a_tansu_that_merely_reuses_the_recorded_pid(tmp_path: Path) -> None:
    """A pid file older than the process it names is stale: that PID was reused."""
    other = EmbeddedKafka(free_port())
    other.start()
    try:
        assert other.pid is not None
        pid_file = tmp_path / "tansu.pid"
        pid_file.write_text(f"{other.pid}\n")
        an_hour_ago = time.time() - 3600
        os.utime(pid_file, (an_hour_ago, an_hour_ago))
        with EmbeddedKafka(free_port(), state_dir=tmp_path) as fresh:
            assert fresh.pid is not None
            assert _alive(other.pid)
    finally:
        other.stop()


def test_kafka_start_fails_clearly_when_the_port_is_taken() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        kafka = EmbeddedKafka(blocker.getsockname()[1])
        with pytest.raises(RuntimeError, match="Address in use"):
            kafka.start()
    assert kafka.pid is None


def test_kafka_dies_with_a_sigkilled_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from libs.infra.embedded import EmbeddedKafka, free_port
        kafka = EmbeddedKafka(free_port(), state_dir={str(tmp_path)!r})
        kafka.start()
        print(kafka.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        broker_pid = int(parent.stdout.readline())
        assert _alive(broker_pid)
    finally:
        parent.kill()
        parent.wait()
    _wait_until(lambda: not _alive(broker_pid))
