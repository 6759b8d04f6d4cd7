"""The local runner's worker processes: the services spread over several Python processes, so that HTTP,
relays and projectors use every core (one process never uses more than one).

Each worker is `python -m deploy.serve_one SERVICE… --uds SOCKET`: the same code a container of a real
deployment runs, given the runner's database, broker and keys in its environment, listening on a Unix socket
in an owner-only directory. The runner's port proxies to it (deploy/proxy.py), and the services reach each
other through that port (SAJJA_SERVICE_URLS), unless they share a worker.

A worker gets SIGKILL when the runner dies, however it dies (PR_SET_PDEATHSIG), runs in a session of its own
(a terminal's Ctrl-C goes to the runner alone, which stops the workers before the database), and is started
again when it exits on its own — unless it keeps doing so, which stops the runner, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploy.proxy import Upstream, fetch
from libs.events.settings import Settings
from libs.infra.embedded import UNIX_SOCKET_PATH_MAX, _pdeathsig_preexec

log = logging.getLogger("sajja.workers")

# The default: auth with the ledger, lending with the campaign, and reporting (five of the eleven projectors,
# the heaviest) twice. Measured on 2 cores (README, "Run it"): reporting alone in one process was the long
# pole of a catch-up; two share its partitions. More processes did no better.
DEFAULT_PLAN = "auth+ledger,lending+campaign,reporting,reporting"
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0
# A worker that exits this many times within the window is not started again: the runner stops.
CRASHES_ALLOWED = 3
CRASH_WINDOW_SECONDS = 60.0


class WorkerCrashLoop(RuntimeError):
    """A worker keeps exiting: the runner stops (it says which, and where its log went)."""


def plan_of(text: str, services: Sequence[str]) -> list[tuple[str, ...]]:
    """SAJJA_WORKERS as groups of services: "auth+ledger,lending,campaign,reporting" is four workers, the
    first serving auth and ledger. A service named in two groups runs in both, as replicas: the proxy
    shares its requests between them and its projectors share the topics' partitions (consumer groups)."""
    groups = [tuple(s.strip() for s in group.split("+") if s.strip()) for group in text.split(",") if group.strip()]
    named = [s for group in groups for s in group]
    unknown = sorted(set(named) - set(services))
    if unknown:
        raise ValueError(f"SAJJA_WORKERS names unknown services: {', '.join(unknown)}")
    if any(len(set(group)) < len(group) for group in groups):
        raise ValueError("SAJJA_WORKERS names a service twice in one worker")
    missing = [s for s in services if s not in named]
    if missing:
        groups.append(tuple(missing))  # whatever the plan leaves out shares one more worker
    return groups


def socket_dir(data_dir: Path) -> tuple[Path, bool]:
    """An owner-only directory for the workers' sockets: under the data directory, or a private temporary one
    when that path is too long for a socket address. (path, whether it is temporary)."""
    wanted = data_dir / "run"
    if len(str(wanted / "9-campaign+reporting.sock").encode()) <= UNIX_SOCKET_PATH_MAX - 20:
        wanted.mkdir(parents=True, exist_ok=True)
        wanted.chmod(0o700)
        return wanted, False
    return Path(tempfile.mkdtemp(prefix="sajja-run-")), True


@dataclass
class Worker:
    services: tuple[str, ...]
    socket: Path
    upstream: Upstream
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    exits: deque[float] = field(default_factory=deque)

    @property
    def name(self) -> str:
        return "+".join(self.services)


