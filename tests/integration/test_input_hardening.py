"""Bad input is refused at the edge with a 422 naming the field (never stored, never a 500): amounts in
digits other than ASCII or with spaces, a stats series reaching before year 1, a product's rate beyond
what a loan may carry, a pawn ticket's unknown or mismatched area codes. One platform for all."""

from __future__ import annotations

import asyncpg
import httpx

from tests.support.api import new_group, new_member, post


def _field(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    return str(error["field"])


async def test_bad_input_gets_a_422_naming_the_field(
    client: httpx.AsyncClient, pawnshop: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # Amounts: ASCII digits only, nothing around them; nothing reaches the store.
    group = await new_group(client)
    member = (await new_member(client, group["group_id"]))["member_id"]
    for amount in ("๕", "５", "١٠", " 5", "5\u00a0", "๑๐.๕๐"):
        refused = await post(
            client,
            f"/ledger/v1/members/{member}/deposits",
            {"account": "special", "amount": amount, "deposited_on": "2024-01-05"},
        )
        assert _field(refused) == "amount", amount
    stored = await pool.fetchval("select count(*) from ledger.events where stream_id = $1", f"member-{member}")
    assert stored == 1  # the enrolment only
    taken = await post(
        client,
        f"/ledger/v1/members/{member}/deposits",
        {"account": "special", "amount": "5", "deposited_on": "2024-01-05"},
    )
    assert taken.status_code == 201 and taken.json()["balance"] == "5.00"

    # A month-end series cannot reach before January of year 1.
    series = "/reporting/v1/stats/series"
    assert _field(await client.get(series, params={"as_of": "0001-01-31", "months": "60"})) == "months"
    assert _field(await client.get(series, params={"as_of": "0002-11-30", "months": "24"})) == "months"
    first = await client.get(series, params={"as_of": "0002-11-30", "months": "23"})
    assert first.status_code == 200 and first.json()["points"][0]["date"] == "0001-01-31"

    # A product's rate: the event's bound (10 % a month) is the request's.
    product = {
        "product_id": "hardening",
        "name_th": "ทดสอบ",
        "name_en": "Test",
        "interest_method": "flat",
        "max_term_months": 12,
        "max_amount": "10000.00",
    }
    for rate in ("10.01", "50"):
        refused = await post(client, "/lending/v1/products", product | {"interest_rate_percent": rate})
        assert _field(refused) == "interest_rate_percent", rate
        assert "10.00 percent a month" in refused.json()["detail"]
    penalty = product | {"interest_rate_percent": "1.00", "penalty_rate_percent_per_month": "10.01"}
    assert _field(await post(client, "/lending/v1/products", penalty)) == "penalty_rate_percent_per_month"
    yearly = product | {"interest_rate_percent": "50", "rate_per": "year"}  # 4.17 % a month
    assert (await post(client, "/lending/v1/products", yearly)).status_code == 201
    at_the_cap = product | {"product_id": "at-the-cap", "interest_rate_percent": "10.00"}
    assert (await post(client, "/lending/v1/products", at_the_cap)).status_code == 201

    # Pawn tickets: area codes checked against the DOPA data, as groups' are.
    ticket = {
        "branch_code": "SK-01",
        "province_code": "27",
        "district_code": "2701",
        "customer_ref": "c-0001",
        "item_category": "gold",
        "item_description": "แหวนทองคำ",
        "appraised_value": "12000.00",
        "principal": "10000.00",
        "pledged_on": "2024-01-10",
        "payout": {"channel": "cash"},
    }
    for area, field in (
        ({"district_code": "9999"}, "district_code"),
        ({"district_code": "1001"}, "district_code"),  # Bangkok's Phra Nakhon, not in Sa Kaeo
        ({"province_code": "99", "district_code": "9901"}, "province_code"),
    ):
        refused = await post(pawnshop, "/lending/v1/pawn/tickets", ticket | area)
        assert _field(refused) == field, area
    assert await pool.fetchval("select count(*) from lending.events where stream_id like 'pawn-%'") == 0
    assert (await post(pawnshop, "/lending/v1/pawn/tickets", ticket)).status_code == 201
