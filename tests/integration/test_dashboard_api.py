"""The reads the dashboard adds, and the exports: month-end series equal to sums computed here from
what was posted and to the statistics on each date, the drill-down trail and group names, the
referral pipeline by area, CSV/XLSX for the tables, and the province report as PDF and XLSX."""

from __future__ import annotations

import io
from datetime import date, timedelta

import asyncpg
import httpx
import openpyxl
import pypdf

from libs.events.envelope import today_in_thailand
from libs.events.projector import wait_until_applied
from tests.support.api import eventually, new_group, new_member, post

# (member key, account, amount in satang, date): what the test deposits, to sum independently.
DEPOSITS = [
    ("a", "sajja", 10_000, date(2024, 1, 5)),
    ("a", "sajja", 10_000, date(2024, 2, 5)),
    ("b", "special", 25_050, date(2024, 2, 20)),
    ("c", "sajja", 30_000, date(2024, 3, 5)),
    ("d", "sajja", 70_000, date(2024, 3, 7)),
]
AREA = {"a": "2701", "b": "2701", "c": "2702", "d": "1001"}


def baht(satang: int) -> str:
    return f"{satang // 100}.{satang % 100:02d}"


async def test_month_end_series_trail_names_and_exports(client: httpx.AsyncClient) -> None:
    a_group = (await new_group(client, name="กลุ่มออมทรัพย์ฯ บ้านโคกสูง", founded_on="2023-06-01"))["group_id"]
    c_group = (await new_group(client, name="กลุ่มออมทรัพย์ฯ บ้านคลองหาด", district_code="2702"))["group_id"]
    d_group = (await new_group(client, province_code="10", district_code="1001"))["group_id"]
    groups = {"a": a_group, "b": a_group, "c": c_group, "d": d_group}
    members = {k: (await new_member(client, g, joined_on="2023-12-01"))["member_id"] for k, g in groups.items()}
    positions = []
    for key, account, amount, day in DEPOSITS:
        body = {"account": account, "amount": baht(amount), "deposited_on": day.isoformat()}
        deposited = await post(client, f"/ledger/v1/members/{members[key]}/deposits", body)
        assert deposited.status_code == 201
        positions.append(deposited.json()["position"]["ledger"])
    # Reads of other services (the campaign's) wait for every deposit by position (read your writes).
    after = f"ledger:{max(positions)}"

    async def projected() -> bool:
        return (await client.get("/reporting/v1/stats")).json()["savings"] == baht(sum(d[2] for d in DEPOSITS))

    await eventually(projected, timeout=30)

    # Month ends from December 2023 to 15 March 2024 (the last point is the as-of date itself).
    series = (
        await client.get(
            "/reporting/v1/stats/series", params={"level": "province", "code": "27", "as_of": "2024-03-15", "months": 4}
        )
    ).json()
    days = [date.fromisoformat(p["date"]) for p in series["points"]]
    assert days == [date(2023, 12, 31), date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 15)]
    for point, day in zip(series["points"], days, strict=True):
        in_province = [d for d in DEPOSITS if AREA[d[0]].startswith("27") and d[3] <= day]
        assert point["sajja_savings"] == baht(sum(d[2] for d in in_province if d[1] == "sajja"))
        assert point["special_savings"] == baht(sum(d[2] for d in in_province if d[1] == "special"))
        assert point["members"] == 3 and point["groups"] == 2
        # The same as the statistics on that date: one replay, cut there.
        on_day = (
            await client.get(
                "/reporting/v1/stats", params={"level": "province", "code": "27", "as_of": day.isoformat()}
            )
        ).json()
        assert {k: on_day[k] for k in ("savings", "members", "loans_outstanding")} == {
            k: point[k] for k in ("savings", "members", "loans_outstanding")
        }
    assert series["points"][-1]["savings"] == "750.50"

    # The drill-down: a group's trail names its province and district; districts list their groups by name.
    trail = (await client.get("/reporting/v1/places", params={"level": "group", "code": a_group})).json()["trail"]
    assert [(s["level"], s["name_th"]) for s in trail] == [
        ("national", "ทั่วประเทศ"),
        ("province", "สระแก้ว"),
        ("district", "เมืองสระแก้ว"),
        ("group", "กลุ่มออมทรัพย์ฯ บ้านโคกสูง"),
    ]
    assert trail[1]["name_en"] == "Sa Kaeo"
    unknown = await client.get("/reporting/v1/places", params={"level": "district", "code": "9999"})
    assert unknown.status_code == 404
    groups_of_2701 = (
        await client.get("/reporting/v1/stats/breakdown", params={"level": "district", "code": "2701"})
    ).json()
    assert [(i["name_th"], i["members"], i["savings"]) for i in groups_of_2701["items"]] == [
        ("กลุ่มออมทรัพย์ฯ บ้านโคกสูง", 2, "450.50")
    ]

    # Tables as files: the series, the campaign's breakdown and reports board, the portfolio.
    series_csv = await client.get(
        "/reporting/v1/stats/series",
        params={"level": "province", "code": "27", "as_of": "2024-03-15", "months": 4, "format": "csv"},
    )
    text = series_csv.content.decode("utf-8-sig")
    assert "๑๕ มีนาคม ๒๕๖๗" in text and "750.50" in text and "สระแก้ว" in text
    campaign_xlsx = await client.get(
        "/campaign/v1/campaigns/savings-50y/progress/breakdown",
        params={"level": "province", "code": "27", "as_of": "2024-02-29", "format": "xlsx", "after": after},
    )
    rows = list(openpyxl.load_workbook(io.BytesIO(campaign_xlsx.content)).active.iter_rows(values_only=True))
    headings = next(r for r in rows if r[0] == "รหัส")
    row_2701 = next(r for r in rows if r[0] == "2701")
    assert row_2701[1] == "เมืองสระแก้ว"
    # Figures are spreadsheet numbers (a clerk's SUM works), not text.
    assert row_2701[headings.index("จำนวนสมาชิกใหม่ที่รับสมัครเพิ่ม")] == 2
    assert row_2701[headings.index("จำนวนเงินฝากสัจจะสะสมพิเศษ")] == 250.5
    board = await client.get(
        "/campaign/v1/campaigns/savings-50y/reports", params={"province": "27", "format": "csv", "after": after}
    )
    board_text = board.content.decode("utf-8-sig")
    assert "อำเภอคลองหาด" in board_text or "คลองหาด" in board_text
    assert "เกินกำหนด" in board_text and "๑๕ มีนาคม ๒๕๖๗" in board_text
    portfolio = await client.get("/lending/v1/portfolio", params={"level": "province", "code": "27", "format": "csv"})
    assert portfolio.status_code == 200 and "ค้างชำระ 31-60 วัน" in portfolio.content.decode("utf-8-sig")

    # The province report: PDF and XLSX, the districts' figures with the province's total.
    pdf = await client.get("/reporting/v1/provinces/27/report", params={"as_of": "2024-03-15"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in ("รายงานข้อมูลกลุ่มออมทรัพย์เพื่อการผลิต", "สระแก้ว", "15 มีนาคม 2567", "750.50", "450.50", "PAR30"):
        assert expected in pdf_text, expected
    # One digit system in the whole document: the formal date's Thai digits are set as Arabic ones too.
    assert not set("๐๑๒๓๔๕๖๗๘๙") & set(pdf_text), pdf_text
    xlsx = await client.get("/reporting/v1/provinces/27/report", params={"as_of": "2024-03-15", "format": "xlsx"})
    sheet_rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    total = next(r for r in sheet_rows if r[0] == "รวมทั้งจังหวัด")
    assert total[1:3] == (2, 3) and total[5] == 750.5
    assert (await client.get("/reporting/v1/provinces/99/report")).status_code == 404


CONSENT = {"partner": "gsb", "purpose": "loan-referral", "granted": True, "notice_version": "2024-01"}


async def test_the_referral_pipeline_by_area(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    gid = (await new_group(client, founded_on="2020-01-01"))["group_id"]
    member = (await new_member(client, gid, joined_on="2023-01-01", phone="0811111111"))["member_id"]
    granted = await post(client, f"/ledger/v1/members/{member}/consents", CONSENT)
    deposit = {"account": "sajja", "amount": "100.00", "deposited_on": "2024-11-05"}
    assert (await post(client, f"/ledger/v1/members/{member}/deposits", deposit)).status_code == 201
    closed = await post(client, f"/ledger/v1/groups/{gid}/month-closes", {"month": "2024-11"})
    assert closed.status_code == 201
    position = granted.json()["position"]["ledger"]
    assert await wait_until_applied(pool, "reporting", "referral_facts", f"member-{member}", position, 15)
    refreshed = await post(client, "/reporting/v1/partners/gsb/referrals/refresh", {"as_of": "2024-12-31"})
    assert refreshed.json()["referred"] == 1
    [referral] = (await client.get("/reporting/v1/partners/gsb/referrals")).json()["items"]
    for outcome in ("contacted", "approved"):
        body = {"referral_id": referral["referral_id"], "outcome": outcome}
        assert (await post(client, "/reporting/v1/partners/gsb/outcomes", body)).status_code == 201

    province = (
        await client.get("/reporting/v1/partners/gsb/pipeline", params={"level": "province", "code": "27"})
    ).json()
    assert {k: province[k] for k in ("referred", "contacted", "approved", "loan_granted", "revoked")} == {
        "referred": 1,
        "contacted": 1,
        "approved": 1,
        "loan_granted": 0,
        "revoked": 0,
    }
    elsewhere = (
        await client.get("/reporting/v1/partners/gsb/pipeline", params={"level": "province", "code": "10"})
    ).json()
    assert (elsewhere["referred"], elsewhere["contacted"]) == (0, 0)

    withdrawn = await post(
        client, f"/ledger/v1/members/{member}/consents", CONSENT | {"granted": False, "notice_version": None}
    )
    position = withdrawn.json()["position"]["ledger"]
    assert await wait_until_applied(pool, "reporting", "referral_facts", f"member-{member}", position, 15)
    national = (await client.get("/reporting/v1/partners/gsb/pipeline")).json()
    assert (national["referred"], national["revoked"]) == (1, 1)

    # As of a day: the referral counts from the refresh's business date (31 December 2024); the outcomes and the
    # withdrawal from the days they came (today), so a day before today shows the referral alone.
    async def pipeline_on(day: str) -> tuple[int, int, int]:
        answer = await client.get(
            "/reporting/v1/partners/gsb/pipeline", params={"level": "province", "code": "27", "as_of": day}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["referred"], answer.json()["contacted"], answer.json()["revoked"]

    assert await pipeline_on("2024-12-30") == (0, 0, 0)
    assert await pipeline_on("2024-12-31") == (1, 0, 0)
    assert await pipeline_on((today_in_thailand() - timedelta(days=1)).isoformat()) == (1, 0, 0)
    assert await pipeline_on(today_in_thailand().isoformat()) == (1, 1, 1)
    bad = await client.get("/reporting/v1/partners/gsb/pipeline", params={"as_of": "31/12/2024"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    table = await client.get("/reporting/v1/partners/gsb/pipeline", params={"format": "xlsx"})
    rows = list(openpyxl.load_workbook(io.BytesIO(table.content)).active.iter_rows(values_only=True))
    assert ("ส่งต่อ", 1) in rows and ("ถอนความยินยอม", 1) in rows and ("อนุมัติ", 1) in rows
