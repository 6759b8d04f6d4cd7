"""The whole platform on a real port, for clients that speak real HTTP (a browser, schemathesis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from deploy.http_server import http_server
from libs.infra.embedded import free_port


@pytest.fixture
async def served(running: Any) -> AsyncIterator[str]:
    """The gateway on a real port, as the local runner serves it."""
    settings = running.platform.settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    server = http_server(running.gateway, settings)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
        if task.done():
            task.result()
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task
