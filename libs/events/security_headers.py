"""Browser security headers on every HTTP answer (pure ASGI, so streamed answers stay streamed).

Every answer — API JSON, problem+json errors (404s included), the dashboard and its assets — gets
``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` and a
strict Content-Security-Policy: only this origin's scripts, styles, images and connections; no inline
script or style, no plugins, no ``<base>``, never framed. The dashboard is built for it (static HTML,
its own JavaScript and Chart.js files, no inline code).

The interactive API docs (``/<service>/docs``) are FastAPI's Swagger UI: its script and stylesheet come
from the jsDelivr CDN, it starts with an inline script and styles itself inline, so the strict policy
would leave the page blank. Those pages alone get a policy allowing exactly that (cdn.jsdelivr.net,
inline script and style, data: images, FastAPI's favicon, fetching the OpenAPI document from here); they
render no user input, cannot be framed either, and every other header stays the same.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DOCS_CSP", "STRICT_CSP", "SecurityHeaders"]

STRICT_CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
_DOCS_PATH = re.compile(r"^/[a-z][a-z0-9_-]*/docs/?$")
_COMMON = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


def policy_for(path: str) -> str:
    return DOCS_CSP if _DOCS_PATH.match(path) else STRICT_CSP


class SecurityHeaders:
    """Adds the headers to every HTTP response start; a header the app set itself is left as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in (*_COMMON, ("content-security-policy", policy)):
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
