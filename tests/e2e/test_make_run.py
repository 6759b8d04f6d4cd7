"""`make run`'s runner as a user starts it: embedded PostgreSQL and Tansu, every service on one port,
served by worker processes behind it. A group, a member and a deposit made over HTTP show in the balance; a
worker that dies is started again; Ctrl-C leaves no process behind, and neither does a crash, once the next
start has run (its workers die with it at once)."""

from __future__ import annotations

import json
import os
import signal
import stat
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


def _left_behind(data_dir: Path) -> list[psutil.Process]:
    return _servers_under(data_dir) + _workers_of(data_dir)


def _workers_of(data_dir: Path) -> list[psutil.Process]:
    """The runner's worker processes (python -m deploy.serve_one …), told apart by their data directory."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "deploy.serve_one" not in " ".join(proc.info["cmdline"] or []):
                continue
            if proc.environ().get("SAJJA_DATA_DIR") == str(data_dir) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


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
    for proc in _left_behind(path):  # never leave servers or workers behind, even when a test fails
        proc.kill()


def _credentials(runner: Runner) -> dict[str, str]:
    """The development users and clients the first start printed, by name."""
    found = {}
    for line in runner.log.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("user", "client"):
            found[parts[-2]] = parts[-1]
    return found


def _signed_in(runner: Runner) -> httpx.Client:
    """A session as the development department user: the cookie, and the CSRF token every POST echoes."""
    session = httpx.Client(base_url=runner.url, timeout=15)
    signed = session.post("/auth/v1/sessions", json={"username": "admin", "password": _credentials(runner)["admin"]})
    assert signed.status_code == 201, signed.text
    session.headers["X-CSRF-Token"] = signed.json()["csrf_token"]
    return session


def _post(session: httpx.Client, path: str, body: dict[str, object]) -> httpx.Response:
    return session.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def _readme_walkthrough() -> str:
    """The README's first walkthrough: the shell block after its `<!-- walkthrough` marker."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    after = text[text.index("<!-- walkthrough") :]
    start = after.index("```sh\n") + len("```sh\n")
    return after[start : after.index("```\n", start)]


