"""The month's collection sheet: every member of the month with the commitment due and what they paid in it, and
a key per line that makes sending the sheet twice post nothing twice."""

from __future__ import annotations

import io

import httpx
import pypdf

from libs.events.settings import Settings
from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post
from tests.support.auth import bearer, user_token

settings, database_url, broker, running = shared_platform()


async def test_the_sheet_lists_the_months_members_with_what_is_due_and_posts_each_line_once(
    client: httpx.AsyncClient,
) -> None:
    gid = (await new_group(client, founded_on="2023-06-01", rules={"collection_day": 10}))["group_id"]
    paid = (await new_member(client, gid, joined_on="2023-12-01", monthly_commitment="100.00"))["member_id"]
    owing = (await new_member(client, gid, joined_on="2024-01-15", monthly_commitment="200.00"))["member_id"]
    later = (await new_member(client, gid, joined_on="2024-05-01"))["member_id"]
    deposits = [
        (paid, {"account": "sajja", "amount": "100.00", "deposited_on": "2024-03-05"}),
        (owing, {"account": "special", "amount": "40.00", "deposited_on": "2024-03-06"}),
        (owing, {"account": "sajja", "amount": "50.00", "deposited_on": "2024-02-06"}),  # another month's
    ]
    for member, body in deposits:
        assert (await post(client, f"/ledger/v1/members/{member}/deposits", body)).status_code == 201

    url = f"/ledger/v1/groups/{gid}/collection-sheet"
    sheet = (await client.get(url, params={"month": "2024-03"})).json()
    assert (sheet["month"], sheet["collected_on"], sheet["month_ended"], sheet["closed"]) == (
        "2024-03",
        "2024-03-10",  # the group's collection day
        True,
        False,
    )
    lines = {line["member_id"]: line for line in sheet["lines"]}
    assert set(lines) == {paid, owing}  # the member who joined in May is not on March's sheet
    assert later not in lines
    assert (lines[paid]["commitment"], lines[paid]["sajja_paid"], lines[paid]["sajja_to_pay"]) == (
        "100.00",
        "100.00",
        "0.00",
    )
    assert (lines[owing]["sajja_to_pay"], lines[owing]["special_paid"]) == ("200.00", "40.00")
    assert lines[owing]["full_name"] == "สมศรี ใจดี"
    assert sheet["totals"] == {"commitment": "300.00", "sajja_paid": "100.00", "special_paid": "40.00"}
    # Keys are the sheet's and the line's: the same on every reading, another in a new round.
    again = (await client.get(url, params={"month": "2024-03"})).json()
    assert [line["keys"] for line in again["lines"]] == [line["keys"] for line in sheet["lines"]]
    second = (await client.get(url, params={"month": "2024-03", "round": 2})).json()
    assert {k for line in second["lines"] for k in line["keys"].values()}.isdisjoint(
        {k for line in sheet["lines"] for k in line["keys"].values()}
    )

    # The sheet sent twice (a double click, a dropped answer): each line posts once.
    line = lines[owing]
    body = {"account": "sajja", "amount": line["sajja_to_pay"], "deposited_on": sheet["collected_on"]}
    for _ in range(2):
        sent = await post(client, f"/ledger/v1/members/{owing}/deposits", body, key=line["keys"]["sajja"])
        assert sent.status_code == 201, sent.text
    member = (await client.get(f"/ledger/v1/members/{owing}")).json()
    assert member["balances"]["sajja"] == "250.00"  # 50.00 in February and 200.00 once
    after = (await client.get(url, params={"month": "2024-03"})).json()
    assert {x["member_id"]: x["sajja_to_pay"] for x in after["lines"]}[owing] == "0.00"
    # The same line with another amount in the same round is refused, not posted.
    other = await post(
        client, f"/ledger/v1/members/{owing}/deposits", body | {"amount": "1.00"}, key=line["keys"]["sajja"]
    )
    assert other.status_code == 422

    # Once the month is closed the sheet says so.
    assert (await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": "2024-03"})).status_code == 201
    closed = (await client.get(url, params={"month": "2024-03"})).json()
    assert closed["closed"] is True
    assert (await client.get(url, params={"month": "2024-13"})).status_code == 422


async def test_the_months_collection_on_paper_report_and_receipts(client: httpx.AsyncClient) -> None:
    gid = (await new_group(client, name="กลุ่มออมทรัพย์บ้านโคกสูง", founded_on="2023-06-01"))["group_id"]
    saver = (await new_member(client, gid, joined_on="2023-12-01", full_name="สมชาย ขยันออม"))["member_id"]
    (await new_member(client, gid, joined_on="2023-12-01", full_name="สมหญิง มั่นคง", monthly_commitment="1500.00"))
    for body in (
        {"account": "sajja", "amount": "100.00", "deposited_on": "2024-03-05"},
        {"account": "special", "amount": "1234.50", "deposited_on": "2024-03-05"},
    ):
        assert (await post(client, f"/ledger/v1/members/{saver}/deposits", body)).status_code == 201
    url = f"/ledger/v1/groups/{gid}/collection-sheet"
    report = await client.get(f"{url}/report", params={"month": "2024-03"})
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(report.content)).pages)
    for expected in ("รายงานการรับเงินประจำเดือน", "มีนาคม 2567", "สมชาย ขยันออม", "1,234.50", "1,600.00", "รวม 2 คน"):
        assert expected in text, (expected, text)
    assert "ลงชื่อ" in text and not set("๐๑๒๓๔๕๖๗๘๙") & set(text)
    receipts = await client.get(f"{url}/receipts", params={"month": "2024-03"})
    assert receipts.status_code == 200 and receipts.headers["content-type"] == "application/pdf"
    pages = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(receipts.content)).pages]
    receipt_text = "".join(pages)
    # One receipt, for the member who paid; the one who did not gets none.
    assert receipt_text.count("ใบรับเงิน") == 1 and "สมชาย ขยันออม" in receipt_text and "สมหญิง" not in receipt_text
    assert "1,334.50 บาท" in receipt_text


