"""A minimal HTTP/1.1 keep-alive client on asyncio streams (as bench/http_load.py's, with headers, GET and
chunked bodies): on two shared cores, the load generator's own CPU per request must stay small."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any


class HttpError(RuntimeError):
    pass


class Client:
    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        host, port = base_url.removeprefix("http://").rstrip("/").split(":")
        self.host, self.port = host, int(port)
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Client:
        await self._connect()
        return self

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=2**24)

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            await self._connect()
        assert self._reader is not None and self._writer is not None
        data = json.dumps(body).encode() if body is not None else b""
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{self.headers}{extra}"
        if body is not None:
            head += f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + data)
        block = (await self._reader.readuntil(b"\r\n\r\n")).lower()
        status = int(block[9:12])
        at = block.find(b"content-length:")
        if at >= 0:
            length = int(block[at + 15 : block.index(b"\r\n", at)])
            content = await self._reader.readexactly(length)
        elif b"transfer-encoding: chunked" in block:
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self._reader.readuntil(b"\r\n")
                    break
                parts.append(await self._reader.readexactly(size))
                await self._reader.readexactly(2)
            content = b"".join(parts)
        else:
            raise HttpError(f"{method} {path}: a response without a length")
        if b"connection: close" in block:
            await self.close()
        return status, content

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self.request("GET", path)

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        return await self.request("POST", path, body, headers)
