"""Webhooks for the referral feed: signed with HMAC-SHA256 over the timestamp and body (checked here by
an independent implementation), retried with back-off after a failure, failed deliveries on view."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from libs.events.settings import Settings
from libs.infra.embedded import free_port
from tests.conftest import settings_for_test
from tests.support.api import eventually, new_group, new_member, post

SECRET = "whsec-" + uuid.uuid4().hex


class Receiver:
    """A partner's webhook endpoint: refuses each delivery's first attempt, accepts the second."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.port = free_port()

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        delivery = request.headers["sajja-delivery"]
        first = not any(r["delivery"] == delivery for r in self.received)
        self.received.append({"delivery": delivery, "signature": request.headers["sajja-signature"], "body": body})
        return Response(status_code=503 if first else 204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", r.endpoint, methods=["POST"])]), port=r.port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server))
    yield r
    server.should_exit = True
    await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@pytest.fixture
def settings(receiver: Receiver) -> Settings:
    return settings_for_test(
        webhook_urls={"gsb": f"http://127.0.0.1:{receiver.port}/hook"}, webhook_secrets={"gsb": SECRET}
    )


async def test_feed_entries_are_posted_signed_and_retried(
    client: httpx.AsyncClient, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    gid = (await new_group(client, founded_on="2020-01-01"))["group_id"]
    member = (await new_member(client, gid, joined_on="2022-01-01"))["member_id"]
    consent = {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "v1"}
    granted = await post(client, f"/ledger/v1/members/{member}/consents", consent)
    from libs.events.projector import wait_until_applied

    position = granted.json()["position"]["ledger"]
    assert await wait_until_applied(pool, "reporting", "referral_facts", f"member-{member}", position, 15)
    assert (await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2024-12-31"})).json()[
        "referred"
    ] == 1

    # The first attempt is refused: the delivery waits for its retry, on view meanwhile.
    await eventually(lambda: _count(receiver, 1))

    async def failed_once() -> list[dict[str, object]] | None:
        # The sender records the refusal just after the receiver has answered: wait for it.
        items: list[dict[str, object]] = (await client.get("/reporting/v1/partners/gsb/webhooks/deliveries")).json()[
            "items"
        ]
        return items if items and items[0]["attempts"] else None

    failed = await eventually(failed_once)
    assert len(failed) == 1 and failed[0]["last_error"] == "HTTP 503" and failed[0]["attempts"] == 1

    await eventually(lambda: _count(receiver, 2))  # retried after the back-off (1 s)

    async def delivered() -> bool:
        items = (await client.get("/reporting/v1/partners/gsb/webhooks/deliveries", params={"state": "all"})).json()[
            "items"
        ]
        return bool(items and items[0]["delivered_at"])

    await eventually(delivered)
    assert (await client.get("/reporting/v1/partners/gsb/webhooks/deliveries")).json()["items"] == []
    for request in receiver.received:
        fields = dict(part.split("=", 1) for part in request["signature"].split(","))
        expected = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + request["body"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(fields["v1"], expected)
        assert b"referral" in request["body"] and member.encode() not in request["body"]


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n
