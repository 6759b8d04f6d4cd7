"""Limits every service applies before a route runs: the size of request bodies."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The routes that take a file as their body (an onboarding import): their own, larger limit.
UPLOADS = frozenset({("POST", "/ledger/v1/imports")})


def body_limit(scope: Scope, limit: int, upload_limit: int) -> int:
    """The body size a request may have: `upload_limit` for a file upload, `limit` for everything else."""
    return upload_limit if (scope.get("method"), scope.get("path")) in UPLOADS else limit


class BodySizeLimit:
    """Refuses request bodies over `limit` bytes (`upload_limit` for the file uploads) with 413: by
    Content-Length at once, and by counting when the body is streamed without one."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int | None = None) -> None:
        self.app = app
        self.default_limit = limit
        self.upload_limit = upload_limit if upload_limit is not None else limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope, self.default_limit, self.upload_limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        exceeded = False

        async def counting() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Stop reading: the app sees a body that ended, and its answer is replaced below.
                    exceeded = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        refused = False

        async def answering(message: Message) -> None:
            nonlocal refused
            if not exceeded:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(send, limit)

        await self.app(scope, counting, answering)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "type": "urn:sajja:problem:too-large",
                "title": "Request too large",
                "status": 413,
                "detail": f"request bodies are limited to {limit} bytes",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
