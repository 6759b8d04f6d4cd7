"""HTTP machinery every service shares: RFC 9457 problem+json errors and idempotent commands."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.events.envelope import Actor
from libs.events.errors import ConcurrencyConflict, IdempotencyKeyReused, NotFound, RuleBroken
from libs.events.store import ResponseRecord

log = logging.getLogger("sajja.http")

PROBLEM = "application/problem+json"
CONFLICT_RETRIES = 10


class Problem(Exception):
    """An error answered as problem+json. `type_` is a short slug under urn:sajja:problem:."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type_ = type_
        self.headers = headers
        self.extra = extra


def problem_response(
    status: int, title: str, detail: str, type_: str = "about:blank", instance: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_ if type_ == "about:blank" else f"urn:sajja:problem:{type_}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


# How long a client should wait before retrying while the database cannot be reached.
RETRY_AFTER_SECONDS = 5

# A connection that failed, not a query: the server is down, restarting, refusing connections or out of
# them. (Not every asyncpg error: a constraint, a bad argument or a bug in a query is no outage.)
_UNAVAILABLE_POSTGRES = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, e.g. ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: stopped under the connection
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.TooManyConnectionsError,  # 53300
)
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENOTCONN,
    }
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database (or the network to it) is unavailable for now, so that the request
    may succeed if retried: answered 503 with Retry-After, not 500."""
    if isinstance(exc, _UNAVAILABLE_POSTGRES):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        # Only the closed connection or pool; the rest of InterfaceError is misuse (a bug), e.g. DataError.
        message = str(exc)
        return "is closed" in message or "is closing" in message
    if isinstance(exc, asyncpg.InternalClientError):
        # A connection the server dropped in the middle of a query can leave asyncpg's protocol mid-state; the
        # pool's reset on release then fails so (the pool terminates that connection). Seen with the database
        # killed under load (the fault campaign); any other internal client error is a bug.
        return str(exc).startswith("cannot switch to state")
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)):
        return True  # refused, reset, aborted, broken pipe; a pool acquire or connect that timed out
    if isinstance(exc, OSError):
        # asyncio's connect to several addresses (localhost: ::1 and 127.0.0.1) raises a bare OSError.
        return exc.errno in _NETWORK_ERRNOS or (exc.errno is None and str(exc).startswith("Multiple exceptions"))
    return False


def unavailable_response(instance: str | None = None) -> JSONResponse:
    response = problem_response(
        503,
        "Service unavailable",
        "The database cannot be reached just now; retry the request shortly (a POST with the same "
        "Idempotency-Key is safe to retry).",
        "unavailable",
        instance,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        message = str(err.get("msg", "invalid"))
        ctx_error = (err.get("ctx") or {}).get("error")
        if ctx_error is not None:
            message = str(ctx_error)
        if err.get("type") == "extra_forbidden":
            message = "unknown field"
        errors.append({"field": ".".join(loc) or "body", "message": message})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        return problem_response(
            422,
            "Invalid request",
            "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            "validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        answer = problem_response(exc.status, exc.title, exc.detail, exc.type_, request.url.path, **exc.extra)
        answer.headers.update(exc.headers or {})
        return answer

    @app.exception_handler(RuleBroken)
    async def _rule_broken(request: Request, exc: RuleBroken) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
        title = {403: "Forbidden", 404: "Not found", 409: "Conflict"}.get(exc.status, exc.title)
        detail = f"{exc.field}: {exc.message}" if exc.field else exc.message
        return problem_response(exc.status, title, detail, exc.problem_type, request.url.path, errors=errors)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, "Not found", str(exc), "not-found", request.url.path)

    @app.exception_handler(ConcurrencyConflict)
    async def _conflict(request: Request, exc: ConcurrencyConflict) -> JSONResponse:
        return problem_response(
            409,
            "Concurrent change",
            "The record changed while this request ran; retry it.",
            "concurrency",
            request.url.path,
        )

    @app.exception_handler(IdempotencyKeyReused)
    async def _key_reused(request: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return problem_response(422, "Idempotency-Key reused", str(exc), "idempotency-key-reused", request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Request too large"}
        return problem_response(
            exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), instance=request.url.path
        )

    @app.exception_handler(asyncpg.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.UntranslatableCharacterError)
    async def _unstorable_text(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL stores no NUL character in text or JSON: the input is refused, not the server broken.
        return problem_response(
            422, "Invalid request", "text must not contain NUL (U+0000) characters", "validation", request.url.path
        )

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(asyncpg.AdminShutdownError)
    @app.exception_handler(asyncpg.CrashShutdownError)
    @app.exception_handler(asyncpg.TooManyConnectionsError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.InternalClientError)
    @app.exception_handler(OSError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        if not is_unavailable(exc):  # e.g. a file error, or asyncpg misused: a bug, not an outage
            return _internal(request, exc)
        log.warning("database unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return unavailable_response(request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Raised outside the routes (in a middleware): the same answers as inside them.
        if is_unavailable(exc):
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
            return unavailable_response(request.url.path)
        return _internal(request, exc)


def _internal(request: Request, exc: Exception) -> JSONResponse:
    # Never leak stack traces or internal names; the log has them, with the trace id.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "Internal error", "The request failed; it has been logged.", "internal")


def actor_of(request: Request) -> Actor:
    """Who is acting: the signed-in user or the partner system whose token the guard checked (recorded
    on the events, and what maker-checker compares)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return Actor(kind="user", id="anonymous")
    return Actor(kind=principal.kind, id=principal.subject)


