"""The thin slice: a deposit over HTTP reaches the member's balance in reporting through the event
store, the relay, Kafka and a projector — on real PostgreSQL and a real broker. One platform serves the
module: each test reads only its own member."""

from __future__ import annotations

import httpx

from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post

settings, database_url, broker, running = shared_platform()


async def test_deposits_reach_the_balance_read_model(client: httpx.AsyncClient) -> None:
    group = await new_group(client)
    member = await new_member(client, group["group_id"])
    member_id = member["member_id"]

    first = await post(
        client,
        f"/ledger/v1/members/{member_id}/deposits",
        {"account": "sajja", "amount": "100.00", "deposited_on": "2024-01-05"},
    )
    assert first.status_code == 201, first.text
    assert first.json()["balance"] == "100.00"
    second = await post(
        client,
        f"/ledger/v1/members/{member_id}/deposits",
        {"account": "special", "amount": "50.25", "deposited_on": "2024-01-06"},
    )
    third = await post(
        client,
        f"/ledger/v1/members/{member_id}/deposits",
        {"account": "sajja", "amount": "0.75", "deposited_on": "2024-02-05"},
    )
    assert third.json()["balance"] == "100.75"
    position = third.json()["position"]["ledger"]
    assert position > second.json()["position"]["ledger"] > first.json()["position"]["ledger"]

    balance = await client.get(f"/reporting/v1/members/{member_id}/balances", params={"after": f"ledger:{position}"})
    assert balance.status_code == 200, balance.text
    assert balance.json() == {"member_id": member_id, "sajja": "100.75", "special": "50.25", "total": "151.00"}


async def test_unknown_member_balance_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/reporting/v1/members/0190a5a8-0000-7000-8000-000000000000/balances")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