async def test_two_of_the_committee_sending_the_same_sheet_post_each_line_once(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The treasurer and the chair both send the month's sheet from their own phones: the lines' keys belong to the
    sheet, not to whoever sent it, so each deposit goes in once; another amount on the same line is refused."""
    gid = (await new_group(client, founded_on="2023-06-01"))["group_id"]
    member = (await new_member(client, gid, joined_on="2023-12-01"))["member_id"]
    sheet = (await client.get(f"/ledger/v1/groups/{gid}/collection-sheet", params={"month": "2024-03"})).json()
    [line] = sheet["lines"]
    body = {"account": "sajja", "amount": line["sajja_to_pay"], "deposited_on": sheet["collected_on"]}
    keys = settings.auth_signing_keys
    answers = []
    for who in ("treasurer", "chair"):
        token = user_token(
            keys, f"{who}-{gid[:8]}", "committee", province_code="27", district_code="2701", group_id=gid
        )
        answers.append(
            await client.post(
                f"/ledger/v1/members/{member}/deposits",
                json=body,
                headers={"Idempotency-Key": line["keys"]["sajja"]} | bearer(token),
            )
        )
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json()["transaction_id"] == answers[1].json()["transaction_id"]
    assert (await client.get(f"/ledger/v1/members/{member}")).json()["balances"]["sajja"] == "100.00"
    # Keys of one's own (not a sheet's) still belong to their caller: the department's "k" is not the chair's "k".
    other = {"account": "special", "amount": "5.00", "deposited_on": "2024-03-06"}
    assert (await post(client, f"/ledger/v1/members/{member}/deposits", other, key="own-key")).status_code == 201
    token = user_token(keys, "chair-x", "committee", province_code="27", district_code="2701", group_id=gid)
    mine = await client.post(
        f"/ledger/v1/members/{member}/deposits", json=other, headers={"Idempotency-Key": "own-key"} | bearer(token)
    )
    assert mine.status_code == 201
    assert (await client.get(f"/ledger/v1/members/{member}")).json()["balances"]["special"] == "10.00"