def _run_the_readme_walkthrough(runner: Runner) -> list[str]:
    """The block as a user pastes it into bash, in a project directory whose .sajja/ is the runner's, with
    bash's strict mode added so that any command failing fails the test. Its output's lines."""
    project = runner.data_dir.parent / "project"
    project.mkdir(exist_ok=True)
    if not (project / ".sajja").exists():
        (project / ".sajja").symlink_to(runner.data_dir)
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + _readme_walkthrough()],
        cwd=project,
        env={"PATH": os.environ["PATH"], "HOME": str(project), "SAJJA_URL": runner.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout.splitlines()


def test_deposit_shows_in_balance_and_ctrl_c_stops_everything(data_dir: Path) -> None:
    runner = Runner(data_dir)
    runner.start()
    try:
        assert _servers_under(data_dir), "expected embedded postgres and tansu under the data dir"
        # Its own secrets, owner-only: the database password (no connection without it) and a random
        # national-ID hash key, so the public development key is not in use.
        for secret in ("postgres-password", "national-id-hash-key"):
            assert stat.S_IMODE((data_dir / secret).stat().st_mode) == 0o600, secret
        hba = (data_dir / "postgres" / "pg_hba.conf").read_text().splitlines()
        assert not [line for line in hba if line.split("#")[0].split()[-1:] == ["trust"]]
        assert "PUBLIC development key" not in runner.log.read_text()
        # Nothing is open without signing in; the first start printed development credentials once.
        anonymous = httpx.post(f"{runner.url}/ledger/v1/groups", json={}, headers={"Idempotency-Key": "x"})
        assert anonymous.status_code == 401
        assert anonymous.headers["x-content-type-options"] == "nosniff"
        assert set(_credentials(runner)) == {"admin", "auditor", "sakaeo", "mueang-sakaeo", "gsb", "pawnshop"}
        session = _signed_in(runner)
        no_csrf = httpx.post(
            f"{runner.url}/ledger/v1/groups", json={}, cookies=session.cookies, headers={"Idempotency-Key": "y"}
        )
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
        group = _post(
            session,
            "/ledger/v1/groups",
            {
                "name": "กลุ่มออมทรัพย์บ้านคลองหาด",
                "province_code": "27",
                "district_code": "2703",
                "founded_on": "2010-03-06",
            },
        )
        assert group.status_code == 201, group.text
        member = _post(
            session,
            f"/ledger/v1/groups/{group.json()['group_id']}/members",
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
            session,
            f"/ledger/v1/members/{member_id}/deposits",
            {"account": "special", "amount": "50.00", "deposited_on": "2024-01-05"},
        )
        assert deposit.status_code == 201, deposit.text
        position = deposit.json()["position"]["ledger"]
        balance = session.get(f"/reporting/v1/members/{member_id}/balances", params={"after": f"ledger:{position}"})
        assert balance.json() == {"member_id": member_id, "sajja": "0.00", "special": "50.00", "total": "50.00"}
        # The README's walkthrough runs as pasted, ids captured on the way, and shows its deposit.
        said, shown = _run_the_readme_walkthrough(runner)[-2:]
        readme_member = said.split("member ")[1].split(",")[0]
        assert json.loads(shown) == {"member_id": readme_member, "sajja": "0.00", "special": "50.00", "total": "50.00"}
        ready = httpx.get(f"{runner.url}/readyz", timeout=5).json()
        assert set(ready["services"]) == {"auth", "ledger", "lending", "campaign", "reporting"}
        for service in ("ledger", "lending", "campaign", "reporting"):
            assert httpx.get(f"{runner.url}/{service}/openapi.json", timeout=5).status_code == 200
        # One port, several processes: the services run in workers behind it.
        workers = _workers_of(data_dir)
        assert len(workers) >= 2 and all(w.ppid() == runner.proc.pid for w in workers), workers
        # A worker that dies is started again, and its service answers again through the same port.
        ledger = next(w for w in workers if "ledger" in w.cmdline())
        ledger.kill()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            again = [w for w in _workers_of(data_dir) if "ledger" in w.cmdline()]
            if again and again[0].pid != ledger.pid and httpx.get(f"{runner.url}/readyz", timeout=5).status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the ledger's worker was not started again: {runner.log.read_text()[-3000:]}")
        assert session.get(f"/ledger/v1/members/{member_id}").status_code == 200
    finally:
        code = runner.stop(signal.SIGINT)
    assert code == 0, runner.log.read_text()[-3000:]
    assert _left_behind(data_dir) == []


def test_sigterm_stops_and_a_crashed_run_is_cleaned_up_by_the_next_start(data_dir: Path) -> None:
    first = Runner(data_dir)
    first.start()
    assert first.proc is not None
    assert _workers_of(data_dir)
    first.proc.kill()  # SIGKILL: no clean-up runs
    first.proc.wait(timeout=10)
    time.sleep(0.3)
    leftovers = _servers_under(data_dir)
    assert any(p.name() == "postgres" for p in leftovers), "the crash should have left postgres running"
    # …but not its workers: they die with the runner, whatever kills it.
    deadline = time.monotonic() + 5
    while _workers_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workers_of(data_dir) == []

    assert "Development credentials" in first.log.read_text()
    second = Runner(data_dir)
    second.start()  # finds and stops the leftovers, then starts afresh on the same data
    assert "Development credentials" not in second.log.read_text()  # shown once, on the first start
    assert second.stop(signal.SIGTERM) == 0, second.log.read_text()[-3000:]
    assert _left_behind(data_dir) == []


def test_external_servers_replace_the_embedded_ones(data_dir: Path, database_url: str, broker: Broker) -> None:
    runner = Runner(data_dir, SAJJA_DATABASE_URL=database_url, SAJJA_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers)
    runner.start()
    try:
        assert _servers_under(data_dir) == []  # nothing embedded was started
        group = _post(
            _signed_in(runner),
            "/ledger/v1/groups",
            {"name": "กลุ่มภายนอก", "province_code": "10", "district_code": "1001", "founded_on": "2020-01-01"},
        )
        assert group.status_code == 201, group.text
    finally:
        assert runner.stop() == 0
