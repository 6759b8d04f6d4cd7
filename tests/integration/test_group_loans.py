"""Group loans end to end: product as data, maker-checker, the payout saga through the ledger's books
(refused when cash is short, then paid), repayments posted to the books, the daily close. One platform
serves the module: each test defines its own product and reads only its own group and loans (the daily
close covers active loans only, and the other test's loan ends written off)."""

from __future__ import annotations

import httpx

from tests.conftest import shared_platform
from tests.support.api import eventually, new_group, post
from tests.support.lending import as_user, define_product, known_member

settings, database_url, broker, running = shared_platform()


async def _trial(client: httpx.AsyncClient, group: str) -> dict[str, str]:
    trial = (await client.get(f"/ledger/v1/groups/{group}/trial-balance")).json()
    assert trial["balanced"]
    return {row["code"]: row["balance"] for row in trial["accounts"]}


async def test_a_group_loan_from_application_to_repayment(client: httpx.AsyncClient) -> None:
    await define_product(client)
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    borrower = await known_member(client, gid, sajja="5000.00")
    g1 = await known_member(client, gid, sajja="500.00")
    g2 = await known_member(client, gid, sajja="500.00")
    application = {
        "member_id": borrower,
        "product_id": "occupation",
        "principal": "20000.00",
        "term_months": 12,
        "purpose": "ซื้อปุ๋ย",
        "guarantor_ids": [g1, g2],
        "applied_on": "2024-01-10",
    }
    # Limits: at most 5 × savings (25,000.00), two guarantors from the same group.
    too_much = await as_user(client, "somchai", "/lending/v1/loans", application | {"principal": "25000.01"})
    assert too_much.status_code == 409 and "5 times" in too_much.json()["detail"]
    one_guarantor = await as_user(client, "somchai", "/lending/v1/loans", application | {"guarantor_ids": [g1]})
    assert one_guarantor.status_code == 422
    self_guarantee = await as_user(
        client, "somchai", "/lending/v1/loans", application | {"guarantor_ids": [g1, borrower]}
    )
    assert self_guarantee.status_code == 422

    applied = await as_user(client, "somchai", "/lending/v1/loans", application)
    assert applied.status_code == 201, applied.text
    loan = applied.json()["loan_id"]
    url = f"/lending/v1/loans/{loan}"
    # Maker-checker: the maker may not approve; each checker once; two approvals needed.
    assert (await as_user(client, "somchai", f"{url}/approvals", {})).status_code == 403
    first = await as_user(client, "kannika", f"{url}/approvals", {})
    assert first.status_code == 201 and first.json()["status"] == "applied"
    assert (await as_user(client, "kannika", f"{url}/approvals", {})).status_code == 409
    second = await as_user(client, "prasert", f"{url}/approvals", {})
    assert second.status_code == 201 and second.json()["status"] == "approved"

    # The group holds 6,000.00 in cash: the ledger refuses a 20,000.00 payout, and the loan stays approved.
    requested = await post(client, f"{url}/disbursements", {"disbursed_on": "2024-01-15"})
    assert requested.status_code == 202, requested.text
    refused = (await client.get(url, params={"wait": 10})).json()
    assert refused["status"] == "approved" and "6000.00" in refused["disbursement_failure"]
    assert (await _trial(client, gid))["1100"] == "0.00"

    # Savings come in; the payout goes through, posted from cash to loans receivable.
    for member in (g1, g2):
        body = {"account": "special", "amount": "8000.00", "deposited_on": "2024-01-12"}
        assert (await post(client, f"/ledger/v1/members/{member}/deposits", body)).status_code == 201
    assert (await post(client, f"{url}/disbursements", {"disbursed_on": "2024-01-15"})).status_code == 202
    active = (await client.get(url, params={"wait": 10, "on": "2024-01-15"})).json()
    assert active["status"] == "active", active
    assert len(active["schedule"]) == 12 and active["schedule"][0]["due_on"] == "2024-02-15"
    books = await _trial(client, gid)
    assert (books["1100"], books["1010"]) == ("20000.00", "2000.00")

    # First installment paid on its due date: interest 1% of 20,000.00 = 200.00 first, the rest principal.
    installment = active["schedule"][0]["total"]
    paid = await post(client, f"{url}/repayments", {"amount": installment, "paid_on": "2024-02-15"})
    assert paid.status_code == 201, paid.text
    assert (paid.json()["interest"], paid.json()["penalty"]) == ("200.00", "0.00")
    after = (await client.get(url, params={"on": "2024-02-15"})).json()
    assert after["schedule"][0]["status"] == "paid" and after["days_past_due"] == 0

    # Nothing paid for March: 20 days past due by 2024-04-04, in the 1–30 bucket.
    late = (await client.get(url, params={"on": "2024-04-04"})).json()
    assert (late["days_past_due"], late["bucket"]) == (20, "1-30")
    closed = await post(client, "/lending/v1/day-closes", {"business_date": "2024-04-04"})
    assert closed.status_code == 201 and closed.json()["installments_overdue"] == 1
    again = await post(client, "/lending/v1/day-closes", {"business_date": "2024-04-05"})
    assert again.json()["installments_overdue"] == 0  # recorded once

    # The repayment reached the group's books: cash, loans receivable and interest income (by member).
    async def posted() -> list[dict[str, object]]:
        response = await client.get(f"/ledger/v1/groups/{gid}/journal", params={"from": "2024-02-15"})
        entries: list[dict[str, object]] = response.json()["entries"]
        return entries

    [entry] = await eventually(posted)
    assert {line["account"]: line["credit"] for line in entry["lines"]}["4020"] == "200.00"  # type: ignore[attr-defined]
    books = await _trial(client, gid)
    assert books["4020"] == "-200.00"

    # Portfolio quality from the projection: the one loan ages into the buckets by business date.
    outstanding = after["outstanding_principal"]

    async def portfolio_caught_up() -> dict[str, object] | None:
        response = await client.get("/lending/v1/portfolio", params={"level": "group", "code": gid, "on": "2024-04-04"})
        body: dict[str, object] = response.json()
        return body if body["outstanding"] == outstanding else None

    early = await eventually(portfolio_caught_up)
    assert early["loans"] == 1 and early["buckets"]["1-30"] == {"loans": 1, "outstanding": outstanding}
    assert (early["par30"], early["par30_percent"]) == ("0.00", "0.00")
    district = (
        await client.get("/lending/v1/portfolio", params={"level": "district", "code": "2701", "on": "2024-05-01"})
    ).json()
    assert district["buckets"]["31-60"]["loans"] >= 1 and district["par30_percent"] != "0.00"


