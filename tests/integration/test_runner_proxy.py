"""The local runner's port in front of its workers (deploy/proxy.py), against a stand-in worker on a Unix
socket: the client's address replaces whatever X-Forwarded-For it sent, bodies over the limit stop at the
proxy, streamed answers arrive as they are sent, kept connections are reused (and a closed one retried),
replicas take turns, and a worker that is down is a 503."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from deploy.http_server import http_server
from deploy.proxy import Proxy, Upstream
from libs.events.settings import Settings
from libs.infra.embedded import free_port

LIMIT = 2048


def stand_in(name: str, seen: list[dict[str, Any]]) -> Any:
    """A worker: echoes what reached it; /stream sends three parts a moment apart."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(
            {
                "worker": name,
                "path": scope["path"],
                "query": scope["query_string"].decode(),
                "client": scope["client"][0] if scope["client"] else None,
                "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                "body": len(body),
            }
        )
        if scope["path"].endswith("/stream"):
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            for i in range(3):
                await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
                await asyncio.sleep(0.3)
            await send({"type": "http.response.body", "body": b""})
            return
        answer = json.dumps(seen[-1]).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    return app


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[tuple[str, list[dict[str, Any]], dict[str, Upstream]]]:
    seen: list[dict[str, Any]] = []
    settings = Settings(forwarded_allow_ips="*")
    servers, upstreams = [], {}
    for name in ("one", "two", "down"):
        socket = str(tmp_path / f"{name}.sock")
        upstreams[name] = Upstream(name, socket)
        if name != "down":
            servers.append(http_server(stand_in(name, seen), settings, uds=socket))
            upstreams[name].available = True

    async def root(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"root"})

    proxy = Proxy(
        {
            "svc": [upstreams["one"], upstreams["two"]],
            "solo": [upstreams["one"]],
            "gone": [upstreams["down"]],
            "ledger": [upstreams["one"]],
        },
        root,
        LIMIT,
        max_upload_bytes=4 * LIMIT,
    )
    port = free_port()
    front = http_server(proxy, Settings(port=port), front=True)
    servers.append(front)
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}", seen, upstreams
    for s in servers:
        s.should_exit = True
    await asyncio.gather(*tasks)


async def test_the_proxy_passes_requests_and_answers_through(
    platform: tuple[str, list[dict[str, Any]], dict[str, Upstream]],
) -> None:
    url, seen, upstreams = platform
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        # The client's own address, whatever it claims; its headers and query pass; cookies come back.
        answer = await client.get(
            "/solo/v1/x", params={"a": "b c"}, headers={"X-Forwarded-For": "6.6.6.6", "X-Test": "yes"}
        )
        assert answer.status_code == 200
        got = answer.json()
        assert got["client"] == "127.0.0.1" and got["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert got["path"] == "/solo/v1/x" and got["query"] == "a=b+c" and got["headers"]["x-test"] == "yes"
        assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]
        assert answer.headers["x-content-type-options"] == "nosniff"  # the runner's own headers too

        # Bodies up to the limit pass; beyond it, the proxy answers 413 and the worker never sees it.
        fits = await client.post("/solo/v1/y", content=b"x" * LIMIT)
        assert fits.status_code == 200 and fits.json()["body"] == LIMIT
        before = len(seen)
        too_big = await client.post("/solo/v1/y", content=b"x" * (LIMIT + 1))
        assert too_big.status_code == 413 and too_big.json()["status"] == 413
        assert len(seen) == before
        # A file upload (an onboarding import) has its own, larger limit; other routes of its service do not.
        upload = await client.post("/ledger/v1/imports", content=b"x" * (2 * LIMIT))
        assert upload.status_code == 200 and upload.json()["body"] == 2 * LIMIT
        assert (await client.post("/ledger/v1/groups", content=b"x" * (2 * LIMIT))).status_code == 413
        assert (await client.post("/ledger/v1/imports", content=b"x" * (4 * LIMIT + 1))).status_code == 413

        # Streamed answers arrive part by part, not at the end.
        arrived = []
        async with client.stream("GET", "/solo/v1/stream") as stream:
            async for part in stream.aiter_text():
                arrived.append((asyncio.get_running_loop().time(), part))
        assert "".join(p for _, p in arrived) == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
        assert arrived[-1][0] - arrived[0][0] > 0.4

        # Replicas take turns; a worker that is down is a 503 with Retry-After; anything else is the root's.
        workers = [(await client.get("/svc/v1/z")).json()["worker"] for _ in range(4)]
        assert workers == ["one", "two", "one", "two"]
        upstreams["two"].available = False
        assert {(await client.get("/svc/v1/z")).json()["worker"] for _ in range(3)} == {"one"}
        down = await client.get("/gone/v1/z")
        assert down.status_code == 503 and down.headers["retry-after"] == "1"
        assert (await client.get("/elsewhere")).text == "root"

        # Kept connections are reused; one the worker closed meanwhile is retried on a new one.
        for conn in upstreams["one"]._idle:
            conn.writer.close()
        assert (await client.get("/solo/v1/again")).status_code == 200
