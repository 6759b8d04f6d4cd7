"""One ASGI app that routes by the first path segment to each service's app, with no rewriting
(what a gateway does in a real deployment), plus the runner's own /healthz and /readyz."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from libs.events.runtime import ServiceRuntime, may_read_operations
from libs.events.security_headers import SecurityHeaders
from libs.events.telemetry import TracingMiddleware

# No inline style: the Content-Security-Policy every answer carries allows none.
INDEX = """<!doctype html><html lang="th"><meta charset="utf-8"><title>Sajja สัจจะ</title>
<body>
<h1>Sajja · สัจจะ</h1><p>แพลตฟอร์มกลุ่มออมทรัพย์เพื่อการผลิต — event-sourced savings-group platform.</p>
<ul>{links}</ul><p><a href="/reporting/">แดชบอร์ด · dashboard</a> · <a href="/readyz">/readyz</a></p></body></html>"""


class Gateway:
    def __init__(self, runtimes: list[ServiceRuntime]) -> None:
        self.runtimes = runtimes
        self.routes: dict[str, ASGIApp] = {r.name: TracingMiddleware(r.app) for r in runtimes}
        self.root = self._root_app()
        # Every answer of every service, and the gateway's own (404s included), carries them.
        self._dispatch = SecurityHeaders(self._route)

    def _root_app(self) -> FastAPI:
        root = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @root.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @root.get("/readyz")
        async def readyz(request: Request) -> JSONResponse:
            reports = await asyncio.gather(*(r.readiness() for r in self.runtimes))
            ready = all(r["ready"] for r in reports)
            body: dict[str, Any] = {"ready": ready}
            if self.runtimes and await may_read_operations(self.runtimes[0].platform, request):
                body["services"] = {r["service"]: r for r in reports}
            else:
                body["services"] = {r["service"]: {"ready": r["ready"]} for r in reports}
            return JSONResponse(body, status_code=200 if ready else 503)

        @root.get("/", response_model=None)
        async def index() -> Response:
            """The operations dashboard when reporting runs here; else the list of services."""
            if "reporting" in self.routes:
                from services.reporting.dashboard import index_file

                return index_file()
            return await services_index()

        @root.get("/services", response_class=HTMLResponse)
        async def services_index() -> HTMLResponse:
            links = "".join(
                f'<li>{r.name}: <a href="/{r.name}/docs">/{r.name}/docs</a> · '
                f'<a href="/{r.name}/openapi.json">openapi.json</a></li>'
                for r in self.runtimes
            )
            return HTMLResponse(INDEX.format(links=links))

        return root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._dispatch(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            segment = scope["path"].split("/", 2)[1] if scope["path"].count("/") >= 1 else ""
            app = self.routes.get(segment, self.root)
            await app(scope, receive, send)
            return
        await self.root(scope, receive, send)