async def test_rejection_and_write_off_reach_the_books(client: httpx.AsyncClient) -> None:
    await define_product(client, product_id="occupation-one-checker", guarantors_required=0, approvals_required=1)
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    borrower = await known_member(client, gid, sajja="2000.00")
    lender = await known_member(client, gid)
    body = {"account": "special", "amount": "10000.00", "deposited_on": "2024-01-06"}
    assert (await post(client, f"/ledger/v1/members/{lender}/deposits", body)).status_code == 201
    application = {
        "member_id": borrower,
        "product_id": "occupation-one-checker",
        "principal": "5000.00",
        "term_months": 6,
        "purpose": "ค้าขาย",
    }

    refused = (await as_user(client, "maker", "/lending/v1/loans", application)).json()["loan_id"]
    rejected = await as_user(client, "checker", f"/lending/v1/loans/{refused}/rejections", {"reason": "ยังมีหนี้ค้าง"})
    assert rejected.status_code == 201 and rejected.json()["status"] == "rejected"
    assert (await as_user(client, "other", f"/lending/v1/loans/{refused}/approvals", {})).status_code == 409
    assert (await client.get(f"/lending/v1/loans/{refused}")).json()["rejection_reason"] == "ยังมีหนี้ค้าง"

    loan = (await as_user(client, "maker", "/lending/v1/loans", application)).json()["loan_id"]
    await as_user(client, "checker", f"/lending/v1/loans/{loan}/approvals", {})
    await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": "2024-01-15"})
    assert (await client.get(f"/lending/v1/loans/{loan}", params={"wait": 10})).json()["status"] == "active"
    written = await post(
        client, f"/lending/v1/loans/{loan}/write-offs", {"written_off_on": "2024-12-31", "reason": "ย้ายถิ่น ติดตามไม่ได้"}
    )
    assert written.status_code == 201 and written.json()["status"] == "written_off"

    async def bad_debt_posted() -> dict[str, str] | None:
        books = await _trial(client, gid)
        return books if books["5020"] == "5000.00" else None

    books = await eventually(bad_debt_posted)
    assert books["1100"] == "0.00"
