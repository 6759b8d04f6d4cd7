"""What an outside probe found leaking or loose (issue 12, findings 7 and 9), closed: readiness details
only for operations staff, idempotency keys that belong to their caller, campaign boards kept from group
committees, pawn events kept from auditors of areas without pawn:read, and live streams capped per caller.
One platform serves the whole module: each test makes and reads only its own records."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from deploy.http_server import http_server
from libs.infra.embedded import free_port
from tests.conftest import shared_platform
from tests.support.api import eventually, new_group, new_member, post
from tests.support.auth import bearer, partner_token, user_token

settings, database_url, broker, running = shared_platform()


def _as(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url), timeout=30, headers=headers)


async def test_readiness_says_up_or_down_to_anyone_and_details_only_to_operations(
    client: httpx.AsyncClient, running: Any
) -> None:
    anonymous = _as(client)
    for path in ("/readyz", "/ledger/readyz"):
        public = await anonymous.get(path)
        assert public.status_code in (200, 503)
        body = public.json()
        assert "checks" not in str(body) and "pending_events" not in str(body) and "applied" not in str(body)
        assert body["ready"] in (True, False)
    keys = running.platform.settings.auth_signing_keys
    officer = bearer(user_token(keys, "officer", "district_officer", province_code="27", district_code="2701"))
    assert "checks" not in str((await anonymous.get("/readyz", headers=officer)).json())
    detailed = (await client.get("/readyz")).json()  # the department: ops:read
    assert "relay:" in str(detailed["services"]["ledger"]["checks"])
    assert "checks" in (await client.get("/ledger/readyz")).json()
    await anonymous.aclose()


async def test_an_idempotency_key_belongs_to_its_caller(client: httpx.AsyncClient, running: Any) -> None:
    keys = running.platform.settings.auth_signing_keys
    gid = (await new_group(client))["group_id"]
    member = (await new_member(client, gid))["member_id"]
    one = bearer(user_token(keys, "officer-one", "district_officer", province_code="27", district_code="2701"))
    two = bearer(user_token(keys, "officer-two", "district_officer", province_code="27", district_code="2701"))
    url = f"/ledger/v1/members/{member}/deposits"
    body = {"account": "special", "amount": "75.00", "deposited_on": "2024-01-05"}
    first = await client.post(url, json=body, headers=one | {"Idempotency-Key": "shared-key"})
    assert first.status_code == 201, first.text
    replay = await client.post(url, json=body, headers=one | {"Idempotency-Key": "shared-key"})
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == first.json()
    # Another caller's request under the same key is its own: it neither replays nor is refused.
    theirs = await client.post(url, json=body, headers=two | {"Idempotency-Key": "shared-key"})
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["transaction_id"] != first.json()["transaction_id"]
    assert theirs.json()["balance"] == "150.00"
    other_body = await client.post(url, json=body | {"amount": "5.00"}, headers=two | {"Idempotency-Key": "k-2"})
    assert other_body.status_code == 201
    reused = await client.post(url, json=body | {"amount": "6.00"}, headers=two | {"Idempotency-Key": "k-2"})
    assert reused.status_code == 422  # the same caller's key with another body is still refused


async def test_campaign_boards_are_for_officers_not_group_committees(client: httpx.AsyncClient, running: Any) -> None:
    keys = running.platform.settings.auth_signing_keys
    gid = (await new_group(client))["group_id"]
    board = "/campaign/v1/campaigns/savings-50y/reports"
    params = {"level": "district", "province": "27"}
    committee = bearer(user_token(keys, "committee-1", "committee", province_code="27", group_id=gid))
    assert (await client.get(board, params=params, headers=committee)).status_code == 403
    district = bearer(user_token(keys, "officer-2701", "district_officer", province_code="27", district_code="2701"))
    assert (await client.get(board, params=params, headers=district)).status_code == 200
    province = bearer(user_token(keys, "officer-27", "province_officer", province_code="27"))
    assert (await client.get(board, params=params, headers=province)).status_code == 200
    elsewhere = bearer(user_token(keys, "officer-10", "province_officer", province_code="10"))
    assert (await client.get(board, params=params, headers=elsewhere)).status_code == 403


async def test_the_audit_shows_pawn_events_only_to_those_who_may_read_them(
    client: httpx.AsyncClient, running: Any
) -> None:
    keys = running.platform.settings.auth_signing_keys
    pawnshop = _as(client, bearer(partner_token(keys, "pawnshop", frozenset({"pawn:read", "pawn:write"}))))
    pledge = {
        "branch_code": "SK-01",
        "province_code": "27",
        "district_code": "2701",
        "customer_ref": "c-audit-1",
        "item_category": "gold",
        "item_description": "แหวนทองคำ",
        "appraised_value": "12000.00",
        "principal": "10000.00",
        "pledged_on": "2024-01-10",
        "payout": {"channel": "promptpay", "promptpay_id": "0812345678"},
    }
    made = await post(pawnshop, "/lending/v1/pawn/tickets", pledge)
    assert made.status_code == 201, made.text
    await new_group(client)  # a ledger event in the same province, which the officer does see

    async def pawn_audited() -> list[dict[str, Any]] | None:
        items = (await client.get("/reporting/v1/audit", params={"province": "27", "limit": 1000})).json()["items"]
        return items if any(i["stream_id"].startswith("pawn-") for i in items) else None

    everything = await eventually(pawn_audited)
    assert any(i["service"] == "ledger" for i in everything)
    officer = bearer(user_token(keys, "officer-27", "province_officer", province_code="27"))
    seen = (await client.get("/reporting/v1/audit", params={"province": "27", "limit": 1000}, headers=officer)).json()
    assert seen["items"] and not any(i["stream_id"].startswith("pawn-") for i in seen["items"])
    auditor = bearer(user_token(keys, "auditor-1", "auditor"))
    audited = (
        await client.get("/reporting/v1/audit", params={"province": "27", "limit": 1000}, headers=auditor)
    ).json()
    assert any(i["stream_id"].startswith("pawn-") for i in audited["items"])
    await pawnshop.aclose()


async def test_live_streams_are_capped_per_caller(running: Any) -> None:
    served = running.platform.settings.model_copy(update={"host": "127.0.0.1", "port": free_port()})
    server = http_server(running.gateway, served)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    keys = running.platform.settings.auth_signing_keys
    busy = bearer(user_token(keys, "many-tabs", "auditor"))
    calm = bearer(user_token(keys, "one-tab", "auditor"))
    cap = running.platform.settings.live_streams_per_caller
    url = f"http://127.0.0.1:{served.port}/reporting/v1/live"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            opened = []
            for _ in range(cap):
                stream = await http.send(http.build_request("GET", url, headers=busy), stream=True)
                assert stream.status_code == 200
                opened.append(stream)
            refused = await http.get(url, headers=busy)
            assert refused.status_code == 429 and refused.headers["retry-after"]
            other = await http.send(http.build_request("GET", url, headers=calm), stream=True)
            assert other.status_code == 200  # another caller is not held back
            await other.aclose()
            await opened.pop().aclose()

            async def reopened() -> bool | None:
                again = await http.send(http.build_request("GET", url, headers=busy), stream=True)
                status = again.status_code
                await again.aclose() if status != 200 else opened.append(again)
                return True if status == 200 else None

            assert await eventually(reopened, timeout=10)  # a closed stream gives its place back
            for stream in opened:
                await stream.aclose()
    finally:
        server.should_exit = True
        await task


async def test_erasure_needs_an_explicit_confirmation(client: httpx.AsyncClient, pool: Any) -> None:
    gid = (await new_group(client))["group_id"]
    member = (await new_member(client, gid, full_name="ยืนยัน ก่อนลบ"))["member_id"]
    url = f"/ledger/v1/members/{member}/erasure"
    for body in ({}, {"confirm": False}, {"confirm": "yes"}):
        refused = await post(client, url, body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "confirm", refused.text
    empty = await client.post(url, headers={"Idempotency-Key": "no-body"})
    assert empty.status_code == 422
    kept = await pool.fetchval("select full_name from ledger.member_register where member_id = $1::uuid", member)
    assert kept == "ยืนยัน ก่อนลบ"
    text = "/ledger/v1/free-texts/0190f0a4-0000-7000-8000-000000000001/erasure"
    assert (await post(client, text, {})).status_code == 422
    assert (await post(client, url, {"confirm": True})).status_code == 201
    assert (
        await pool.fetchval("select full_name from ledger.member_register where member_id = $1::uuid", member) is None
    )


async def test_the_journal_is_read_in_pages_in_business_date_order(client: httpx.AsyncClient) -> None:
    gid = (await new_group(client))["group_id"]
    member = (await new_member(client, gid))["member_id"]
    for day in ("2024-01-09", "2024-01-03", "2024-01-07", "2024-01-05", "2024-01-05", "2024-01-01"):
        made = await post(
            client,
            f"/ledger/v1/members/{member}/deposits",
            {"account": "special", "amount": "10.00", "deposited_on": day},
        )
        assert made.status_code == 201, made.text
    url = f"/ledger/v1/groups/{gid}/journal"
    whole = (await client.get(url)).json()
    assert whole["next"] is None and len(whole["entries"]) == 6
    pages, after = [], None
    while True:
        page = (await client.get(url, params={"limit": 2} | ({"after": after} if after else {}))).json()
        assert len(page["entries"]) <= 2
        pages.extend(page["entries"])
        after = page["next"]
        if after is None:
            break
    assert pages == whole["entries"]
    dates = [e["on"] for e in pages]
    assert dates == sorted(dates)
    assert (await client.get(url, params={"after": "2024-13-01:3"})).status_code == 422


async def test_figures_and_codes_take_only_the_digits_0_to_9(client: httpx.AsyncClient) -> None:
    group = {"name": "กลุ่มเลขไทย", "province_code": "๒๗", "district_code": "2701", "founded_on": "2020-01-01"}
    assert (await post(client, "/ledger/v1/groups", group)).status_code == 422
    product = {
        "product_id": "thai-digits",
        "name_th": "ทดลอง",
        "interest_method": "flat",
        "rate_per": "month",
        "interest_rate_percent": "๑",
        "min_term_months": 1,
        "max_term_months": 12,
    }
    refused = await post(client, "/lending/v1/products", product)
    assert refused.status_code == 422 and "interest_rate_percent" in refused.text
