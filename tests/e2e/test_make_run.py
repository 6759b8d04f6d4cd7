"""`make run`'s runner as a user starts it: embedded PostgreSQL and Tansu, every service on one port.
A group, a member and a deposit made over HTTP show in the balance; Ctrl-C leaves no process behind,
and neither does a crash, once the next start has run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from libs.infra.embedded import free_port
from tests.conftest import Broker
from tests.support.api import national_id

pytestmark = pytest.mark.slow


def _servers_under(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "cwd"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(data_dir) in text and proc.info["name"] in ("postgres", "tansu"):
            found.append(proc)
    return [p for p in found if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


class Runner:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"runner-{self.port}.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAJJA_")}
        env |= {"SAJJA_DATA_DIR": str(self.data_dir), "SAJJA_PORT": str(self.port)} | self.env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sajja_cli.main", "run"],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"runner exited: {self.log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"runner never became ready: {self.log.read_text()[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "sajja-data"
    yield path
    for proc in _servers_under(path):  # never leave servers behind, even when a test fails
        proc.kill()


def _post(url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=10)


def test_deposit_shows_in_balance_and_ctrl_c_stops_everything(data_dir: Path) -> None:
    runner = Runner(data_dir)
    runner.start()
    try:
        assert _servers_under(data_dir), "expected embedded postgres and tansu under the data dir"
        group = _post(
            f"{runner.url}/ledger/v1/groups",
            {
                "name": "กลุ่มออมทรัพย์บ้านคลองหาด",
                "province_code": "27",
                "district_code": "2703",
                "founded_on": "2010-03-06",
            },
        )
        assert group.status_code == 201, group.text
        member = _post(
            f"{runner.url}/ledger/v1/groups/{group.json()['group_id']}/members",
            {
                "national_id": national_id(123456),
                "full_name": "สมชาย รักออม",
                "joined_on": "2023-12-01",
                "monthly_commitment": "100.00",
            },
        )
        assert member.status_code == 201, member.text
        member_id = member.json()["member_id"]
        deposit = _post(
            f"{runner.url}/ledger/v1/members/{member_id}/deposits",
            {"account": "special", "amount": "50.00", "deposited_on": "2024-01-05"},
        )
        assert deposit.status_code == 201, deposit.text
        position = deposit.json()["position"]["ledger"]
        balance = httpx.get(
            f"{runner.url}/reporting/v1/members/{member_id}/balances",
            params={"after": f"ledger:{position}"},
            timeout=15,
        )
        assert balance.json() == {"member_id": member_id, "sajja": "0.00", "special": "50.00", "total": "50.00"}
        ready = httpx.get(f"{runner.url}/readyz", timeout=5).json()
        assert set(ready["services"]) == {"ledger", "lending", "campaign", "reporting"}
        for service in ("ledger", "lending", "campaign", "reporting"):
            assert httpx.get(f"{runner.url}/{service}/openapi.json", timeout=5).status_code == 200
    finally:
        code = runner.stop(signal.SIGINT)
    assert code == 0, runner.log.read_text()[-3000:]
    assert _servers_under(data_dir) == []


def test_sigterm_stops_and_a_crashed_run_is_cleaned_up_by_the_next_start(data_dir: Path) -> None:
    first = Runner(data_dir)
    first.start()
    assert first.proc is not None
    first.proc.kill()  # SIGKILL: no clean-up runs
    first.proc.wait(timeout=10)
    time.sleep(0.3)
    leftovers = _servers_under(data_dir)
    assert any(p.name() == "postgres" for p in leftovers), "the crash should have left postgres running"

    second = Runner(data_dir)
    second.start()  # finds and stops the leftovers, then starts afresh on the same data
    assert second.stop(signal.SIGTERM) == 0, second.log.read_text()[-3000:]
    assert _servers_under(data_dir) == []


def test_external_servers_replace_the_embedded_ones(data_dir: Path, database_url: str, broker: Broker) -> None:
    runner = Runner(data_dir, SAJJA_DATABASE_URL=database_url, SAJJA_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers)
    runner.start()
    try:
        assert _servers_under(data_dir) == []  # nothing embedded was started
        group = _post(
            f"{runner.url}/ledger/v1/groups",
            {"name": "กลุ่มภายนอก", "province_code": "10", "district_code": "1001", "founded_on": "2020-01-01"},
        )
        assert group.status_code == 201, group.text
    finally:
        assert runner.stop() == 0