async def idempotency_key(request: Request) -> str:
    # async: a plain def dependency would run in FastAPI's thread pool on every POST.
    """Every POST carries an Idempotency-Key: a retry must never post money twice. Keys belong to their
    caller (the guard has checked who that is before this runs): the same key from another caller is
    another request, so nobody can replay, or block, someone else's."""
    key = request.headers.get("idempotency-key")
    if not key or not (1 <= len(key) <= 200):
        raise Problem(
            400,
            "Idempotency-Key required",
            "Send an Idempotency-Key header (1–200 characters, e.g. a UUID) with every POST; "
            "retries with the same key and body return the first response.",
            "idempotency-key-required",
        )
    if key.startswith(SHARED_KEY_PREFIX):
        # A collection sheet's line (collection:<group>:<month>:<round>:<member or loan>:<what>): the same line sent
        # by two of the committee from their own phones is one deposit or repayment, not two. The guard has checked
        # that this caller may write to what the path names, and the fingerprint binds the key to that path and
        # body: another caller can replay only the same request, or have a different one refused.
        return f"shared:{key}"
    caller = actor_of(request)
    return f"{caller.kind}:{caller.id}:{key}"


SHARED_KEY_PREFIX = "collection:"


def sheet_line_key(group_id: uuid.UUID, month: date, round_no: int, subject: uuid.UUID, what: str) -> str:
    """The Idempotency-Key of one line of a group's collection sheet (a member's deposit into an account, a loan's
    repayment): the same line of the same month's sheet and round is the same command, whoever sends it, however
    often (see idempotency_key)."""
    return f"{SHARED_KEY_PREFIX}{group_id}:{month:%Y-%m}:r{round_no}:{subject}:{what}"


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class CommandResult:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False

    def response(self) -> JSONResponse:
        headers = {"Idempotent-Replayed": "true"} if self.replayed else {}
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


@dataclass
class CommandUnit:
    """What a command gets: a connection, and the duty to store its response under the request's
    Idempotency-Key atomically with its writes — either in the append statement itself
    (`store.append(..., record=unit.response(status, body))`, one round trip) or, for a command that
    writes more than its events, with `await unit.record(status, body)` inside its own transaction."""

    conn: asyncpg.Connection
    key: str
    fingerprint: str
    _save_sql: str
    recorded: bool = False

    def response(self, status: int, body: dict[str, Any]) -> ResponseRecord:
        self.recorded = True
        return ResponseRecord(self.key, self.fingerprint, status, body)

    async def record(self, status: int, body: dict[str, Any]) -> None:
        if not self.conn.is_in_transaction():
            raise RuntimeError("record() belongs inside the command's transaction")
        await self.conn.execute(self._save_sql, self.key, self.fingerprint, status, json.dumps(body))
        self.recorded = True


CommandFn = Callable[[CommandUnit], Awaitable[tuple[int, dict[str, Any]]]]


class IdempotentCommands:
    """Runs a command once per Idempotency-Key; a repeated key replays the stored response."""

    def __init__(self, pool: asyncpg.Pool, schema: str, after_commit: Callable[[], None] | None = None) -> None:
        self.pool = pool
        # Called after a command's transaction commits (e.g. to wake the relay).
        self.after_commit = after_commit
        s = f'"{schema}"'
        self._lookup = (
            f"select fingerprint, status_code, response::text as response from {s}.idempotency_keys where key = $1"
        )
        self._save = (
            f"insert into {s}.idempotency_keys (key, fingerprint, status_code, response) values ($1, $2, $3, $4::jsonb)"
        )

    async def execute(self, key: str, request_fingerprint: str, command: CommandFn) -> CommandResult:
        """The stored response for `key`, or the command's. A conflict with a concurrent writer is
        retried (the command re-reads and re-decides, so a retry is safe) a few times with jitter."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                return await self._once(key, request_fingerprint, command)
            except (ConcurrencyConflict, asyncpg.UniqueViolationError):
                if attempt == CONFLICT_RETRIES - 1:
                    raise ConcurrencyConflict("(request)", -1) from None
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            except Exception:
                # A concurrent twin of this request may have committed first, making this one fail
                # on its effects (e.g. "already enrolled"): the client must get the first response.
                prior = await self.pool.fetchrow(self._lookup, key)
                if prior is None:
                    raise
                return self._replay(prior, request_fingerprint)
        raise AssertionError("unreachable")

    async def _once(self, key: str, request_fingerprint: str, command: CommandFn) -> CommandResult:
        async with self.pool.acquire() as conn:
            prior = await conn.fetchrow(self._lookup, key)
            if prior is not None:
                return self._replay(prior, request_fingerprint)
            unit = CommandUnit(conn, key, request_fingerprint, self._save)
            status, body = await command(unit)
            if not unit.recorded:
                raise RuntimeError("the command did not store its response under its Idempotency-Key")
        if self.after_commit is not None:
            self.after_commit()
        return CommandResult(status, body)

    @staticmethod
    def _replay(prior: asyncpg.Record, request_fingerprint: str) -> CommandResult:
        if prior["fingerprint"] != request_fingerprint:
            raise IdempotencyKeyReused(
                "This Idempotency-Key was already used with a different request; use a new key for a new request."
            )
        return CommandResult(prior["status_code"], json.loads(prior["response"]), replayed=True)
