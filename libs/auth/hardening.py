"""Limits every service applies before a route runs: the size of request bodies."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Refuses request bodies over `limit` bytes with 413: by Content-Length at once, and by counting
    when the body is streamed without one."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        exceeded = False

        async def counting() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
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
                await self._refuse(send)

        await self.app(scope, counting, answering)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "urn:sajja:problem:too-large",
                "title": "Request too large",
                "status": 413,
                "detail": f"request bodies are limited to {self.limit} bytes",
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
