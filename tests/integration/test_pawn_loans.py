"""Pawn loans through the pawnshop office's partner endpoints: pledge and payout confirmed by a
callback, renewal and redemption with the Act's interest, forfeiture after the term, sale. One platform
serves the module: each test reads only its own tickets (and the check that no event carries the PromptPay
number reads them all)."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import shared_platform
from tests.support.api import post

settings, database_url, broker, running = shared_platform()


def pledge(**overrides: object) -> dict[str, object]:
    return {
        "branch_code": "SK-01",
        "province_code": "27",
        "district_code": "2701",
        "customer_ref": "c-0001",
        "item_category": "gold",
        "item_description": "แหวนทองคำ 96.5% หนัก 2 สลึง",
        "appraised_value": "12000.00",
        "principal": "10000.00",
        "pledged_on": "2024-01-10",
        "payout": {"channel": "promptpay", "promptpay_id": "0812345678"},
    } | overrides


async def test_a_ticket_from_pledge_to_redemption(pawnshop: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    too_big = await post(
        pawnshop, "/lending/v1/pawn/tickets", pledge(principal="100000.01", appraised_value="200000.00")
    )
    assert too_big.status_code == 422 and "100000.00" in too_big.json()["detail"]
    over_value = await post(pawnshop, "/lending/v1/pawn/tickets", pledge(principal="12000.01"))
    assert over_value.status_code == 422 and over_value.json()["errors"][0]["field"] == "appraised_value"
    no_account = await post(pawnshop, "/lending/v1/pawn/tickets", pledge(payout={"channel": "bank_transfer"}))
    assert no_account.status_code == 422

    made = await post(pawnshop, "/lending/v1/pawn/tickets", pledge())
    assert made.status_code == 201, made.text
    ticket = made.json()
    # Under the Act's cap (pledged in 2024): 2 % of 2,000 + 1.25 % of 8,000 = 140.00 a month.
    assert (ticket["status"], ticket["monthly_interest"], ticket["rate_table"]) == (
        "awaiting_payout",
        "140.00",
        "act-cap-2505",
    )
    assert ticket["maturity_date"] == "2024-06-09"  # 4 months + 30 days
    url = f"/lending/v1/pawn/tickets/{ticket['ticket_id']}"
    early = await post(pawnshop, f"{url}/redemptions", {"on": "2024-01-20"})
    assert early.status_code == 409 and "awaiting_payout" in early.json()["detail"]

    callback = f"/lending/v1/pawn/payouts/{ticket['instruction_id']}/callback"
    confirmed = await post(pawnshop, callback, {"succeeded": True, "reference": "PP-000123", "on": "2024-01-10"})
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "pawned"
    again = await post(pawnshop, callback, {"succeeded": True, "reference": "PP-000123"})
    assert again.status_code == 200 and again.json()["unchanged"]
    contradicts = await post(pawnshop, callback, {"succeeded": False, "reason": "บัญชีปิด"})
    assert contradicts.status_code == 409

    # Renewal on 2024-03-20: 2 months 10 days = 2.5 months = 350.00; the term restarts.
    renewed = await post(pawnshop, f"{url}/renewals", {"on": "2024-03-20"})
    assert renewed.status_code == 201, renewed.text
    assert (renewed.json()["interest"], renewed.json()["maturity_date"]) == ("350.00", "2024-08-19")
    shown = (await pawnshop.get(url, params={"on": "2024-04-25"})).json()
    assert (shown["interest_due"], shown["interest_from"], shown["may_forfeit"]) == ("210.00", "2024-03-20", False)
    redeemed = await post(pawnshop, f"{url}/redemptions", {"on": "2024-04-25"})  # 1 month 5 days = 1.5 months
    assert redeemed.status_code == 201 and redeemed.json()["interest"] == "210.00"
    assert (await pawnshop.get(url)).json()["status"] == "redeemed"

    # The PromptPay number lives in the erasable payout register, never in an event.
    assert (
        await pool.fetchval(
            "select promptpay_id from lending.payout_register where ticket_id = $1::uuid", ticket["ticket_id"]
        )
        == "0812345678"
    )
    assert await pool.fetchval("select count(*) from lending.events where payload::text like '%0812345678%'") == 0


async def test_forfeiture_after_the_term_and_sale(pawnshop: httpx.AsyncClient) -> None:
    made = (
        await post(pawnshop, "/lending/v1/pawn/tickets", pledge(principal="8000.00", payout={"channel": "cash"}))
    ).json()
    assert made["status"] == "pawned"  # cash is handed over at the counter
    url = f"/lending/v1/pawn/tickets/{made['ticket_id']}"
    assert (await post(pawnshop, f"{url}/sales", {"sold_on": "2024-06-20", "sale_price": "9000.00"})).status_code == 409
    in_term = await post(pawnshop, f"{url}/forfeitures", {"on": "2024-06-09"})
    assert in_term.status_code == 409 and "2024-06-09" in in_term.json()["detail"]
    late_renewal = await post(pawnshop, f"{url}/renewals", {"on": "2024-06-10"})
    assert late_renewal.status_code == 409
    assert (await post(pawnshop, f"{url}/forfeitures", {"on": "2024-06-10"})).status_code == 201
    sold = await post(pawnshop, f"{url}/sales", {"sold_on": "2024-07-01", "sale_price": "9000.00"})
    assert sold.status_code == 201 and sold.json()["gain"] == "1000.00"
    assert (await pawnshop.get(url)).json()["status"] == "sold"


async def test_tickets_pledged_from_2025_use_the_offices_lower_tiers(pawnshop: httpx.AsyncClient) -> None:
    made = (await post(pawnshop, "/lending/v1/pawn/tickets", pledge(pledged_on="2025-03-01"))).json()
    # 10,000 baht falls in the 5,000.01–10,000 tier: 0.75 % of all of it = 75.00 a month.
    assert (made["rate_table"], made["monthly_interest"]) == ("office-2025", "75.00")
