"""Social-policy programme loans: eligibility, the budget drawn and refused beyond it, repayments
revolving back, outstanding and growth per area — and none of it in the savings group's books."""

from __future__ import annotations

import asyncpg
import httpx

from tests.support.api import eventually, new_group, post
from tests.support.lending import as_user, known_member

PROGRAMME = {
    "programme_id": "poor-households-2024",
    "name_th": "สินเชื่อครัวเรือนยากจน ปี 2567",
    "name_en": "Poor-household credit 2024",
    "funding_source": "local_budget",
    "funder": "อบจ.สระแก้ว",
    "interest_method": "flat",
    "interest_rate_percent": "12.00",
    "rate_per": "year",
    "max_amount": "30000.00",
    "max_term_months": 12,
    "eligibility_required": ["poor_household"],
    "province_code": "27",
    "budget": "50000.00",
    "funded_on": "2024-01-02",
}


async def _lend(client: httpx.AsyncClient, member: str, amount: str) -> tuple[str, httpx.Response]:
    body = {
        "member_id": member,
        "programme_id": "poor-households-2024",
        "principal": amount,
        "term_months": 10,
        "purpose": "เลี้ยงไก่ไข่",
        "eligibility": {"poor_household": True},
        "applied_on": "2024-01-10",
    }
    applied = await as_user(client, "officer", "/lending/v1/loans", body)
    assert applied.status_code == 201, applied.text
    loan = applied.json()["loan_id"]
    assert (await as_user(client, "head", f"/lending/v1/loans/{loan}/approvals", {})).status_code == 201
    return loan, await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": "2024-01-15"})


async def test_a_programme_lends_its_budget_and_no_more_and_repayments_revolve(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    launched = await post(client, "/lending/v1/programmes", PROGRAMME)
    assert launched.status_code == 201, launched.text
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    a, b, c = [await known_member(client, gid) for _ in range(3)]

    not_poor = await as_user(
        client,
        "officer",
        "/lending/v1/loans",
        {
            "member_id": a,
            "programme_id": "poor-households-2024",
            "principal": "1000.00",
            "term_months": 6,
            "purpose": "x",
        },
    )
    assert not_poor.status_code == 409 and "poor_household" in not_poor.json()["detail"]

    first, paid_out = await _lend(client, a, "30000.00")
    assert paid_out.status_code == 202 and paid_out.json()["status"] == "active"  # no saga: the budget pays
    second, _ = await _lend(client, b, "20000.00")
    third, refused = await _lend(client, c, "1.00")
    assert refused.status_code == 409 and "0.00 baht left to lend" in refused.json()["detail"]

    # Flat 1 % a month on 30,000.00 over 10 months: 3,000.00 principal + 300.00 interest a month.
    repaid = await post(client, f"/lending/v1/loans/{first}/repayments", {"amount": "3300.00", "paid_on": "2024-02-15"})
    assert repaid.status_code == 201, repaid.text
    assert (repaid.json()["principal"], repaid.json()["interest"]) == ("3000.00", "300.00")
    # The 3,000.00 principal revolved back: the third loan can now be paid out.
    assert (
        await post(client, f"/lending/v1/loans/{third}/disbursements", {"disbursed_on": "2024-02-20"})
    ).status_code == 202

    figures = (
        await client.get(
            "/lending/v1/programmes/poor-households-2024",
            params={"on": "2024-02-29", "since": "2024-01-31", "level": "province"},
        )
    ).json()
    assert (figures["funded"], figures["lent"], figures["returned"]) == ("50000.00", "50001.00", "3000.00")
    assert (figures["outstanding"], figures["available"]) == ("47001.00", "2999.00")
    assert figures["by_area"] == [
        {"code": "27", "outstanding": "47001.00", "lent": "50001.00", "returned": "3000.00", "growth_since": "-2999.00"}
    ]
    topped = await post(
        client,
        "/lending/v1/programmes/poor-households-2024/funding",
        {"amount": "10000.00", "funded_on": "2024-03-01", "note": "งบเพิ่มเติม"},
    )
    assert topped.status_code == 201 and topped.json()["available"] == "12999.00"

    # The group's books never saw the programme's money: the ledger read the repayment and left it alone.
    version = (await client.get(f"/lending/v1/loans/{first}")).json()["version"]

    async def ledger_read_the_repayment() -> bool:
        applied = await pool.fetchval(
            "select stream_version from ledger.projector_streams"
            " where projector = 'lending_requests' and stream_id = $1",
            f"loan-{first}",
        )
        return applied is not None and applied >= version

    await eventually(ledger_read_the_repayment)
    assert await pool.fetchval("select count(*) from ledger.inbox") == 0
    trial = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
    assert {r["code"]: r["balance"] for r in trial["accounts"]}["1100"] == "0.00"
    assert second
