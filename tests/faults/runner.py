"""`sajja run` as a real process for the fault campaign, and the processes it leaves to be hurt: the runner
itself, the embedded PostgreSQL postmaster it starts (durable in the data directory) and the Tansu broker
(memory only). Everything here is found the way an operator would find it — pid files and process tables
under the data directory, the HTTP port — never through the database's password or a private API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil

from libs.infra.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def servers_under(data_dir: Path) -> list[psutil.Process]:
    """PostgreSQL and Tansu processes serving `data_dir` (by working directory or command line)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "cwd"]):
        try:
            if proc.info["name"] not in ("postgres", "tansu"):
                continue
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
            if str(data_dir) in text and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


async def _gone(proc: psutil.Process, timeout: float) -> None:
    """Wait until a killed process has exited. Its parent (the runner) reaps it only later, so a zombie
    counts as gone: it holds no port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"process {proc.pid} did not exit within {timeout:.0f} s")


class Runner:
    """One platform: `python -m sajja_cli.main run` on a data directory and a fixed port, restartable."""

    def __init__(self, data_dir: Path, log_path: Path, *, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        # A broker the nemesis started in place of the runner's own (restarted empty); ours to stop.
        self.replacement_broker: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signing_key(self) -> str:
        """The development token-signing key the first start made (the runner reads it from here too)."""
        return (self.data_dir / "dev-signing-key.pem").read_text()

    async def start(self, timeout: float = 90.0) -> float:
        """Start the runner and wait until /readyz answers 200; returns the seconds it took."""
        began = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAJJA_")}
        env |= {
            "SAJJA_DATA_DIR": str(self.data_dir),
            "SAJJA_PORT": str(self.port),
            # The campaign's own traffic must not meet the per-client limit (one token acts throughout).
            "SAJJA_RATE_LIMIT_PER_MINUTE": "1000000",
            # Quick group joins, as the tests' settings have them.
            "SAJJA_KAFKA_SESSION_TIMEOUT_MS": "2000",
            "SAJJA_KAFKA_HEARTBEAT_INTERVAL_MS": "100",
            "SAJJA_LOG_LEVEL": "WARNING",
        } | self.env
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n==== start {self.starts + 1} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - a moment's fork, not a wait
                [sys.executable, "-m", "sajja_cli.main", "run"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() - began < timeout:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the runner exited with {self.proc.returncode}: {self.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return time.monotonic() - began
                await asyncio.sleep(0.1)
        raise RuntimeError(f"the runner was not ready within {timeout:.0f} s: {self.tail()}")

    async def ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return True
                await asyncio.sleep(0.2)
        return False

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- faults ------------------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL the runner: its broker dies with it (parent-death signal), PostgreSQL is left running
        until the next start clears it, as after a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.stop_replacement_broker()

    def postmaster_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])
            if psutil.pid_exists(pid):
                return pid
        return None

    def kill_database(self) -> bool:
        """SIGKILL the PostgreSQL postmaster (its backends notice and exit; recovery replays the WAL)."""
        pid = self.postmaster_pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return True

    def database_alive(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        return False

    def broker(self) -> psutil.Process | None:
        """The live Tansu broker: the replacement if the nemesis started one, else the runner's own."""
        if self.replacement_broker is not None and self.replacement_broker.poll() is None:
            return psutil.Process(self.replacement_broker.pid)
        with contextlib.suppress(OSError, ValueError, IndexError, psutil.NoSuchProcess):
            pid = int((self.data_dir / "kafka" / "tansu.pid").read_text().split()[0])
            proc = psutil.Process(pid)
            if proc.name() == "tansu" and proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        return None

    def broker_address(self) -> str | None:
        proc = self.broker()
        if proc is None:
            return None
        args = proc.cmdline()
        url = args[args.index("--listener-url") + 1]
        return url.removeprefix("tcp://")

    async def restart_broker_empty(self, downtime: float) -> bool:
        """SIGKILL the broker and start an empty one (a new cluster id) on the same port, as a broker
        that lost its memory would come back. The services keep running and must notice."""
        proc = self.broker()
        if proc is None:
            return False
        args = proc.cmdline()
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGCONT)  # a paused broker dies all the same
            proc.kill()
        await _gone(proc, 10)
        await asyncio.sleep(downtime)
        args[args.index("--cluster-id") + 1] = f"faults-{uuid.uuid4().hex[:12]}"
        self.stop_replacement_broker()
        log = (self.data_dir / "kafka" / "tansu-replacement.log").open("ab")
        self.replacement_broker = subprocess.Popen(  # noqa: ASYNC220 - a moment's fork, not a wait
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        address = args[args.index("--listener-url") + 1].removeprefix("tcp://")
        host, port = address.rsplit(":", 1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(host, int(port))
                writer.close()
                return True
            await asyncio.sleep(0.02)
        return False

    def pause_broker(self) -> bool:
        proc = self.broker()
        if proc is None:
            return False
        proc.send_signal(signal.SIGSTOP)
        return True

    def resume_broker(self) -> None:
        proc = self.broker()
        if proc is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)

    def stop_replacement_broker(self) -> None:
        if self.replacement_broker is not None:
            if self.replacement_broker.poll() is None:
                self.replacement_broker.kill()
                self.replacement_broker.wait(timeout=10)
            self.replacement_broker = None

    # -- the end -----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ctrl-C (SIGINT), then SIGKILL if it hangs; no server is left behind under the data directory."""
        self.resume_broker()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.stop_replacement_broker()
        for proc in servers_under(self.data_dir):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
