"""The uvicorn server every Sajja process serves with. The process owns SIGINT/SIGTERM, so it can stop
its services, broker and database after uvicorn has stopped."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from libs.events.settings import Settings


class OwnSignalsServer(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: ASGIApp, settings: Settings, *, uds: str | None = None, front: bool = False) -> OwnSignalsServer:
    """`uds`: listen on that Unix socket (a runner's worker) instead of SAJJA_HOST:SAJJA_PORT. `front`: the
    runner's proxy in front of its workers, which add their own Date and Server headers."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        uds=uds,
        log_level="warning",
        lifespan="off",
        access_log=False,
        # Client addresses (which sign-in throttling and public routes' limits count by) come from the
        # connection, unless it comes from a proxy named here, whose X-Forwarded-For is then believed.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        server_header=not front,
        date_header=not front,
        # Open streams (the dashboard's live updates) do not hold a stop up for long.
        timeout_graceful_shutdown=5 if front else None,
    )
    return OwnSignalsServer(config)
