"""The local runner's one public port in front of its worker processes: a small HTTP/1.1 reverse proxy that
routes by the first path segment (`/ledger/…` to the worker serving ledger, and so on, with no rewriting),
plus the runner's own `/`, `/services`, `/healthz` and `/readyz`.

Workers listen on Unix sockets in the data directory (owner-only): nobody else on the machine can reach them
and forge the client address the proxy passes on. The proxy passes every request header but the hop-by-hop
ones, sets `X-Forwarded-For` to the client's address (replacing whatever the client sent; the workers believe
it from their socket alone) and `X-Forwarded-Proto`, reads request bodies whole up to SAJJA_MAX_BODY_BYTES
(413 beyond, as a service would answer), and streams answers back as they come — server-sent events
(`/reporting/v1/live`) included, closed when the client goes away. Connections to the workers are kept
alive and reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Receive, Scope, Send

from libs.auth.hardening import body_limit
from libs.events.security_headers import SecurityHeaders

log = logging.getLogger("sajja.proxy")

# Hop-by-hop headers (RFC 9110 §7.6.1) and what the proxy sets itself; never passed on.
_REQUEST_DROPPED = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
    }
)
_RESPONSE_DROPPED = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"trailer"})
# A kept connection unused for longer may have been closed by the worker (uvicorn closes idle ones after 5 s).
IDLE_SECONDS = 4.0
MAX_IDLE = 64
CHUNK = 64 * 1024


class UpstreamGone(Exception):
    """The worker closed the connection before answering."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used_at: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Upstream:
    """One worker, at a Unix socket: a pool of kept-alive HTTP/1.1 connections."""

    def __init__(self, name: str, socket_path: str) -> None:
        self.name = name
        self.socket_path = socket_path
        self.available = False  # set by the runner while the worker process is up and answering
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_unix_connection(self.socket_path, limit=CHUNK * 4)
        return _Connection(reader, writer)

    def _take(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.used_at < IDLE_SECONDS and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    def give_back(self, conn: _Connection) -> None:
        if len(self._idle) < MAX_IDLE:
            conn.used_at = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    def close_all(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def exchange(self, head: bytes, body: bytes) -> tuple[_Connection, int, list[tuple[bytes, bytes]]]:
        """Send one request; the connection (to read the body from), the status and the headers. A kept
        connection the worker closed meanwhile is retried once on a new one: nothing was read, so nothing ran."""
        conn = self._take()
        if conn is not None:
            try:
                return conn, *await self._send(conn, head, body)
            except (UpstreamGone, ConnectionError):
                conn.close()
        conn = await self._connect()
        try:
            return conn, *await self._send(conn, head, body)
        except BaseException:
            conn.close()
            raise

    async def _send(self, conn: _Connection, head: bytes, body: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        conn.writer.write(head + body if len(body) < CHUNK else head)
        if len(body) >= CHUNK:
            conn.writer.write(body)
        await conn.writer.drain()
        while True:
            try:
                raw = await conn.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise UpstreamGone(self.name) from None
                raise
            lines = raw[:-4].split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            headers = []
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers.append((name.strip().lower(), value.strip()))
            if status >= 200 or status == 101:
                return status, headers
            # 1xx interim answers (100 Continue): skip to the real one.


async def _body(conn: _Connection, status: int, headers: list[tuple[bytes, bytes]], head_only: bool) -> Any:
    """The answer's body as it arrives (an async iterator of bytes), and whether the connection may be kept."""
    if head_only or status in (204, 304) or 100 <= status < 200:
        return _Finished(b"", True)
    values = dict(headers)
    keep = values.get(b"connection", b"").lower() != b"close"
    if b"chunked" in values.get(b"transfer-encoding", b"").lower():
        return _Chunked(conn, keep)
    if (length := values.get(b"content-length")) is not None:
        return _Sized(conn, int(length), keep)
    return _UntilClosed(conn)


class _Finished:
    def __init__(self, data: bytes, keep: bool) -> None:
        self.data, self.keep, self.streaming = data, keep, False

    async def chunks(self) -> Any:
        if self.data:
            yield self.data


class _Sized:
    def __init__(self, conn: _Connection, length: int, keep: bool) -> None:
        self.conn, self.length, self.keep, self.streaming = conn, length, keep, False

    async def chunks(self) -> Any:
        left = self.length
        while left > 0:
            data = await self.conn.reader.read(min(left, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            yield data


class _Chunked:
    def __init__(self, conn: _Connection, keep: bool) -> None:
        self.conn, self.keep, self.streaming = conn, keep, True

    async def chunks(self) -> Any:
        reader = self.conn.reader
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers (none expected) end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            yield data


class _UntilClosed:
    def __init__(self, conn: _Connection) -> None:
        self.conn, self.keep, self.streaming = conn, False, True

    async def chunks(self) -> Any:
        while data := await self.conn.reader.read(CHUNK):
            yield data


def _problem(
    status: int, title: str, detail: str, kind: str, **headers: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps(
        {"type": f"urn:sajja:problem:{kind}", "title": title, "status": status, "detail": detail}
    ).encode()
    head = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    head += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return status, head, body


async def _answer(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


RootApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Proxy:
    """ASGI app: `/<service>/…` to the worker serving the service; anything else to the runner's root app."""

    def __init__(
        self,
        upstreams: Mapping[str, Sequence[Upstream]],
        root: RootApp,
        max_body_bytes: int,
        home: str | None = None,
        max_upload_bytes: int | None = None,
    ) -> None:
        # Service → the workers serving it (several: replicas, taken in turn).
        self.upstreams = {name: list(found) for name, found in upstreams.items() if found}
        self._turn = dict.fromkeys(self.upstreams, 0)
        self.root = root
        # `/`: the operations dashboard, which the workers serving reporting answer.
        self.home = home
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes if max_upload_bytes is not None else max_body_bytes
        self._app = SecurityHeaders(self._route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
                return
            await self.root(scope, receive, send)
            return
        path: str = scope["path"]
        segment = path.split("/", 2)[1] if path.startswith("/") else ""
        service = segment if segment else self.home
        if service not in self.upstreams:
            await self.root(scope, receive, send)
            return
        await self.forward(self.choose(service), scope, receive, send)

    def choose(self, service: str) -> Upstream:
        """The next worker serving the service that is up (or the first, which then says it is starting)."""
        found = self.upstreams[service]
        if len(found) == 1:
            return found[0]
        turn = self._turn[service]
        for i in range(len(found)):
            upstream = found[(turn + i) % len(found)]
            if upstream.available:
                self._turn[service] = (turn + i + 1) % len(found)
                return upstream
        return found[0]

    async def forward(self, upstream: Upstream, scope: Scope, receive: Receive, send: Send) -> None:
        limit = body_limit(scope, self.max_body_bytes, self.max_upload_bytes)
        body = await self._request_body(receive, limit)
        if body is None:
            await _answer(
                send, *_problem(413, "Request too large", f"request bodies are limited to {limit} bytes", "too-large")
            )
            return
        if not upstream.available:
            await _answer(
                send,
                *_problem(
                    503,
                    "Service starting",
                    f"{upstream.name} is (re)starting; try again in a moment",
                    "unavailable",
                    retry_after="1",
                ),
            )
            return
        method: str = scope["method"]
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        lines = [method.encode() + b" " + target + b" HTTP/1.1"]
        lines += [name + b": " + value for name, value in scope["headers"] if name not in _REQUEST_DROPPED]
        client = scope.get("client")
        if client:
            lines.append(b"x-forwarded-for: " + str(client[0]).encode())
        lines.append(b"x-forwarded-proto: " + scope.get("scheme", "http").encode())
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            lines.append(b"content-length: " + str(len(body)).encode())
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        try:
            conn, status, headers = await upstream.exchange(head, body)
        except (OSError, UpstreamGone, asyncio.IncompleteReadError) as exc:
            log.warning("%s did not answer %s %s: %r", upstream.name, method, scope["path"], exc)
            await _answer(
                send,
                *_problem(
                    502, "Service unavailable", f"{upstream.name} did not answer", "bad-gateway", retry_after="1"
                ),
            )
            return
        reply = await _body(conn, status, headers, method == "HEAD")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(n, v) for n, v in headers if n not in _RESPONSE_DROPPED],
            }
        )
        if reply.streaming:
            complete = await self._stream_until_disconnect(reply, receive, send)
        else:
            complete = await self._relay(reply, send)
        if complete and reply.keep:
            upstream.give_back(conn)
        else:
            conn.close()

    async def _request_body(self, receive: Receive, limit: int) -> bytes | None:
        """The whole request body, or None past the limit."""
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(parts)  # the client left; its request goes no further than an empty body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)

    async def _relay(self, reply: Any, send: Send) -> bool:
        try:
            async for data in reply.chunks():
                await send({"type": "http.response.body", "body": data, "more_body": True})
        except (OSError, asyncio.IncompleteReadError):
            return False
        await send({"type": "http.response.body", "body": b""})
        return True

    async def _stream_until_disconnect(self, reply: Any, receive: Receive, send: Send) -> bool:
        """A streamed answer (server-sent events) runs until it ends or the client goes away."""
        relaying = asyncio.ensure_future(self._relay(reply, send))

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        watching = asyncio.ensure_future(disconnected())
        try:
            done, _ = await asyncio.wait({relaying, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relaying, watching):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relaying
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watching
        return relaying in done and not relaying.cancelled() and relaying.exception() is None and relaying.result()


async def fetch(upstream: Upstream, path: str, headers: list[tuple[bytes, bytes]], timeout: float) -> tuple[int, bytes]:
    """A GET of the runner's own (readiness): the status and the body, read whole."""
    lines = [f"GET {path} HTTP/1.1".encode(), b"host: sajja.internal"]
    lines += [name + b": " + value for name, value in headers]
    head = b"\r\n".join(lines) + b"\r\n\r\n"

    async def go() -> tuple[int, bytes]:
        conn, status, answer = await upstream.exchange(head, b"")
        reply = await _body(conn, status, answer, False)
        data = b"".join([chunk async for chunk in reply.chunks()])
        if reply.keep:
            upstream.give_back(conn)
        else:
            conn.close()
        return status, data

    return await asyncio.wait_for(go(), timeout)
