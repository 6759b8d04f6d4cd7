"""Journal entries and the annual profit allocation over HTTP, checked against a table worked by hand.
One platform serves the module: each test makes its own group and reads only its books."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post

settings, database_url, broker, running = shared_platform()


async def _sajja(client: httpx.AsyncClient, member: str, amount: str, on: str) -> None:
    body = {"account": "sajja", "amount": amount, "deposited_on": on}
    response = await post(client, f"/ledger/v1/members/{member}/deposits", body)
    assert response.status_code == 201, response.text


async def _entry(client: httpx.AsyncClient, group: str, on: str, memo: str, *lines: dict[str, str]) -> httpx.Response:
    return await post(
        client, f"/ledger/v1/groups/{group}/journal-entries", {"posted_on": on, "memo": memo, "lines": list(lines)}
    )


SHARES = {
    "reserve": "10",
    "dividends": "60",
    "borrower_rebates": "10",
    "welfare": "10",
    "community": "5",
    "committee": "5",
}


async def test_profit_allocation_matches_the_hand_computed_table(client: httpx.AsyncClient) -> None:
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    a, b, c = [(await new_member(client, gid, joined_on="2023-12-01"))["member_id"] for _ in range(3)]
    # Month-end sajja balances, Jan/Feb/Mar 2024: A 1000/1000/1000, B 500/1000/1000, C 0/0/300 baht.
    await _sajja(client, a, "1000.00", "2023-12-05")
    await _sajja(client, b, "500.00", "2024-01-05")
    await _sajja(client, b, "500.00", "2024-02-05")
    await _sajja(client, c, "300.00", "2024-03-05")
    entries = [
        (
            "2024-02-29",
            "ดอกเบี้ยเงินฝากธนาคาร",
            {"account": "1010", "debit": "1000.01"},
            {"account": "4030", "credit": "1000.01"},
        ),
        (
            "2024-03-10",
            "ดอกเบี้ยเงินกู้",
            {"account": "1010", "debit": "123.45"},
            {"account": "4020", "credit": "123.45", "member_id": b},
        ),
        (
            "2024-03-15",
            "ดอกเบี้ยเงินกู้",
            {"account": "1010", "debit": "50.00"},
            {"account": "4020", "credit": "50.00", "member_id": c},
        ),
        ("2024-03-20", "ค่าเครื่องเขียน", {"account": "5010", "debit": "73.45"}, {"account": "1010", "credit": "73.45"}),
    ]
    for on, memo, *lines in entries:
        response = await _entry(client, gid, on, memo, *lines)
        assert response.status_code == 201, response.text
    allocate = {"period_start": "2024-01", "period_end": "2024-03", "allocated_on": "2024-04-20", "shares": SHARES}
    url = f"/ledger/v1/groups/{gid}/profit-allocations"
    too_early = await post(client, url, allocate)
    assert too_early.status_code == 409 and "closed first" in too_early.json()["detail"]
    for month in ("2024-01", "2024-02", "2024-03"):
        assert (await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": month})).status_code == 201
    assert (await post(client, url, allocate | {"shares": SHARES | {"committee": "6"}})).status_code == 422

    allocated = await post(client, url, allocate)
    assert allocated.status_code == 201, allocated.text
    body = allocated.json()
    # Net profit 1000.01 + 123.45 + 50.00 − 73.45 = 1100.01. Exact shares: 110.001, 660.006, 110.001,
    # 110.001, 55.0005, 55.0005 baht; floored to the satang they leave 0.01, which goes to the largest
    # remainder (dividends, .6 of a satang).
    assert body["net_profit"] == "1100.01"
    assert body["funds"] == {
        "reserve": "110.00",
        "dividends": "660.01",
        "borrower_rebates": "110.00",
        "welfare": "110.00",
        "community": "55.00",
        "committee": "55.00",
    }
    # Dividends 66001 satang by savings basis A 300000 : B 250000 : C 30000 (of 580000):
    #   exact A 34138.448, B 28448.707, C 3413.845 → floors leave 2 satang → C, then B.
    # Rebates 11000 satang by interest B 12345 : C 5000 (of 17345):
    #   exact B 7829.057, C 3170.943 → the 1 satang left goes to C.
    shares = {m["member_id"]: m for m in body["members"]}
    table = {
        a: ("1000.00", "0.00", "341.38", "0.00"),
        b: ("833.33", "123.45", "284.49", "78.29"),
        c: ("100.00", "50.00", "34.14", "31.71"),
    }
    for member, (average, interest, dividend, rebate) in table.items():
        got = shares[member]
        assert (got["average_savings"], got["interest_paid"], got["dividend"], got["rebate"]) == (
            average,
            interest,
            dividend,
            rebate,
        ), member
    special = {m: (await client.get(f"/ledger/v1/members/{m}")).json()["balances"]["special"] for m in (a, b, c)}
    assert special == {a: "341.38", b: "362.78", c: "65.85"}
    # Each member's own position in the response serves read-your-writes on that member.
    own = body["member_positions"][c]["ledger"]
    projected_c = await client.get(f"/reporting/v1/members/{c}/balances", params={"after": f"ledger:{own}"})
    assert projected_c.json()["special"] == "65.85", projected_c.text
    later = await post(
        client,
        f"/ledger/v1/members/{b}/deposits",
        {"account": "special", "amount": "1.00", "deposited_on": "2024-04-21"},
    )
    projected = await client.get(
        f"/reporting/v1/members/{b}/balances", params={"after": f"ledger:{later.json()['position']['ledger']}"}
    )
    assert projected.json()["special"] == "363.78", projected.text

    # The books: balanced, reconciled, income and expenses closed into the funds.
    trial = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance", params={"as_of": "2024-04-30"})).json()
    assert trial["balanced"]
    balance = {row["code"]: row["balance"] for row in trial["accounts"]}
    assert [balance[x] for x in ("4020", "4030", "5010", "2100", "2110")] == ["0.00"] * 5
    assert (balance["3020"], balance["3010"], balance["3030"], balance["2120"]) == (
        "-110.00",
        "-110.00",
        "-55.00",
        "-55.00",
    )
    # Special savings: 770.01 of dividends and rebates, and the 1.00 deposited after.
    reconciliation = (await client.get(f"/ledger/v1/groups/{gid}/reconciliation")).json()
    assert reconciliation["reconciled"] and reconciliation["journal"]["special"] == "771.01", reconciliation
    before = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance", params={"as_of": "2024-03-31"})).json()
    assert {r["code"]: r["balance"] for r in before["accounts"]}["4030"] == "-1000.01"

    # The statements. The period's income statement still shows what it earned and spent after the allocation
    # closed those accounts (closing entries are kept apart), and its net profit is the one allocated.
    income = (
        await client.get(f"/ledger/v1/groups/{gid}/income-statement", params={"from": "2024-01-01", "to": "2024-04-30"})
    ).json()
    assert {x["code"]: x["amount"] for x in income["income"]} == {"4020": "173.45", "4030": "1000.01"}
    assert {x["code"]: x["amount"] for x in income["expenses"]} == {"5010": "73.45"}
    assert (income["total_income"], income["total_expenses"], income["net_profit"]) == ("1173.46", "73.45", "1100.01")
    march = (
        await client.get(f"/ledger/v1/groups/{gid}/income-statement", params={"from": "2024-03-01", "to": "2024-03-31"})
    ).json()
    assert march["net_profit"] == "100.00"  # 123.45 + 50.00 − 73.45
    # Before the allocation the profit is the members' but not yet allocated; after it, in the funds and payables.
    sheet = (await client.get(f"/ledger/v1/groups/{gid}/balance-sheet", params={"as_of": "2024-03-31"})).json()
    assert sheet["balanced"] and sheet["unallocated_profit"] == "1100.01"
    assert sheet["total_assets"] == sheet["total_liabilities_and_equity"]
    after = (await client.get(f"/ledger/v1/groups/{gid}/balance-sheet", params={"as_of": "2024-04-30"})).json()
    assert after["balanced"] and after["unallocated_profit"] == "0.00"
    assert {x["code"]: x["amount"] for x in after["equity"]} == {"3010": "110.00", "3020": "110.00", "3030": "55.00"}
    assert {x["code"]: x["amount"] for x in after["assets"]}["1010"] == after["total_assets"]
    wrong_way = await client.get(
        f"/ledger/v1/groups/{gid}/income-statement", params={"from": "2024-04-01", "to": "2024-03-01"}
    )
    assert wrong_way.status_code == 422

    # Once per period; a later period starts after it.
    again = await post(client, url, allocate)
    assert again.status_code == 409 and "allocated already" in again.json()["detail"]


async def test_journal_entries_are_balanced_keep_cash_positive_and_leave_member_savings_alone(
    client: httpx.AsyncClient,
) -> None:
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    member = (await new_member(client, gid, joined_on="2023-12-01"))["member_id"]
    await _sajja(client, member, "100.00", "2024-01-05")
    unbalanced = await _entry(
        client, gid, "2024-01-10", "x", {"account": "5010", "debit": "10.00"}, {"account": "1010", "credit": "9.00"}
    )
    assert unbalanced.status_code == 422 and "must be equal" in unbalanced.json()["detail"]
    unknown = await _entry(
        client, gid, "2024-01-10", "x", {"account": "9999", "debit": "1.00"}, {"account": "1010", "credit": "1.00"}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "lines.0.account"
    savings = await _entry(
        client, gid, "2024-01-10", "x", {"account": "2010", "debit": "1.00"}, {"account": "1010", "credit": "1.00"}
    )
    assert savings.status_code == 422 and "members' own savings" in savings.json()["detail"]
    both = await _entry(
        client,
        gid,
        "2024-01-10",
        "x",
        {"account": "5010", "debit": "1.00", "credit": "1.00"},
        {"account": "1010", "credit": "0.00"},
    )
    assert both.status_code == 422
    short = await _entry(
        client, gid, "2024-01-10", "x", {"account": "5010", "debit": "100.01"}, {"account": "1010", "credit": "100.01"}
    )
    assert short.status_code == 409 and "cash" in short.json()["detail"]
    to_bank = await _entry(
        client,
        gid,
        "2024-01-10",
        "ฝากเงินเข้าบัญชีกลุ่ม",
        {"account": "1020", "debit": "100.00"},
        {"account": "1010", "credit": "100.00"},
    )
    assert to_bank.status_code == 201, to_bank.text
    journal = (await client.get(f"/ledger/v1/groups/{gid}/journal", params={"from": "2024-01-01"})).json()["entries"]
    assert [e["event_type"] for e in journal] == ["ledger.SavingsDeposited", "ledger.JournalEntryPosted"]
    for entry in journal:
        debit = sum(float(x["debit"]) * 100 for x in entry["lines"])
        credit = sum(float(x["credit"]) * 100 for x in entry["lines"])
        assert round(debit) == round(credit)
    nothing = await post(
        client,
        f"/ledger/v1/groups/{gid}/profit-allocations",
        {"period_start": "2024-01", "period_end": "2024-01", "allocated_on": "2024-02-10"},
    )
    assert nothing.status_code == 409  # January is open
    await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": "2024-01"})
    nothing = await post(
        client,
        f"/ledger/v1/groups/{gid}/profit-allocations",
        {"period_start": "2024-01", "period_end": "2024-01", "allocated_on": "2024-02-10"},
    )
    assert nothing.status_code == 409 and "nothing to allocate" in nothing.json()["detail"]
    closed = await _entry(
        client, gid, "2024-01-31", "x", {"account": "1010", "debit": "1.00"}, {"account": "4090", "credit": "1.00"}
    )
    assert closed.status_code == 409 and "closed" in closed.json()["detail"]


async def test_cash_paid_out_never_exceeds_the_cash_the_group_holds(client: httpx.AsyncClient) -> None:
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    a, b = [(await new_member(client, gid, joined_on="2023-12-01"))["member_id"] for _ in range(2)]
    for member in (a, b):
        body = {"account": "special", "amount": "60.00", "deposited_on": "2024-01-05"}
        assert (await post(client, f"/ledger/v1/members/{member}/deposits", body)).status_code == 201
    # 120.00 in cash; 30.00 goes to the bank, leaving 90.00: two withdrawals of 60.00 cannot both be paid.
    to_bank = await _entry(
        client,
        gid,
        "2024-01-06",
        "ฝากธนาคาร",
        {"account": "1020", "debit": "30.00"},
        {"account": "1010", "credit": "30.00"},
    )
    assert to_bank.status_code == 201
    withdrawal = {"account": "special", "amount": "60.00", "withdrawn_on": "2024-01-07"}
    results = await asyncio.gather(*(post(client, f"/ledger/v1/members/{m}/withdrawals", withdrawal) for m in (a, b)))
    assert sorted(r.status_code for r in results) == [201, 409], [r.text for r in results]
    refused = next(r for r in results if r.status_code == 409)
    assert "holds 30.00 baht in cash" in refused.json()["detail"]
    trial = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
    assert {r["code"]: r["balance"] for r in trial["accounts"]}["1010"] == "30.00"
    # Exit pays out everything: refused until the bank money comes back into cash.
    loser = a if results[0].status_code == 409 else b
    assert (await post(client, f"/ledger/v1/members/{loser}/exit", {"exited_on": "2024-01-08"})).status_code == 409
    back = await _entry(
        client,
        gid,
        "2024-01-08",
        "ถอนจากธนาคาร",
        {"account": "1010", "debit": "30.00"},
        {"account": "1020", "credit": "30.00"},
    )
    assert back.status_code == 201
    assert (await post(client, f"/ledger/v1/members/{loser}/exit", {"exited_on": "2024-01-08"})).status_code == 201