class Workers:
    """Start, watch and stop the worker processes."""

    def __init__(
        self,
        settings: Settings,
        database_url: str,
        bootstrap: str,
        public_url: str,
        plan: list[tuple[str, ...]],
    ) -> None:
        self.settings = settings
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.public_url = public_url
        self.sockets, self._temporary = socket_dir(settings.data_dir.resolve())
        self.workers = []
        for i, group in enumerate(plan):
            socket = self.sockets / f"{i}-{'+'.join(group)}.sock"
            self.workers.append(Worker(group, socket, Upstream("+".join(group), str(socket))))
        self.stopping = False
        self._waiting: set[asyncio.Task[None]] = set()

    def upstreams(self) -> dict[str, list[Upstream]]:
        """Service → the upstreams of the workers serving it."""
        found: dict[str, list[Upstream]] = {}
        for worker in self.workers:
            for service in worker.services:
                found.setdefault(service, []).append(worker.upstream)
        return found

    def environment(self) -> dict[str, str]:
        every = sorted({s for w in self.workers for s in w.services})
        env = dict(os.environ)
        env |= {
            "SAJJA_DATABASE_URL": self.database_url,
            "SAJJA_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SAJJA_AUTH_SIGNING_KEYS": json.dumps(self.settings.auth_signing_keys),
            "SAJJA_NATIONAL_ID_HASH_KEY": self.settings.national_id_hash_key,
            # Services in other workers, through the runner's port (which routes by the first path segment).
            "SAJJA_SERVICE_URLS": json.dumps(dict.fromkeys(every, self.public_url)),
            # Only the runner can reach the sockets (an owner-only directory): what it says of the client's
            # address is believed, and nothing else could say it.
            "SAJJA_FORWARDED_ALLOW_IPS": "*",
        }
        return env

    def start(self) -> None:
        env = self.environment()
        for worker in self.workers:
            self._spawn(worker, env)

    def _spawn(self, worker: Worker, env: dict[str, str]) -> None:
        worker.socket.unlink(missing_ok=True)
        worker.upstream.available = False
        worker.upstream.close_all()
        worker.proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.serve_one", *worker.services, "--uds", str(worker.socket)],
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig_preexec(),  # noqa: PLW1509 - prctl must run in the child, before exec
            start_new_session=True,  # Ctrl-C reaches the runner alone; it stops the workers in order
        )
        worker.started_at = time.monotonic()
        log.info("started worker %s (pid %d)", worker.name, worker.proc.pid)

    async def until_serving(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Until every worker answers on its socket (marking each available as it does)."""
        await asyncio.gather(*(self._until_serving(w, timeout) for w in self.workers))

    async def _until_serving(self, worker: Worker, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if worker.proc is None or worker.proc.poll() is not None:
                code = None if worker.proc is None else worker.proc.returncode
                raise WorkerCrashLoop(f"worker {worker.name} exited with code {code} while starting")
            if worker.socket.exists():
                with contextlib.suppress(Exception):
                    status, _ = await fetch(worker.upstream, "/healthz", [], 2.0)
                    if status == 200:
                        worker.upstream.available = True
                        return
            await asyncio.sleep(0.05)
        raise WorkerCrashLoop(f"worker {worker.name} did not answer within {timeout:.0f} s")

    async def watch(self) -> None:
        """Start a worker again when it exits on its own; raise WorkerCrashLoop when one keeps exiting."""
        env = self.environment()
        while True:
            await asyncio.sleep(0.25)
            for worker in self.workers:
                if self.stopping or worker.proc is None or worker.proc.poll() is None:
                    continue
                code = worker.proc.returncode
                worker.upstream.available = False
                now = time.monotonic()
                worker.exits.append(now)
                while worker.exits and now - worker.exits[0] > CRASH_WINDOW_SECONDS:
                    worker.exits.popleft()
                if len(worker.exits) >= CRASHES_ALLOWED:
                    raise WorkerCrashLoop(
                        f"worker {worker.name} exited {len(worker.exits)} times within {CRASH_WINDOW_SECONDS:.0f} s"
                        f" (last with code {code}); see its log above"
                    )
                log.error("worker %s exited with code %s; starting it again", worker.name, code)
                print(f"Worker {worker.name} exited with code {code}; starting it again.", file=sys.stderr, flush=True)
                self._spawn(worker, env)
                waiting = asyncio.create_task(self._until_serving(worker, READY_TIMEOUT_SECONDS))
                self._waiting.add(waiting)
                waiting.add_done_callback(self._restarted)

    def _restarted(self, task: asyncio.Task[None]) -> None:
        self._waiting.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s", exc)  # the process exited again: watch() counts it

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM every worker (each stops serving, then its relays and projectors), SIGKILL any still there
        after `timeout`."""
        self.stopping = True
        for task in list(self._waiting):
            task.cancel()
        running = [w for w in self.workers if w.proc is not None and w.proc.poll() is None]
        for worker in running:
            worker.upstream.available = False
            assert worker.proc is not None
            with contextlib.suppress(ProcessLookupError):
                worker.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(w.proc is not None and w.proc.poll() is None for w in running) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for worker in running:
            assert worker.proc is not None
            if worker.proc.poll() is None:
                log.error("worker %s did not stop within %.0f s; killing it", worker.name, timeout)
                worker.proc.kill()
                worker.proc.wait()
        for worker in self.workers:
            worker.upstream.close_all()
            worker.socket.unlink(missing_ok=True)
        if self._temporary:
            shutil.rmtree(self.sockets, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        return {w.name: w.proc.pid for w in self.workers if w.proc is not None and w.proc.poll() is None}

    async def readiness(self, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        """Every service's readiness, from the worker serving it (what the caller may see of it)."""

        async def one(worker: Worker) -> dict[str, Any]:
            if not worker.upstream.available:
                return {
                    s: {"service": s, "ready": False, "error": "its worker is not running"} for s in worker.services
                }
            try:
                _, body = await fetch(worker.upstream, "/readyz", headers, 10.0)
                services: dict[str, Any] = json.loads(body)["services"]
                return services
            except Exception as exc:
                return {s: {"service": s, "ready": False, "error": type(exc).__name__} for s in worker.services}

        found: dict[str, Any] = {}
        for part in await asyncio.gather(*(one(w) for w in self.workers)):
            for service, report in part.items():
                if service not in found:
                    found[service] = report
                    continue
                # A replica: the service is ready when every replica is; the first one's details stand.
                replicas = found[service].get("replicas", 1) + 1
                found[service] = found[service] | {"ready": found[service]["ready"] and report["ready"]}
                found[service]["replicas"] = replicas
        return found
