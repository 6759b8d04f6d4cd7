"""SMART grading of real groups: closes, savings, governance items recorded by officers, PAR30 from
lending; the levels' reasons, their history, and the groups closest to their next level."""

from __future__ import annotations

import asyncpg
import httpx

from tests.support.api import eventually, new_group, new_member, post


async def group_with_a_year_of_savings(client: httpx.AsyncClient) -> tuple[str, int]:
    gid = (await new_group(client, district_code="2702", founded_on="2020-01-01"))["group_id"]
    members = [(await new_member(client, gid, joined_on="2023-01-01"))["member_id"] for _ in range(2)]
    for member in members:
        body = {"account": "sajja", "amount": "500.00", "deposited_on": "2023-06-05"}
        await post(client, f"/ledger/v1/members/{member}/deposits", body)
        for month in range(1, 12):
            body = {"account": "sajja", "amount": "100.00", "deposited_on": f"2024-{month:02d}-05"}
            assert (await post(client, f"/ledger/v1/members/{member}/deposits", body)).status_code == 201
    last = 0
    for month in range(1, 12):
        closed = await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": f"2024-{month:02d}"})
        assert closed.status_code == 201 and closed.json()["members_missed"] == 0
        last = closed.json()["position"]["ledger"]
    return gid, last


async def test_groups_are_graded_with_reasons_history_and_gaps(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    exemplary, _ = await group_with_a_year_of_savings(client)
    plain, _ = await group_with_a_year_of_savings(client)
    for item in ("rules_written", "committee_meets_monthly", "annual_meeting_held", "accounts_audited"):
        body = {"item": item, "done": True, "recorded_on": "2024-06-30"}
        assert (await post(client, f"/reporting/v1/groups/{exemplary}/governance", body)).status_code == 201

    async def graded() -> dict[str, object] | None:
        answer = (await client.get(f"/reporting/v1/groups/{exemplary}/smart", params={"as_of": "2024-12-15"})).json()
        return (
            answer
            if answer["indicators"]["books_months_behind"] == 0 and answer["indicators"]["savings_growth"]
            else None
        )

    top = await eventually(graded)
    # Savings 1,000.00 a year ago, 3,200.00 now: growth 2.2; every installment met; no loans.
    assert top["level"] == 3, top
    assert top["indicators"] == {
        "books_months_behind": 0,
        "savings_regularity": "1.0000",
        "savings_growth": "2.2000",
        "par30": "0.0000",
        "governance_items": 4,
    }
    other = (await client.get(f"/reporting/v1/groups/{plain}/smart", params={"as_of": "2024-12-15"})).json()
    assert other["level"] == 1 and [c["name"] for c in other["gaps_to_next_level"]] == ["governance"]

    recorded = await post(client, f"/reporting/v1/groups/{plain}/smart/gradings", {"as_of": "2024-12-15"})
    assert recorded.status_code == 201
    history = (await client.get(f"/reporting/v1/groups/{plain}/smart/history")).json()["items"]
    assert history == [{"graded_on": "2024-12-15", "level": 1}]
    closest = (
        await client.get("/reporting/v1/smart/closest", params={"district": "2702", "as_of": "2024-12-15"})
    ).json()
    assert closest["items"] == [
        {
            "group_id": plain,
            "name": "กลุ่มออมทรัพย์เพื่อการผลิตบ้านหนองบัว",
            "level": 1,
            "next_level": 2,
            "missing": ["governance"],
        }
    ]

    # The group at a glance: its figures, its books (balanced, savings on the liability side), its level.
    summary = (await client.get(f"/reporting/v1/groups/{exemplary}/summary", params={"as_of": "2024-12-15"})).json()
    assert (summary["members"], summary["sajja_savings"], summary["savings"]) == (2, "3200.00", "3200.00")
    assert summary["loans"]["count"] == 0 and summary["loans"]["par30_percent"] == "0.00"
    books = {a["code"]: a["balance"] for a in summary["books"]["accounts"]}
    assert summary["books"]["balanced"] and books == {"1010": "3200.00", "2010": "-3200.00"}
    # As a committee reads a trial balance: each balance on its side, and equal totals.
    sides = {a["code"]: (a["debit"], a["credit"]) for a in summary["books"]["accounts"]}
    assert sides == {"1010": ("3200.00", "0.00"), "2010": ("0.00", "3200.00")}
    assert summary["books"]["total_debit"] == summary["books"]["total_credit"] == "3200.00"
    assert summary["smart_level"] == 3 and summary["as_of_th"] == "๑๕ ธันวาคม ๒๕๖๗"
    assert (await client.get("/reporting/v1/groups/00000000-0000-7000-8000-000000000000/summary")).status_code == 404
