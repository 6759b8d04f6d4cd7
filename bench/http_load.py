"""Figure 4: HTTP deposits through the whole platform vs a bare FastAPI endpoint doing one INSERT.

Both servers run in a subprocess (so the load generator's CPU does not share their event loop):
ours is `python -m deploy.local_runner` — exactly `make run`'s code path — pointed at the bench's
PostgreSQL and broker; the baseline is bench/raw_server.py. The load: 32 asyncio tasks in this process,
each with its own httpx.AsyncClient (one keep-alive connection), POSTing deposits with a fresh
Idempotency-Key each, for a fixed time after a warm-up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import CLIENTS, POOL_SIZE, Comparison, CpuMeter, Side, fresh_database, percentile, progress
from libs.infra.embedded import free_port
from services.ledger.domain import national_id_check_digit

ROOT = Path(__file__).resolve().parent.parent


def national_id(seed: int) -> str:
    first = f"1{seed:011d}"[:12]
    return first + str(national_id_check_digit(first))


class Server:
    """A server subprocess; stopped with SIGTERM (graceful), then SIGKILL."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.port = port
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, path: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited ({self.proc.returncode}); log:\n{self.log.read_text()[-3000:]}")
                try:
                    if (await client.get(path)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server not ready within {timeout:g} s; log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


async def enrol_members(base_url: str, count: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/ledger/v1/groups",
            json={"name": "กลุ่มออมทรัพย์ bench", "province_code": "27", "district_code": "2701",
                  "founded_on": "1998-05-01"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )  # fmt: skip
        response.raise_for_status()
        group_id = response.json()["group_id"]
    members: list[str] = []
    seeds = iter(range(count))
    with progress() as bar:
        task = bar.add_task(f"enrol {count} members over HTTP", total=count)

        async def worker() -> None:
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
                for seed in seeds:
                    r = await client.post(
                        f"/ledger/v1/groups/{group_id}/members",
                        json={"national_id": national_id(10_000 + seed), "full_name": "สมศรี ใจดี",
                              "joined_on": "2023-12-01", "monthly_commitment": "100.00"},
                        headers={"Idempotency-Key": str(uuid.uuid4())},
                    )  # fmt: skip
                    if r.status_code != 201:
                        raise RuntimeError(f"enrolment failed: {r.status_code} {r.text}")
                    members.append(r.json()["member_id"])
                    bar.advance(task)

        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return members


async def load(
    label: str,
    base_url: str,
    path_for: Callable[[str], str],
    members: list[str],
    warmup: float,
    duration: float,
    groups: dict[str, list[int]],
) -> Side:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    share = [members[i::CLIENTS] for i in range(CLIENTS)]  # each client deposits to its own members
    start = time.perf_counter()
    measure_from = start + warmup
    end = measure_from + duration

    async def client(mine: list[str]) -> None:
        async with httpx.AsyncClient(
            base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
        ) as c:
            k = 0
            while (t0 := time.perf_counter()) < end:
                member = mine[k % len(mine)]
                body = {"account": "special" if k % 2 else "sajja", "amount": "50.00", "deposited_on": "2024-01-05"}
                k += 1
                try:
                    r = await c.post(path_for(member), json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] += 1
                    continue
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= end:
                    statuses[r.status_code] += 1
                    if r.status_code == 201:
                        latencies.append(t1 - t0)

    with progress() as bar:
        task = bar.add_task(label, total=round(warmup + duration))

        async def tick() -> None:
            while True:
                bar.update(task, completed=min(time.perf_counter() - start, warmup + duration))
                await asyncio.sleep(0.2)

        ticker = asyncio.create_task(tick())
        runs = asyncio.gather(*(client(m) for m in share))
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        with CpuMeter(groups) as cpu:
            await asyncio.sleep(max(0.0, end - time.perf_counter()))
        await runs
        ticker.cancel()
    errors = sum(n for s, n in statuses.items() if s != 201) + sum(failures.values())
    return Side(
        label=label,
        count=len(latencies),
        seconds=round(duration, 3),
        rate=round(len(latencies) / duration, 1),
        p50_ms=round(percentile(latencies, 50) * 1000, 2),
        p99_ms=round(percentile(latencies, 99) * 1000, 2),
        errors=errors,
        cpu_cores=cpu.cores,
        extra={"statuses": {str(s): n for s, n in sorted(statuses.items())}, "failures": dict(failures)},
    )


async def run(
    admin_dsn: str, bootstrap: str, pids: dict[str, list[int]], workdir: Path,
    members: int, warmup: float, duration: float,
) -> Comparison:  # fmt: skip
    url = await fresh_database(admin_dsn, "bench_http", migrate=False)  # the runner migrates it itself
    port = free_port()
    env = {
        "SAJJA_DATABASE_URL": url,
        "SAJJA_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SAJJA_HOST": "127.0.0.1",
        "SAJJA_PORT": str(port),
        "SAJJA_DATA_DIR": str(workdir / "runner"),
        "SAJJA_TOPIC_PREFIX": "benchhttp",
        "SAJJA_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "SAJJA_KAFKA_HEARTBEAT_INTERVAL_MS": "100",
        "SAJJA_DATABASE_POOL_SIZE": str(POOL_SIZE),
    }
    server = Server(["-m", "deploy.local_runner"], env, workdir / "platform.log", port)
    try:
        await server.wait_ready("/readyz")
        ids = await enrol_members(server.base_url, members)
        groups = {"bench process (client)": [os.getpid()], "server process": [server.proc.pid], **pids}
        ours = await load(
            "POST /ledger/v1/members/{id}/deposits",
            server.base_url,
            lambda m: f"/ledger/v1/members/{m}/deposits",
            ids,
            warmup,
            duration,
            groups,
        )
    finally:
        server.stop()

    raw_url = await fresh_database(admin_dsn, "bench_http_raw", migrate=False)
    port = free_port()
    raw = Server(
        ["-m", "bench.raw_server"],
        {"BENCH_DATABASE_URL": raw_url, "BENCH_PORT": str(port), "BENCH_POOL_SIZE": str(POOL_SIZE)},
        workdir / "raw_server.log",
        port,
    )
    try:
        await raw.wait_ready("/healthz")
        groups = {"bench process (client)": [os.getpid()], "server process": [raw.proc.pid], **pids}
        baseline = await load(
            "POST /raw/v1/members/{id}/deposits (1 INSERT)",
            raw.base_url,
            lambda m: f"/raw/v1/members/{m}/deposits",
            ids,
            warmup,
            duration,
            groups,
        )
    finally:
        raw.stop()
    notes: list[Any] = [
        f"servers in a subprocess (uvicorn, asyncio loop, as `make run`); client: {CLIENTS} httpx.AsyncClient"
        f" in the bench process; {members} members; {warmup:g} s warm-up, {duration:g} s measured",
        "ours: deploy.local_runner (all services, relays and projectors running); baseline: bench/raw_server.py",
    ]
    return Comparison(
        key="http",
        title="HTTP deposits (req/s)",
        ours=ours,
        baseline=baseline,
        target="≥ 1,000 req/s",
        notes=notes,
    )
