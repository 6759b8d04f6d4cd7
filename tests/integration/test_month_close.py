"""The month-end close over HTTP: missed installments recorded, back-dating refused after a close,
and no entry slipping into a month while it closes. One platform serves the module: each test closes
months of its own group."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx

from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post

settings, database_url, broker, running = shared_platform()


def sajja(amount: str, on: str) -> dict[str, str]:
    return {"account": "sajja", "amount": amount, "deposited_on": on}


async def test_close_records_missed_installments_and_shuts_the_month(client: httpx.AsyncClient) -> None:
    group = await new_group(client, founded_on="2023-06-01")
    gid = group["group_id"]
    paid_up = (await new_member(client, gid, joined_on="2023-12-01", monthly_commitment="100.00"))["member_id"]
    short = (await new_member(client, gid, joined_on="2023-12-01", monthly_commitment="200.00"))["member_id"]
    silent = (await new_member(client, gid, joined_on="2023-12-01", monthly_commitment="50.00"))["member_id"]
    later = (await new_member(client, gid, joined_on="2024-02-10", monthly_commitment="50.00"))["member_id"]
    for member, amount in ((paid_up, "100.00"), (short, "150.00")):
        response = await post(client, f"/ledger/v1/members/{member}/deposits", sajja(amount, "2024-01-05"))
        assert response.status_code == 201, response.text
    # A special deposit pays no sajja installment.
    await post(client, f"/ledger/v1/members/{silent}/deposits", sajja("50.00", "2024-01-05") | {"account": "special"})

    url = f"/ledger/v1/groups/{gid}/month-closes"
    assert (await post(client, url, {"month": "2023-12"})).status_code == 201
    closed = await post(client, url, {"month": "2024-01"})
    assert closed.status_code == 201, closed.text
    body = closed.json()
    assert (body["members_due"], body["members_missed"], body["due"], body["paid"]) == (3, 2, "350.00", "250.00")
    assert {(m["member_id"], m["due"], m["paid"]) for m in body["missed"]} == {
        (short, "200.00", "150.00"),
        (silent, "50.00", "0.00"),
    }

    shown = (await client.get(f"/ledger/v1/members/{short}")).json()["installments"]
    # Nobody paid in December, closed first.
    assert shown["missed"] == [
        {"month": "2023-12", "due": "200.00", "paid": "0.00"},
        {"month": "2024-01", "due": "200.00", "paid": "150.00"},
    ]
    assert shown["missed_count"] == 2
    schedule = (await client.get(f"/ledger/v1/members/{short}/installments", params={"to": "2024-02"})).json()
    assert [(i["month"], i["status"]) for i in schedule["installments"]] == [
        ("2023-12", "missed"),
        ("2024-01", "missed"),
        ("2024-02", "open"),
    ]
    assert [
        i["month"]
        for i in (await client.get(f"/ledger/v1/members/{later}/installments", params={"to": "2024-02"})).json()[
            "installments"
        ]
    ] == ["2024-02"]
    assert (await client.get(f"/ledger/v1/groups/{gid}")).json()["closed_through"] == "2024-01"

    # Back-dating: refused into the closed month, accepted in the next (open) one.
    refused = await post(client, f"/ledger/v1/members/{short}/deposits", sajja("50.00", "2024-01-31"))
    assert refused.status_code == 409 and "2024-01 is closed" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "deposited_on"
    assert (await post(client, f"/ledger/v1/members/{short}/deposits", sajja("50.00", "2024-02-01"))).status_code == 201
    withdrawal = {"account": "special", "amount": "10.00", "withdrawn_on": "2024-01-20"}
    assert (await post(client, f"/ledger/v1/members/{silent}/withdrawals", withdrawal)).status_code == 409
    assert (await post(client, f"/ledger/v1/members/{silent}/exit", {"exited_on": "2024-01-20"})).status_code == 409
    change = {"monthly_commitment": "100.00", "effective_on": "2024-01-01"}
    assert (await post(client, f"/ledger/v1/members/{silent}/commitment", change)).status_code == 409
    late_joiner = {
        "national_id": "1100000000019",
        "full_name": "ก",
        "joined_on": "2024-01-15",
        "monthly_commitment": "50.00",
    }
    assert (await post(client, f"/ledger/v1/groups/{gid}/members", late_joiner)).status_code in (409, 422)

    # Closes go in order, once, and only for months that have ended.
    assert (await post(client, url, {"month": "2024-01"})).status_code == 409
    assert (await post(client, url, {"month": "2024-03"})).status_code == 409
    assert (await post(client, url, {"month": "2099-01"})).status_code == 409
    assert (await post(client, url, {"month": "2024-13"})).status_code == 422


async def test_a_back_dated_deposit_racing_the_close_lands_before_it_or_not_at_all(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    group = await new_group(client, founded_on="2023-06-01")
    gid = group["group_id"]
    members = [
        (await new_member(client, gid, joined_on="2023-12-01", monthly_commitment="100.00"))["member_id"]
        for _ in range(8)
    ]
    results = await asyncio.gather(
        post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": "2023-12"}),
        *(post(client, f"/ledger/v1/members/{m}/deposits", sajja("100.00", "2023-12-20")) for m in members),
    )
    close, deposits = results[0], results[1:]
    assert close.status_code == 201, close.text
    assert all(d.status_code in (201, 409) for d in deposits), [d.text for d in deposits]
    landed = {m for m, d in zip(members, deposits, strict=True) if d.status_code == 201}
    missed = {m["member_id"] for m in close.json()["missed"]}
    # Every deposit that landed was seen by the close; every member the close found short paid nothing.
    assert landed.isdisjoint(missed) and landed | missed == set(members)
    assert all("closed" in d.json()["detail"] for d in deposits if d.status_code == 409)
    recorded = await pool.fetchval(
        "select count(*) from ledger.events"
        " where event_type = 'ledger.InstallmentMissed' and payload->>'group_id' = $1",
        gid,
    )
    assert recorded == len(missed)


async def test_a_retried_close_is_replayed_not_repeated(client: httpx.AsyncClient) -> None:
    group = await new_group(client, founded_on="2023-06-01")
    await new_member(client, group["group_id"], joined_on="2023-12-01")
    key = str(uuid.uuid4())
    url = f"/ledger/v1/groups/{group['group_id']}/month-closes"
    first, second = await asyncio.gather(
        post(client, url, {"month": "2023-12"}, key), post(client, url, {"month": "2023-12"}, key)
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert first.json()["members_missed"] == 1
