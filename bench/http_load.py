"""Figure 4: HTTP deposits through the whole platform vs a bare FastAPI endpoint doing one INSERT.

Both servers run in a subprocess (so the load generator's CPU does not share their event loop):
ours is `python -m deploy.local_runner` — exactly `make run`'s code path — pointed at the bench's
PostgreSQL and broker; the baseline is bench/raw_server.py. The load: 32 asyncio tasks in this process,
each with its own httpx.AsyncClient (one keep-alive connection), POSTing deposits with a fresh
Idempotency-Key each, for a fixed time after a warm-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
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
from bench.national.reads import department_token
from libs.auth.tokens import new_signing_key_pem
from libs.events.envelope import today_in_thailand
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
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


async def enrol_members(base_url: str, count: int, headers: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
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
            async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=headers) as client:
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


class RawHttpClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: the load generator's own CPU per request
    is a fraction of httpx's, so the servers, not the client, set the pace on a 2-core machine."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttpClient:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def post(self, path: str, body: dict[str, Any], key: str) -> int:
        assert self._reader is not None and self._writer is not None
        data = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
            f"{self._headers}idempotency-key: {key}\r\ncontent-length: {len(data)}\r\n\r\n"
        )
        self._writer.write(head.encode() + data)
        block = (await self._reader.readuntil(b"\r\n\r\n")).lower()
        status = int(block[9:12])
        at = block.find(b"content-length:")
        if at < 0:
            raise RuntimeError("response without content-length")
        length = int(block[at + 15 : block.index(b"\r\n", at)])
        await self._reader.readexactly(length)
        return status


async def load(
    label: str,
    base_url: str,
    path_for: Callable[[str], str],
    members: list[str],
    warmup: float,
    duration: float,
    groups: dict[str, list[int]],
    client_kind: str,
    headers: dict[str, str],
) -> Side:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures: Counter[str] = Counter()
    share = [members[i::CLIENTS] for i in range(CLIENTS)]
    # A collection day's deposits, dated today. (One dated in a month that has ended also takes the group's
    # month-close lock and reads the group: a transaction and three more round trips.)
    today = today_in_thailand().isoformat()  # each client deposits to its own members
    start = time.perf_counter()
    # Measured from the end of the warm-up: at least `warmup` seconds and every client answered once (a new
    # connection's first request pays for connections opened behind it), then for `duration` seconds.
    window = {"from": float("inf"), "end": float("inf")}
    answered_once: set[int] = set()
    warmed = asyncio.Event()

    def record(t0: float, status: int, client: int) -> None:
        t1 = time.perf_counter()
        answered_once.add(client)
        if len(answered_once) == len(share):
            warmed.set()
        if t0 >= window["from"] and t1 <= window["end"]:
            statuses[status] += 1
            if status == 201:
                latencies.append(t1 - t0)

    def body(k: int) -> dict[str, str]:
        return {"account": "special" if k % 2 else "sajja", "amount": "50.00", "deposited_on": today}

    async def httpx_client(client: int, mine: list[str]) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits, headers=headers) as c:
            k = 0
            while (t0 := time.perf_counter()) < window["end"]:
                path = path_for(mine[k % len(mine)])
                try:
                    r = await c.post(path, json=body(k), headers={"Idempotency-Key": str(uuid.uuid4())})
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] += 1
                    answered_once.add(client)
                    continue
                finally:
                    k += 1
                record(t0, r.status_code, client)

    async def raw_client(client: int, mine: list[str]) -> None:
        k = 0
        while time.perf_counter() < window["end"]:
            try:
                async with RawHttpClient(base_url, headers) as c:
                    while (t0 := time.perf_counter()) < window["end"]:
                        status = await c.post(path_for(mine[k % len(mine)]), body(k), str(uuid.uuid4()))
                        k += 1
                        record(t0, status, client)
            except (OSError, asyncio.IncompleteReadError, RuntimeError) as exc:
                failures[type(exc).__name__] += 1
                answered_once.add(client)

    client = httpx_client if client_kind == "httpx" else raw_client
    with progress() as bar:
        bar_task = bar.add_task(label, total=round(warmup + duration))

        async def tick() -> None:
            while True:
                bar.update(bar_task, completed=min(time.perf_counter() - start, warmup + duration))
                await asyncio.sleep(0.2)

        tasks = [asyncio.create_task(tick()), *(asyncio.create_task(client(i, m)) for i, m in enumerate(share))]
        try:
            await asyncio.sleep(warmup)
            with contextlib.suppress(TimeoutError):  # a client that never gets an answer shows as failures
                await asyncio.wait_for(warmed.wait(), WARM_UP_LIMIT_SECONDS)
            window["from"] = time.perf_counter()
            window["end"] = window["from"] + duration
            with CpuMeter(groups) as cpu:
                await asyncio.sleep(duration)
            await asyncio.gather(*tasks[1:])
        finally:  # also on Ctrl-C: no client left talking to a server being stopped
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
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


CLIENT_KINDS = ("httpx", "raw")
# The longest the warm-up waits, beyond its seconds, for every client's first answer.
WARM_UP_LIMIT_SECONDS = 60.0


async def run(
    admin_dsn: str, bootstrap: str, pids: dict[str, list[int]], workdir: Path,
    members: int, warmup: float, duration: float,
) -> list[Comparison]:  # fmt: skip
    members = max(members, CLIENTS)  # each client deposits to members of its own
    url = await fresh_database(admin_dsn, "bench_http", migrate=False)  # the runner migrates it itself
    port = free_port()
    # Signed in as the department with a token the runner's keys verify (as bench/national does); the load is
    # many clients' worth behind one token, so the per-caller rate limit is lifted.
    signing_keys = [new_signing_key_pem()]
    headers = {"authorization": f"Bearer {department_token(signing_keys)}"}
    env = {
        "SAJJA_AUTH_SIGNING_KEYS": json.dumps(signing_keys),
        "SAJJA_NATIONAL_ID_HASH_KEY": secrets.token_urlsafe(32),
        "SAJJA_RATE_LIMIT_PER_MINUTE": "100000000",
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
    ours: dict[str, Side] = {}
    baseline: dict[str, Side] = {}
    server = Server(["-m", "deploy.local_runner"], env, workdir / "platform.log", port)
    try:
        await server.wait_ready("/readyz")
        ids = await enrol_members(server.base_url, members, headers)
        groups = {"bench process (client)": [os.getpid()], "server process": [server.proc.pid], **pids}
        for kind in CLIENT_KINDS:
            ours[kind] = await load(
                f"POST /ledger/v1/members/{{id}}/deposits ({kind})",
                server.base_url,
                lambda m: f"/ledger/v1/members/{m}/deposits",
                ids,
                warmup,
                duration,
                groups,
                kind,
                headers,
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
        for kind in CLIENT_KINDS:
            baseline[kind] = await load(
                f"POST /raw/v1/members/{{id}}/deposits ({kind})",
                raw.base_url,
                lambda m: f"/raw/v1/members/{m}/deposits",
                ids,
                warmup,
                duration,
                groups,
                kind,
                {},
            )
    finally:
        raw.stop()
    common = (
        f"servers in a subprocess (uvicorn, plain asyncio loop, as `make run`); {CLIENTS} client tasks in the bench"
        f" process, one keep-alive connection each; {members} members enrolled over HTTP;"
        f" warm-up of {warmup:g} s and until every client was answered once,"
        f" {duration:g} s measured"
    )
    return [
        Comparison(
            key="http",
            title="HTTP deposits, httpx clients (req/s)",
            ours=ours["httpx"],
            baseline=baseline["httpx"],
            target="≥ 1,000 req/s",
            notes=[
                common,
                "ours: deploy.local_runner (every service, relays and projectors running);"
                " baseline: bench/raw_server.py, a bare FastAPI endpoint doing one INSERT",
                "httpx costs the client about a core at these rates: check 'client' CPU before reading the baseline",
            ],
        ),
        Comparison(
            key="http_raw_client",
            title="HTTP deposits, raw-socket clients (req/s)",
            ours=ours["raw"],
            baseline=baseline["raw"],
            target="≥ 1,000 req/s",
            notes=["same servers, same requests, sent by a minimal asyncio HTTP/1.1 client (bench/http_load.py)"],
        ),
    ]
