"""Read your writes across streams and services (?after=, DESIGN §5): a read given a position a command
returned reflects every event that store had committed at or below it, on every read of every service,
or answers 504 after a bounded wait. One platform serves the module; each test reads only what it wrote
(national figures as a difference)."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import httpx

from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post

settings, database_url, broker, running = shared_platform()


async def _national_savings(client: httpx.AsyncClient, after: str) -> Decimal:
    response = await client.get("/reporting/v1/stats", params={"after": after})
    assert response.status_code == 200, response.text
    return Decimal(response.json()["savings"])


async def test_a_batch_of_deposits_to_many_members_is_all_in_national_statistics(
    client: httpx.AsyncClient, running: Any
) -> None:
    rng = random.Random(13)
    group = await new_group(client, province_code="10", district_code="1001")
    members = [await new_member(client, group["group_id"]) for _ in range(16)]
    position = max(m["position"]["ledger"] for m in members)
    gate = asyncio.Semaphore(16)
    for round_ in range(3):
        before = await _national_savings(client, f"ledger:{position}")

        async def deposit(member_id: str, amount: Decimal) -> dict[str, Any]:
            async with gate:
                body = {
                    "account": rng.choice(["sajja", "special"]),
                    "amount": f"{amount}",
                    "deposited_on": "2024-01-05",
                }
                response = await post(client, f"/ledger/v1/members/{member_id}/deposits", body)
                assert response.status_code == 201, response.text
                answer: dict[str, Any] = response.json()
                return answer

        amounts = [Decimal(rng.randint(1, 500)) + Decimal("0.50") for _ in range(3 * len(members))]
        answers = await asyncio.gather(
            *(deposit(members[i % len(members)]["member_id"], a) for i, a in enumerate(amounts))
        )
        # The highest position any of the batch's commands returned covers the whole batch.
        position = max(a["position"]["ledger"] for a in answers)
        after = await _national_savings(client, f"ledger:{position}")
        assert after - before == sum(amounts), f"round {round_}: short by {sum(amounts) - (after - before)}"

    # A position already reflected asks the ledger nothing (reporting remembers how far it is published).
    reader = running.runtimes["reporting"].app.state.read_after
    asked = []
    reader._ask = lambda *args: asked.append(args)  # would fail the read if called
    try:
        assert await _national_savings(client, f"ledger:{position}") == after
    finally:
        del reader._ask
    assert asked == []


async def _progress(client: httpx.AsyncClient, path: str = "", **params: str) -> dict[str, Any]:
    response = await client.get(f"/campaign/v1/campaigns/savings-50y/progress{path}", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_campaign_reads_wait_for_a_qualifying_special_deposit(client: httpx.AsyncClient) -> None:
    group = await new_group(client, province_code="10", district_code="1002", founded_on="2020-01-01")
    member = await new_member(client, group["group_id"], joined_on="2023-06-01")
    enrolled = f"ledger:{member['position']['ledger']}"
    before = await _progress(client, level="district", code="1002", after=enrolled)
    body = {"account": "special", "amount": "75.00", "deposited_on": "2024-01-05"}
    deposited = await post(client, f"/ledger/v1/members/{member['member_id']}/deposits", body)
    assert deposited.status_code == 201, deposited.text
    after = f"ledger:{deposited.json()['position']['ledger']}"

    counters = (await _progress(client, level="district", code="1002", after=after))["counters"]
    assert counters["special_deposits"] == before["counters"]["special_deposits"] + 1
    assert Decimal(counters["special_deposit_amount"]) - Decimal(before["counters"]["special_deposit_amount"]) == 75
    series = await _progress(client, "/series", level="district", code="1002", after=after)
    assert series["points"][-1]["counters"] == counters
    breakdown = await _progress(client, "/breakdown", level="province", code="10", after=after)
    [row] = [item for item in breakdown["items"] if item["code"] == "1002"]
    assert row["counters"]["special_deposit_amount"] == counters["special_deposit_amount"]


async def test_positions_from_two_stores_on_reporting_ledger_and_lending(client: httpx.AsyncClient) -> None:
    from tests.support.lending import as_user, define_product, known_member

    await define_product(client)
    gid = (await new_group(client, province_code="10", district_code="1003", founded_on="2023-06-01"))["group_id"]
    borrower = await known_member(client, gid, sajja="5000.00")
    guarantors = [await known_member(client, gid, sajja="9000.00") for _ in range(2)]
    application = {
        "member_id": borrower,
        "product_id": "occupation",
        "principal": "10000.00",
        "term_months": 10,
        "purpose": "ซื้อปุ๋ย",
        "guarantor_ids": guarantors,
        "applied_on": "2024-01-10",
    }
    applied = await as_user(client, "somchai", "/lending/v1/loans", application)
    assert applied.status_code == 201, applied.text
    url = f"/lending/v1/loans/{applied.json()['loan_id']}"
    for checker in ("kannika", "prasert"):
        assert (await as_user(client, checker, f"{url}/approvals", {})).status_code == 201
    assert (await post(client, f"{url}/disbursements", {"disbursed_on": "2024-01-15"})).status_code == 202
    active = (await client.get(url, params={"wait": 10, "on": "2024-02-15"})).json()
    assert active["status"] == "active", active
    paid = await post(client, f"{url}/repayments", {"amount": active["schedule"][0]["total"], "paid_on": "2024-02-15"})
    assert paid.status_code == 201, paid.text
    lending = paid.json()["position"]["lending"]
    outstanding = (await client.get(url, params={"on": "2024-02-15"})).json()["outstanding_principal"]
    # A ledger command right after: one read waits for both stores.
    body = {"account": "sajja", "amount": "40.00", "deposited_on": "2024-02-15"}
    deposited = await post(client, f"/ledger/v1/members/{borrower}/deposits", body)
    ledger = deposited.json()["position"]["ledger"]
    both = f"ledger:{ledger},lending:{lending}"

    # Reporting, from both topics.
    stats = await client.get("/reporting/v1/stats", params={"level": "group", "code": gid, "after": both})
    assert stats.status_code == 200, stats.text
    assert (stats.json()["loans_outstanding"], stats.json()["borrowers"]) == (outstanding, 1)
    assert stats.json()["savings"] == "23040.00"
    # Lending, from its own topic (the portfolio) and from the ledger's (what it knows of a member).
    portfolio = await client.get(
        "/lending/v1/portfolio",
        params={"level": "group", "code": gid, "on": "2024-02-15", "after": f"lending:{lending}"},
    )
    assert portfolio.status_code == 200, portfolio.text
    assert (portfolio.json()["loans"], portfolio.json()["outstanding"]) == (1, outstanding)
    seen = await client.get(f"/lending/v1/members/{borrower}", params=[("after", f"ledger:{ledger}")])
    assert seen.json()["savings"] == "5040.00"
    # The ledger, after a lending position: the repayment's posting, made by the ledger's inbox worker.
    journal = await client.get(
        f"/ledger/v1/groups/{gid}/journal", params={"from": "2024-02-15", "after": f"lending:{lending}"}
    )
    assert journal.status_code == 200, journal.text
    assert any(
        line["account"] == "4020" and line["credit"] == "100.00"
        for e in journal.json()["entries"]
        for line in e["lines"]
    ), journal.json()


async def test_after_with_a_list_cursor_bad_values_and_the_bounded_wait(
    client: httpx.AsyncClient, running: Any
) -> None:
    group = await new_group(client, province_code="10", district_code="1004")
    members = [await new_member(client, group["group_id"]) for _ in range(3)]
    position = f"ledger:{members[-1]['position']['ledger']}"
    url = f"/ledger/v1/groups/{group['group_id']}/members"
    first = (await client.get(url, params={"limit": 2, "after": position})).json()
    assert len(first["items"]) == 2 and "ledger%3A" not in first["next"] and "ledger:" not in first["next"]
    cursor = first["items"][-1]["member_id"]
    second = await client.get(url, params=[("limit", "2"), ("after", cursor), ("after", position)])
    assert second.status_code == 200, second.text
    assert [m["member_id"] for m in second.json()["items"]] == [members[2]["member_id"]]

    for bad in ("ledger", "ledger:x", "999", "ledger:1,oops"):
        refused = await client.get("/reporting/v1/stats", params={"after": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["errors"][0]["field"] == "after"
    unknown = await client.get("/reporting/v1/stats", params={"after": "bank:12"})
    assert unknown.status_code == 422 and "bank" in unknown.json()["detail"]

    settings = running.platform.settings
    waited = settings.read_wait_timeout_seconds
    settings.read_wait_timeout_seconds = 0.3
    try:
        late = await client.get("/campaign/v1/campaigns/savings-50y/progress", params={"after": "ledger:999999999"})
        pending = await client.get("/reporting/v1/stats", params={"after": "lending:888888888"})
    finally:
        settings.read_wait_timeout_seconds = waited
    assert late.status_code == 504 and late.headers["content-type"] == "application/problem+json"
    assert late.headers["retry-after"] == "1"
    assert "ledger position 999999999" in late.json()["detail"] and "ledger to publish it" in late.json()["detail"]
    assert pending.status_code == 504 and "lending position 888888888" in pending.json()["detail"]
    # Nothing in auth is built from any store: nothing to wait for.
    assert (await client.get("/auth/v1/jwks.json", params={"after": "ledger:999999999"})).status_code == 200
