"""The payout saga under faults: the ledger down when the payout is requested, lending down when the
ledger answers, every event delivered again, requests arriving twice. Each loan is paid out once,
posted once, and ends active."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx

from deploy.platform import RunningPlatform, running_platform
from libs.events.inbox import Inbox, InboxMessage
from libs.events.kafka import topic_for
from libs.events.relay import reset_checkpoint
from libs.events.settings import Settings
from tests.conftest import Broker
from tests.support.api import eventually, new_group, post
from tests.support.auth import bearer, user_token
from tests.support.lending import as_user, define_product, known_member


@asynccontextmanager
async def platform(
    settings: Settings, database_url: str, broker: Broker, services: list[str] | None = None
) -> AsyncIterator[tuple[RunningPlatform, httpx.AsyncClient]]:
    async with running_platform(settings, database_url, broker.bootstrap_servers, services) as running:
        transport = httpx.ASGITransport(app=running.gateway)
        token = bearer(user_token(settings.auth_signing_keys))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sajja.test", timeout=30, headers=token
        ) as client:
            yield running, client


async def approved_loan(client: httpx.AsyncClient) -> tuple[str, str]:
    """A group with enough cash and an approved 10,000.00 loan: (group id, loan id)."""
    await define_product(client, guarantors_required=0, approvals_required=1)
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    borrower = await known_member(client, gid, sajja="3000.00")
    lender = await known_member(client, gid)
    body = {"account": "special", "amount": "20000.00", "deposited_on": "2024-01-06"}
    assert (await post(client, f"/ledger/v1/members/{lender}/deposits", body)).status_code == 201
    application = {
        "member_id": borrower,
        "product_id": "occupation",
        "principal": "10000.00",
        "term_months": 6,
        "purpose": "ค้าขาย",
    }
    applied = await as_user(client, "maker", "/lending/v1/loans", application)
    assert applied.status_code == 201, applied.text
    loan = applied.json()["loan_id"]
    assert (await as_user(client, "checker", f"/lending/v1/loans/{loan}/approvals", {})).status_code == 201
    return gid, loan


async def payouts_posted(pool: asyncpg.Pool, loan: str) -> int:
    return int(
        await pool.fetchval(
            "select count(*) from ledger.events where event_type = 'ledger.JournalEntryPosted'"
            " and payload->>'source' = $1 and payload->>'memo_code' = 'loan_disbursement'",
            f"lending:loan-{loan}",
        )
    )


async def test_the_saga_survives_each_side_being_down_in_turn(
    settings: Settings, database_url: str, broker: Broker, pool: asyncpg.Pool
) -> None:
    async with platform(settings, database_url, broker) as (_, client):
        gid, loan = await approved_loan(client)

    # The ledger is down when the payout is requested: lending records the request and publishes it.
    # (The auth service stays up: every service reads its revocation list.)
    async with platform(settings, database_url, broker, ["lending", "auth"]) as (running, client):
        assert (
            await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": "2024-01-15"})
        ).status_code == 202
        relay = running.runtimes["lending"].relays[0]
        await eventually(lambda: _zero(relay.pending()))
        assert (await client.get(f"/lending/v1/loans/{loan}")).json()["status"] == "disbursing"

    # Lending is down when the ledger answers: the ledger posts the payout once.
    async with platform(settings, database_url, broker, ["ledger", "auth"]) as (running, client):
        await eventually(lambda: _equals(payouts_posted(pool, loan), 1))
        relay = running.runtimes["ledger"].relays[0]
        await eventually(lambda: _zero(relay.pending()))

    # Everything is back: lending reads the answer and the loan is active, paid out once.
    async with platform(settings, database_url, broker) as (_, client):
        active = (await client.get(f"/lending/v1/loans/{loan}", params={"wait": 15})).json()
        assert active["status"] == "active", active
        await eventually(lambda: _loan_active(client, loan))
    assert await payouts_posted(pool, loan) == 1
    trial = {r["code"]: r["balance"] for r in (await _trial(settings, database_url, broker, gid))["accounts"]}
    assert trial["1100"] == "10000.00"


async def test_events_delivered_again_and_requests_arriving_twice_change_nothing(
    settings: Settings, database_url: str, broker: Broker, pool: asyncpg.Pool
) -> None:
    async with platform(settings, database_url, broker) as (running, client):
        _, loan = await approved_loan(client)
        assert (
            await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": "2024-01-15"})
        ).status_code == 202
        active = (await client.get(f"/lending/v1/loans/{loan}", params={"wait": 15})).json()
        assert active["status"] == "active"
        version = active["version"]

        # Every event of both services published again from the start.
        async with pool.acquire() as conn:
            await reset_checkpoint(conn, "lending", topic_for("lending", settings.topic_prefix))
            await reset_checkpoint(conn, "ledger", topic_for("ledger", settings.topic_prefix))
        for name in ("lending", "ledger"):
            relay = running.runtimes[name].relays[0]
            await eventually(lambda relay=relay: _zero(relay.pending()))  # type: ignore[misc]

        # The same requests and answers arriving again under new message ids (as if re-sent).
        ledger_inbox, lending_inbox = Inbox("ledger"), Inbox("lending")
        async with pool.acquire() as conn, conn.transaction():
            request = await conn.fetchrow(
                "select event_type, payload::text as payload from lending.events"
                " where stream_id = $1 and event_type = 'lending.DisbursementRequested'",
                f"loan-{loan}",
            )
            answer = await conn.fetchrow(
                "select event_type, payload::text as payload from ledger.events"
                " where event_type = 'ledger.JournalEntryPosted' and payload->>'source' = $1",
                f"lending:loan-{loan}",
            )
            await ledger_inbox.put(
                conn, [InboxMessage(str(uuid.uuid4()), request["event_type"], json.loads(request["payload"]))]
            )
            await lending_inbox.put(
                conn, [InboxMessage(str(uuid.uuid4()), answer["event_type"], json.loads(answer["payload"]))]
            )
        await eventually(lambda: _equals(_unhandled(pool), 0))

        assert await payouts_posted(pool, loan) == 1
        after = (await client.get(f"/lending/v1/loans/{loan}")).json()
        assert (after["status"], after["version"]) == ("active", version)
        outcomes = await pool.fetch("select outcome from ledger.inbox union all select outcome from lending.inbox")
        assert {"answered before", "nothing to do"} <= {r["outcome"] for r in outcomes}


async def _unhandled(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            "select (select count(*) from ledger.inbox where handled_at is null)"
            " + (select count(*) from lending.inbox where handled_at is null)"
        )
    )


async def _zero(pending: object) -> bool:
    return await pending == 0  # type: ignore[misc]


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


async def _loan_active(client: httpx.AsyncClient, loan: str) -> bool:
    return bool((await client.get(f"/lending/v1/loans/{loan}")).json()["status"] == "active")


async def _trial(settings: Settings, database_url: str, broker: Broker, gid: str) -> dict[str, object]:
    async with platform(settings, database_url, broker, ["ledger", "auth"]) as (_, client):
        result: dict[str, object] = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
        return result
