"""What the dashboard's group page and campaign board read (#15 items 5 and 6): a group's balance sheet and
income statement as files, and the campaign's reports board saying where the caller may submit and download —
the officer's own area only — with the submission and the download going through the board's own routes.
One platform serves the module; each test makes its own group or campaign."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from libs.events.envelope import today_in_thailand
from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post
from tests.support.auth import bearer, signing_key_for_tests, user_token

settings, database_url, broker, running = shared_platform()


def _as(role: str, **area: str) -> dict[str, str]:
    return bearer(user_token([signing_key_for_tests()], subject=f"{role}-{'-'.join(area.values())}", role=role, **area))


async def test_a_groups_statements_as_files_with_their_totals(client: httpx.AsyncClient) -> None:
    gid = (await new_group(client, district_code="2704", founded_on="2023-01-01"))["group_id"]
    member = (await new_member(client, gid, joined_on="2023-12-01"))["member_id"]
    deposit = {"account": "sajja", "amount": "1200.00", "deposited_on": "2024-01-05"}
    assert (await post(client, f"/ledger/v1/members/{member}/deposits", deposit)).status_code == 201
    lines = [{"account": "1010", "debit": "30.25"}, {"account": "4030", "credit": "30.25"}]
    entry = {"posted_on": "2024-02-29", "memo": "ดอกเบี้ยเงินฝากธนาคาร", "lines": lines}
    assert (await post(client, f"/ledger/v1/groups/{gid}/journal-entries", entry)).status_code == 201
    spent = [{"account": "5010", "debit": "10.00"}, {"account": "1010", "credit": "10.00"}]
    entry = {"posted_on": "2024-03-02", "memo": "ค่าเครื่องเขียน", "lines": spent}
    assert (await post(client, f"/ledger/v1/groups/{gid}/journal-entries", entry)).status_code == 201

    # JSON: the subtotals the page shows beside the grand totals.
    sheet = (await client.get(f"/ledger/v1/groups/{gid}/balance-sheet", params={"as_of": "2024-03-31"})).json()
    assert (sheet["total_assets"], sheet["total_liabilities"], sheet["total_equity"]) == ("1220.25", "1200.00", "20.25")
    assert sheet["unallocated_profit"] == "20.25" and sheet["total_liabilities_and_equity"] == "1220.25"

    # CSV: the form as a committee prints it — sections, accounts, and the two equal totals.
    answer = await client.get(f"/ledger/v1/groups/{gid}/balance-sheet", params={"as_of": "2024-03-31", "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][0].startswith("งบแสดงฐานะการเงิน — ") and rows[2] == ["ณ วันที่ 31 มีนาคม 2567"]
    body = {row[1]: row[2] for row in rows[4:]}
    assert body["เงินสด"] == "1220.25" and body["รวมสินทรัพย์"] == "1220.25"
    assert (body["รวมหนี้สิน"], body["กำไรที่ยังไม่ได้จัดสรร"], body["รวมทุนและกองทุน"], body["รวมหนี้สินและทุน"]) == (
        "1200.00",
        "20.25",
        "20.25",
        "1220.25",
    )
    # The profit not yet allocated belongs to the funds' section, above its total.
    names = [row[1] for row in rows[4:]]
    assert names.index("ทุนและกองทุน") < names.index("กำไรที่ยังไม่ได้จัดสรร") < names.index("รวมทุนและกองทุน")

    # XLSX: the income statement of the year to that date, its figures numbers a SUM can add.
    params = {"from": "2024-01-01", "to": "2024-03-31", "format": "xlsx"}
    answer = await client.get(f"/ledger/v1/groups/{gid}/income-statement", params=params)
    assert answer.status_code == 200, answer.text
    book = load_workbook(io.BytesIO(answer.content))
    cells = [[c.value for c in row] for row in book.active.iter_rows()]  # type: ignore[union-attr]
    figures = {row[1]: row[2] for row in cells if row[1]}
    assert figures["รวมรายได้"] == 30.25 and figures["รวมค่าใช้จ่าย"] == 10 and figures["กำไร (ขาดทุน) สุทธิ"] == 20.25
    assert "ตั้งแต่วันที่ 1 มกราคม 2567 ถึงวันที่ 31 มีนาคม 2567" in [row[0] for row in cells]

    # Refusals stay 4xx problem+json: a format it does not have, a period the wrong way round, a group elsewhere.
    for path, query in (
        ("balance-sheet", {"format": "pdf"}),
        ("income-statement", {"from": "2024-04-01", "to": "2024-03-01", "format": "csv"}),
    ):
        refused = await client.get(f"/ledger/v1/groups/{gid}/{path}", params=query)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    elsewhere = await client.get(
        f"/ledger/v1/groups/{gid}/balance-sheet",
        params={"format": "xlsx"},
        headers=_as("district_officer", province_code="27", district_code="2701"),
    )
    assert elsewhere.status_code == 403 and elsewhere.headers["content-type"] == "application/problem+json"


async def test_the_reports_board_offers_submission_and_downloads_only_in_the_callers_area(
    client: httpx.AsyncClient,
) -> None:
    today = today_in_thailand()
    campaign = {
        "campaign_id": "board-actions-test",
        "name_th": "ทดสอบกระดานรายงาน",
        "name_en": "Board actions test",
        "starts_on": (today - timedelta(days=10)).isoformat(),
        "ends_on": (today + timedelta(days=10)).isoformat(),
        "provinces": ["27"],
        "rules": [{"kind": "special_deposit", "min_amount_satang": 10000}],
        "targets": {},
        "deadlines": {"district_report": (today + timedelta(days=20)).isoformat()},
    }
    assert (await post(client, "/campaign/v1/campaigns", campaign)).status_code == 201
    base = "/campaign/v1/campaigns/board-actions-test/reports"
    district = _as("district_officer", province_code="27", district_code="2705")
    province = _as("province_officer", province_code="27")
    auditor = _as("auditor")

    async def board(headers: dict[str, str], **params: str) -> dict[str, dict[str, Any]]:
        answer = await client.get(base, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return {i["code"]: i for i in answer.json()["items"]}

    # A district officer may submit and download their own district's report, and no other's.
    seen = await board(district, level="district", province="27")
    assert (seen["2705"]["can_submit"], seen["2705"]["can_export"]) == (True, True)
    assert (seen["2701"]["can_submit"], seen["2701"]["can_export"]) == (False, False)
    # A province officer: every district of the province, and the province's own row (alone).
    seen = await board(province, level="district", province="27")
    assert all(i["can_submit"] and i["can_export"] for i in seen.values()) and len(seen) == 9
    own = await board(province, level="province", province="27")
    assert list(own) == ["27"] and own["27"]["can_submit"] and own["27"]["state"] == "due"
    # An auditor reads and downloads everywhere and submits nowhere.
    seen = await board(auditor, level="province")
    assert seen["27"]["can_export"] and not seen["27"]["can_submit"]
    # The provinces' whole board stays the nation's; another province's row is not the officer's.
    for params, headers in (({"level": "province"}, province), ({"level": "province", "province": "10"}, province)):
        refused = await client.get(base, params=params, headers=headers)
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"

    # Submitting from the board: another district's report is refused (403), the officer's own goes in once.
    async def submit(code: str, headers: dict[str, str]) -> httpx.Response:
        body = {"level": "district", "code": code, "notes": "ส่งจากกระดาน"}
        return await client.post(base, json=body, headers=headers | {"Idempotency-Key": f"board-{code}-{len(headers)}"})

    refused = await submit("2701", district)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    sent = await submit("2705", district)
    assert sent.status_code == 201 and sent.json()["submitted_on"] == today.isoformat() and not sent.json()["late"]
    seen = await board(district, level="district", province="27")
    assert seen["2705"]["state"] == "submitted" and seen["2705"]["can_submit"] is False
    assert seen["2705"]["can_export"] is True
    again = await client.post(
        base, json={"level": "district", "code": "2705"}, headers=district | {"Idempotency-Key": "board-again"}
    )
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"

    # The download the board links: the submitted report as its form and as a spreadsheet; not another's.
    for fmt, media in (("pdf", "application/pdf"), ("xlsx", "application/vnd.openxmlformats")):
        got = await client.get(f"{base}/district/2705/export", params={"format": fmt}, headers=district)
        assert got.status_code == 200 and got.headers["content-type"].startswith(media), got.text[:200]
    other = await client.get(f"{base}/district/2701/export", params={"format": "pdf"}, headers=district)
    assert other.status_code == 403
