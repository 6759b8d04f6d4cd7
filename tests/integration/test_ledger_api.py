"""The ledger's HTTP contract: idempotent commands, field-level validation, problem+json. One platform
serves the module: each test makes its own groups and members."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from tests.conftest import shared_platform
from tests.support.api import national_id, new_group, new_member, post

settings, database_url, broker, running = shared_platform()


async def _member(client: httpx.AsyncClient) -> str:
    group = await new_group(client)
    return str((await new_member(client, group["group_id"]))["member_id"])


def deposit(amount: object = "50.00", **extra: object) -> dict[str, object]:
    return {"account": "special", "amount": amount, "deposited_on": "2024-01-05"} | extra


async def test_same_key_and_body_replays_the_first_response(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    member = await _member(client)
    key = str(uuid.uuid4())
    first = await post(client, f"/ledger/v1/members/{member}/deposits", deposit(), key)
    again = await post(client, f"/ledger/v1/members/{member}/deposits", deposit(), key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    count = await pool.fetchval("select count(*) from ledger.events where stream_id = $1", f"member-{member}")
    assert count == 2  # enrolment + one deposit


async def test_same_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    key = str(uuid.uuid4())
    assert (await post(client, f"/ledger/v1/members/{member}/deposits", deposit("50.00"), key)).status_code == 201
    refused = await post(client, f"/ledger/v1/members/{member}/deposits", deposit("60.00"), key)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:sajja:problem:idempotency-key-reused"


async def test_a_post_without_idempotency_key_is_refused(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    response = await client.post(f"/ledger/v1/members/{member}/deposits", json=deposit())
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


async def test_concurrent_retries_of_one_request_post_once(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    member = await _member(client)
    key = str(uuid.uuid4())
    responses = await asyncio.gather(
        *(post(client, f"/ledger/v1/members/{member}/deposits", deposit("75.00"), key) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["transaction_id"] for r in responses}) == 1
    deposits = await pool.fetchval(
        "select count(*) from ledger.events where stream_id = $1 and event_type = 'ledger.SavingsDeposited'",
        f"member-{member}",
    )
    assert deposits == 1


async def test_concurrent_deposits_to_one_member_all_land(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    responses = await asyncio.gather(
        *(post(client, f"/ledger/v1/members/{member}/deposits", deposit("10.00")) for _ in range(10))
    )
    assert [r.status_code for r in responses] == [201] * 10
    assert {r.json()["balance"] for r in responses} == {f"{10 * i}.00" for i in range(1, 11)}
    last = max(r.json()["position"]["ledger"] for r in responses)
    balance = await client.get(f"/reporting/v1/members/{member}/balances", params={"after": f"ledger:{last}"})
    assert balance.json()["special"] == "100.00"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("-5.00", "decimal string"),
        ("abc", "decimal string"),
        ("12.345", "at most two places"),
        (12.5, "not a JSON number"),
        ("10000000.01", "must not exceed"),
        ("1e5", "decimal string"),
    ],
)
async def test_bad_amounts_get_a_field_level_error(client: httpx.AsyncClient, amount: object, message: str) -> None:
    member = await _member(client)
    response = await post(client, f"/ledger/v1/members/{member}/deposits", deposit(amount))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["amount"]
    assert message in errors[0]["message"]


async def test_unknown_fields_and_accounts_are_refused(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    response = await post(client, f"/ledger/v1/members/{member}/deposits", deposit(accout_note="typo"))
    assert response.status_code == 422
    assert {"field": "accout_note", "message": "unknown field"} in response.json()["errors"]
    response = await post(client, f"/ledger/v1/members/{member}/deposits", deposit(account="checking"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "account"


async def test_deposit_to_unknown_member_is_404(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/ledger/v1/members/{uuid.uuid4()}/deposits", deposit())
    assert response.status_code == 404
    assert response.json()["type"] == "urn:sajja:problem:not-found"


async def test_member_enrolment_rules(client: httpx.AsyncClient) -> None:
    group = await new_group(client)
    gid = group["group_id"]
    await new_member(client, gid, seed=4242)
    duplicate = await post(
        client,
        f"/ledger/v1/groups/{gid}/members",
        {"national_id": national_id(4242), "full_name": "ซ้ำ", "joined_on": "2024-01-01", "monthly_commitment": "50.00"},
    )
    assert duplicate.status_code == 409
    bad_digit = national_id(4343)[:12] + str((int(national_id(4343)[12]) + 1) % 10)
    typo = await post(
        client,
        f"/ledger/v1/groups/{gid}/members",
        {"national_id": bad_digit, "full_name": "พิมพ์ผิด", "joined_on": "2024-01-01", "monthly_commitment": "50.00"},
    )
    assert typo.status_code == 422
    assert typo.json()["errors"][0]["field"] == "national_id"
    early = await post(
        client,
        f"/ledger/v1/groups/{gid}/members",
        {
            "national_id": national_id(4444),
            "full_name": "ก่อนตั้งกลุ่ม",
            "joined_on": "1990-01-01",
            "monthly_commitment": "50.00",
        },
    )
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "joined_on"


async def test_unknown_area_codes_are_refused_with_the_nearest_valid_names(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        "/ledger/v1/groups",
        {"name": "กลุ่ม", "province_code": "28", "district_code": "2801", "founded_on": "2000-01-01"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "province_code"
    assert "27 สระแก้ว (Sa Kaeo)" in error["message"]


async def test_group_area_codes_are_checked(client: httpx.AsyncClient) -> None:
    response = await post(
        client,
        "/ledger/v1/groups",
        {"name": "กลุ่ม", "province_code": "27", "district_code": "1001", "founded_on": "2000-01-01"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "district_code"
    response = await post(
        client,
        "/ledger/v1/groups",
        {"name": "กลุ่ม", "province_code": "2", "district_code": "2701", "founded_on": "2000-01-01"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "province_code"


async def test_personal_data_stays_out_of_events(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    group = await new_group(client)
    member = await new_member(client, group["group_id"], seed=777, full_name="บุญมี ศรีสุข", phone="0812345678")
    payloads = [
        r["payload"]
        for r in await pool.fetch(
            "select payload::text as payload from ledger.events where stream_id = $1", f"member-{member['member_id']}"
        )
    ]
    assert payloads
    for text in payloads:
        assert national_id(777) not in text and "บุญมี" not in text and "0812345678" not in text


async def test_balance_read_waits_for_its_position_then_times_out(client: httpx.AsyncClient, running: object) -> None:
    from deploy.platform import RunningPlatform

    assert isinstance(running, RunningPlatform)
    member = await _member(client)
    waited = running.platform.settings.read_wait_timeout_seconds
    running.platform.settings.read_wait_timeout_seconds = 0.3
    try:
        response = await client.get(f"/reporting/v1/members/{member}/balances", params={"after": "ledger:999999999"})
    finally:
        running.platform.settings.read_wait_timeout_seconds = waited
    assert response.status_code == 504
    assert "ledger position 999999999" in response.json()["detail"]
    bad = await client.get(f"/reporting/v1/members/{member}/balances", params={"after": "999"})
    assert bad.status_code == 422


async def test_concurrent_retries_of_an_enrolment_all_get_the_first_response(client: httpx.AsyncClient) -> None:
    group = await new_group(client)
    body = {
        "national_id": national_id(5150),
        "full_name": "ทดสอบ พร้อมกัน",
        "joined_on": "2024-01-01",
        "monthly_commitment": "50.00",
    }
    key = str(uuid.uuid4())
    responses = await asyncio.gather(
        *(post(client, f"/ledger/v1/groups/{group['group_id']}/members", body, key) for _ in range(6))
    )
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert len({r.json()["member_id"] for r in responses}) == 1


async def test_commitment_change_over_http(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    changed = await post(
        client,
        f"/ledger/v1/members/{member}/commitment",
        {"monthly_commitment": "150.00", "effective_on": "2024-01-15"},
    )
    assert changed.status_code == 201, changed.text
    body = changed.json()
    assert (body["previous_monthly_commitment"], body["monthly_commitment"], body["effective_month"]) == (
        "100.00",
        "150.00",
        "2024-01",
    )
    state = await client.get(f"/ledger/v1/members/{member}")
    assert state.json()["monthly_commitment"] == "150.00"
    same = await post(
        client,
        f"/ledger/v1/members/{member}/commitment",
        {"monthly_commitment": "150.00", "effective_on": "2024-02-01"},
    )
    assert same.status_code == 422
    assert same.json()["errors"][0]["field"] == "monthly_commitment"


async def test_group_and_its_members_cursor_paginated(client: httpx.AsyncClient) -> None:
    from services.ledger.domain import national_id_check_digit

    group = await new_group(client)
    gid = group["group_id"]
    stateless = "0" + "12345678901"
    stateless += str(national_id_check_digit(stateless))
    first = await new_member(client, gid, seed=9001)
    second = await new_member(client, gid, national_id=stateless, full_name="ไม่มีสถานะ")
    third = await new_member(client, gid, seed=9003)
    assert second["flags"] == ["no_registration_status"] and first["flags"] == []

    fetched = await client.get(f"/ledger/v1/groups/{gid}")
    assert fetched.status_code == 200 and fetched.json()["name"] == group["name"]
    page = await client.get(f"/ledger/v1/groups/{gid}/members", params={"limit": 2})
    assert [m["member_id"] for m in page.json()["items"]] == [first["member_id"], second["member_id"]]
    assert page.json()["items"][1]["flags"] == ["no_registration_status"]
    rest = await client.get(page.json()["next"])
    assert [m["member_id"] for m in rest.json()["items"]] == [third["member_id"]]
    assert rest.json()["next"] is None
    missing = await client.get(f"/ledger/v1/groups/{uuid.uuid4()}/members")
    assert missing.status_code == 404


async def test_withdrawals_over_http(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    url = f"/ledger/v1/members/{member}"
    assert (await post(client, f"{url}/deposits", deposit("100.00"))).status_code == 201
    taken = await post(
        client, f"{url}/withdrawals", {"account": "special", "amount": "30.00", "withdrawn_on": "2024-02-01"}
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["balance"] == "70.00"
    short = await post(
        client, f"{url}/withdrawals", {"account": "special", "amount": "70.01", "withdrawn_on": "2024-02-01"}
    )
    assert short.status_code == 409
    assert short.json()["errors"][0]["field"] == "amount"
    sajja = await post(
        client, f"{url}/withdrawals", {"account": "sajja", "amount": "1.00", "withdrawn_on": "2024-02-01"}
    )
    assert sajja.status_code == 409 and "leaves" in sajja.json()["detail"]
    balance = await client.get(
        f"/reporting/v1/members/{member}/balances", params={"after": f"ledger:{taken.json()['position']['ledger']}"}
    )
    assert balance.json()["special"] == "70.00"


async def test_group_rules_are_data(client: httpx.AsyncClient) -> None:
    lenient = await new_group(
        client,
        rules={
            "share_value": "100.00",
            "min_monthly_commitment": "100.00",
            "max_monthly_commitment": "1000.00",
            "sajja_withdrawable_before_exit": True,
        },
    )
    assert lenient["rules"]["share_value_satang"] == 10000
    off_share = await post(
        client,
        f"/ledger/v1/groups/{lenient['group_id']}/members",
        {
            "national_id": national_id(6161),
            "full_name": "ครึ่งหุ้น",
            "joined_on": "2024-01-01",
            "monthly_commitment": "150.00",
        },
    )
    assert off_share.status_code == 422 and off_share.json()["errors"][0]["field"] == "monthly_commitment"
    member = await new_member(client, lenient["group_id"], seed=6262, monthly_commitment="200.00")
    url = f"/ledger/v1/members/{member['member_id']}"
    await post(client, f"{url}/deposits", {"account": "sajja", "amount": "200.00", "deposited_on": "2024-01-05"})
    early = await post(
        client, f"{url}/withdrawals", {"account": "sajja", "amount": "50.00", "withdrawn_on": "2024-02-01"}
    )
    assert early.status_code == 201 and early.json()["balance"] == "150.00"
    bad = await post(
        client,
        "/ledger/v1/groups",
        {
            "name": "กลุ่ม",
            "province_code": "27",
            "district_code": "2701",
            "founded_on": "2000-01-01",
            "rules": {"min_monthly_commitment": "500.00", "max_monthly_commitment": "100.00"},
        },
    )
    assert bad.status_code == 422


async def test_consents_have_a_full_history_and_withdrawal_takes_effect_at_once(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    url = f"/ledger/v1/members/{member}/consents"
    grant = {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "2024-01"}
    assert (await post(client, url, grant)).status_code == 201
    assert (await post(client, url, grant)).status_code == 409  # already in force
    assert (await post(client, url, grant | {"notice_version": None})).status_code == 422
    state = (await client.get(url)).json()
    assert [(c["partner"], c["notice_version"]) for c in state["in_force"]] == [("gsb", "2024-01")]
    withdraw = {"partner": "gsb", "purpose": "loan-referral", "granted": False}
    assert (await post(client, url, withdraw)).status_code == 201
    state = (await client.get(url)).json()
    assert state["in_force"] == []
    assert [h["granted"] for h in state["history"]] == [True, False]
    assert (await post(client, url, withdraw)).status_code == 409


async def test_exit_pays_out_and_closes_the_member(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    url = f"/ledger/v1/members/{member}"
    await post(client, f"{url}/deposits", {"account": "sajja", "amount": "100.00", "deposited_on": "2024-01-05"})
    await post(client, f"{url}/deposits", deposit("50.00"))
    exited = await post(client, f"{url}/exit", {"exited_on": "2024-03-01", "reason": "ย้ายถิ่นฐาน"})
    assert exited.status_code == 201, exited.text
    assert exited.json()["paid_out"] == {"sajja": "100.00", "special": "50.00", "total": "150.00"}
    state = (await client.get(url)).json()
    assert state["status"] == "exited" and state["balances"]["total"] == "0.00"
    late = await post(client, f"{url}/deposits", deposit("10.00"))
    assert late.status_code == 409 and "left the group" in late.json()["detail"]
    assert (await post(client, f"{url}/exit", {"exited_on": "2024-03-02"})).status_code == 409
    balance = await client.get(
        f"/reporting/v1/members/{member}/balances", params={"after": f"ledger:{exited.json()['position']['ledger']}"}
    )
    assert balance.json()["total"] == "0.00"


async def test_corrections_are_reversals(client: httpx.AsyncClient) -> None:
    member = await _member(client)
    url = f"/ledger/v1/members/{member}"
    paid_in = (await post(client, f"{url}/deposits", deposit("100.00"))).json()
    taken = (
        await post(
            client, f"{url}/withdrawals", {"account": "special", "amount": "30.00", "withdrawn_on": "2024-02-01"}
        )
    ).json()
    below_zero = await post(client, f"{url}/reversals", {"transaction_id": paid_in["transaction_id"], "reason": "ซ้ำ"})
    assert below_zero.status_code == 409
    undone = await post(client, f"{url}/reversals", {"transaction_id": taken["transaction_id"], "reason": "ผิดคน"})
    assert undone.status_code == 201 and undone.json()["balance"] == "100.00"
    again = await post(client, f"{url}/reversals", {"transaction_id": taken["transaction_id"], "reason": "ซ้ำ"})
    assert again.status_code == 409
    unknown = await post(client, f"{url}/reversals", {"transaction_id": str(uuid.uuid4()), "reason": "?"})
    assert unknown.status_code == 404
    last = await post(client, f"{url}/reversals", {"transaction_id": paid_in["transaction_id"], "reason": "ซ้ำ"})
    assert last.status_code == 201 and last.json()["balance"] == "0.00"
    balance = await client.get(
        f"/reporting/v1/members/{member}/balances", params={"after": f"ledger:{last.json()['position']['ledger']}"}
    )
    assert balance.json()["special"] == "0.00"


async def test_erasure_removes_personal_data_and_keeps_the_books(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    group = await new_group(client)
    member = await new_member(client, group["group_id"], seed=8080, full_name="ลบ ข้อมูล", phone="0899999999")
    url = f"/ledger/v1/members/{member['member_id']}"
    await post(client, f"{url}/deposits", deposit("40.00"))
    erased = await post(client, f"{url}/erasure", {"confirm": True})
    assert erased.status_code == 201, erased.text
    row = await pool.fetchrow(
        "select national_id, full_name, phone, erased_at from ledger.member_register where member_id = $1",
        uuid.UUID(member["member_id"]),
    )
    assert row is not None and (row["national_id"], row["full_name"], row["phone"]) == (None, None, None)
    assert row["erased_at"] is not None
    listed = (await client.get(f"/ledger/v1/groups/{group['group_id']}/members")).json()["items"]
    assert listed[0]["full_name"] is None
    assert (await client.get(url)).json()["balances"]["special"] == "40.00"
    assert (await post(client, f"{url}/erasure", {"confirm": True})).status_code == 409


async def test_group_books_balance_and_reconcile(client: httpx.AsyncClient) -> None:
    group = await new_group(client)
    gid = group["group_id"]
    a = (await new_member(client, gid, seed=7001))["member_id"]
    b = (await new_member(client, gid, seed=7002))["member_id"]
    await post(
        client,
        f"/ledger/v1/members/{a}/deposits",
        {"account": "sajja", "amount": "100.00", "deposited_on": "2024-01-05"},
    )
    await post(client, f"/ledger/v1/members/{a}/deposits", deposit("50.00"))
    await post(
        client,
        f"/ledger/v1/members/{b}/deposits",
        {"account": "sajja", "amount": "200.00", "deposited_on": "2024-02-05"},
    )
    await post(
        client,
        f"/ledger/v1/members/{a}/withdrawals",
        {"account": "special", "amount": "20.00", "withdrawn_on": "2024-02-10"},
    )
    await post(client, f"/ledger/v1/members/{b}/exit", {"exited_on": "2024-03-01"})

    tb = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
    assert tb["balanced"] is True and tb["total_debit"] == tb["total_credit"]
    by_code = {acc["code"]: acc for acc in tb["accounts"]}
    assert by_code["1010"]["balance"] == "130.00"  # 100 + 50 + 200 - 20 - 200
    assert by_code["2010"]["balance"] == "-100.00" and by_code["2020"]["balance"] == "-30.00"
    january = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance", params={"as_of": "2024-01-31"})).json()
    assert {acc["code"]: acc["balance"] for acc in january["accounts"]}["1010"] == "150.00"

    rec = (await client.get(f"/ledger/v1/groups/{gid}/reconciliation")).json()
    assert rec["reconciled"] is True
    assert rec["journal"] == rec["members"] == {"sajja": "100.00", "special": "30.00"}


async def test_entrance_fees_are_group_income_in_the_books(client: httpx.AsyncClient) -> None:
    group = await new_group(client, rules={"entrance_fee": "20.00"})
    first = await new_member(client, group["group_id"], seed=7101)
    await new_member(client, group["group_id"], seed=7102)
    assert first["entrance_fee"] == "20.00"
    tb = (await client.get(f"/ledger/v1/groups/{group['group_id']}/trial-balance")).json()
    balances = {acc["code"]: acc["balance"] for acc in tb["accounts"]}
    assert tb["balanced"] and balances["1010"] == "40.00" and balances["4010"] == "-40.00"
    assert (await client.get(f"/ledger/v1/groups/{group['group_id']}/reconciliation")).json()["reconciled"]


async def test_beneficiaries_with_shares_live_in_the_register(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    group = await new_group(client)
    heirs = [
        {"full_name": "ลูกสาว ใจดี", "relationship": "บุตร", "share_percent": "60"},
        {"full_name": "สามี ใจดี", "relationship": "คู่สมรส", "share_percent": "40.00"},
    ]
    member = await new_member(client, group["group_id"], seed=7201, beneficiaries=heirs)
    rows = await pool.fetch(
        "select full_name, share_percent from ledger.member_beneficiaries where member_id = $1 order by position",
        uuid.UUID(member["member_id"]),
    )
    assert [(r["full_name"], str(r["share_percent"])) for r in rows] == [("ลูกสาว ใจดี", "60.00"), ("สามี ใจดี", "40.00")]
    uneven = await post(
        client,
        f"/ledger/v1/groups/{group['group_id']}/members",
        {
            "national_id": national_id(7202),
            "full_name": "ไม่ครบ",
            "joined_on": "2024-01-01",
            "monthly_commitment": "50.00",
            "beneficiaries": heirs[:1],
        },
    )
    assert uneven.status_code == 422 and uneven.json()["errors"][0]["field"] == "beneficiaries"
    events = await pool.fetch(
        "select payload::text as p from ledger.events where stream_id = $1", f"member-{member['member_id']}"
    )
    assert all("ลูกสาว" not in r["p"] for r in events)
    await post(client, f"/ledger/v1/members/{member['member_id']}/erasure", {"confirm": True})
    erased = await pool.fetch(
        "select full_name from ledger.member_beneficiaries where member_id = $1", uuid.UUID(member["member_id"])
    )
    assert [r["full_name"] for r in erased] == [None, None]
