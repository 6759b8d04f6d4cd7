"""?after= across a broker that came back empty (Tansu keeps its log in memory): the relays publish
everything again to the new cluster, offsets start over, and reads with a position from before or after
the restart still answer exactly what was written."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.conftest import Broker
from tests.support.api import new_group, new_member, post


@pytest.fixture
def broker(embedded_only_broker: Broker) -> Broker:
    return embedded_only_broker


async def _deposit_to_each(client: httpx.AsyncClient, members: list[str], amount: str) -> int:
    positions = []
    for member_id in members:
        body = {"account": "sajja", "amount": amount, "deposited_on": "2024-01-05"}
        response = await post(client, f"/ledger/v1/members/{member_id}/deposits", body)
        assert response.status_code == 201, response.text
        positions.append(response.json()["position"]["ledger"])
    return max(positions)


async def _savings(client: httpx.AsyncClient, after: int) -> Decimal:
    response = await client.get("/reporting/v1/stats", params={"after": f"ledger:{after}"})
    assert response.status_code == 200, response.text
    return Decimal(response.json()["savings"])


async def test_reads_after_the_broker_came_back_empty(client: httpx.AsyncClient, broker: Broker) -> None:
    group = await new_group(client)
    members = [str((await new_member(client, group["group_id"]))["member_id"]) for _ in range(8)]
    first = await _deposit_to_each(client, members, "100.00")
    assert await _savings(client, first) == 800

    broker.restart_empty()
    # A position from before: the read models kept what they applied.
    assert await _savings(client, first) == 800
    second = await _deposit_to_each(client, members, "25.50")
    # A position from after: published again to the new cluster (from the start), applied once.
    assert await _savings(client, second) == 1004
    balance = await client.get(f"/reporting/v1/members/{members[-1]}/balances", params={"after": f"ledger:{second}"})
    assert balance.json()["sajja"] == "125.50"
    more = await _deposit_to_each(client, members[:1], "1.00")
    assert await _savings(client, more) == 1005
