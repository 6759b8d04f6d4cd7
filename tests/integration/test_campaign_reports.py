"""Campaigns as data (a new one needs only a definition) and the savings-promotion reports: prefilled
from the counters, flagged late after the deadline, consolidated by the province, on a status board.
One platform serves the module: the new campaign's test works in Ta Phraya (2703), since the nominations
test proposes from every member and group of Mueang Sa Kaeo (2701); the reports are each another
campaign's or district's."""

from __future__ import annotations

from datetime import timedelta

import httpx

from libs.events.envelope import today_in_thailand
from tests.conftest import shared_platform
from tests.support.api import new_group, new_member, post

settings, database_url, broker, running = shared_platform()

SAVINGS_WEEK = {
    "campaign_id": "savings-week-test",
    "name_th": "สัปดาห์การออมแห่งชาติ",
    "name_en": "National savings week",
    "starts_on": "2024-10-28",
    "ends_on": "2024-11-03",
    "provinces": ["27"],
    "rules": [{"kind": "special_deposit", "min_amount_satang": 10000}],
    "targets": {"27": {"special_depositors": 10}},
    "deadlines": {},
}


async def test_a_new_campaign_is_only_a_definition(client: httpx.AsyncClient) -> None:
    campaign = SAVINGS_WEEK | {"deadlines": {"district_report": (today_in_thailand() + timedelta(days=30)).isoformat()}}
    assert (await post(client, "/campaign/v1/campaigns", campaign)).status_code == 201
    assert (await post(client, "/campaign/v1/campaigns", campaign)).status_code == 409
    gid = (await new_group(client, district_code="2703", founded_on="2020-01-01"))["group_id"]
    member = (await new_member(client, gid, joined_on="2023-01-01"))["member_id"]
    for amount, on in (("100.00", "2024-10-30"), ("99.99", "2024-10-31"), ("500.00", "2024-11-04")):
        body = {"account": "special", "amount": amount, "deposited_on": on}
        assert (await post(client, f"/ledger/v1/members/{member}/deposits", body)).status_code == 201

    async def counted() -> dict[str, object] | None:
        response = await client.get(
            "/campaign/v1/campaigns/savings-week-test/progress", params={"level": "province", "code": "27"}
        )
        body: dict[str, object] = response.json()
        return body if body["counters"]["savings_added"] == "199.99" else None  # type: ignore[index]

    from tests.support.api import eventually

    progress = await eventually(counted)
    counters = progress["counters"]
    # Only the 100.00 inside the week counts; the rules the campaign lacks stay 0.
    assert (counters["special_deposits"], counters["special_deposit_amount"], counters["new_members"]) == (
        1,
        "100.00",
        0,
    )
    assert progress["targets"] == {"special_depositors": 10}

    # A report submitted before its deadline is on time; the province consolidates its districts.
    report = await post(
        client,
        "/campaign/v1/campaigns/savings-week-test/reports",
        {"level": "district", "code": "2703", "notes": "ครบ"},
    )
    assert report.status_code == 201 and report.json()["late"] is False
    again = await post(
        client, "/campaign/v1/campaigns/savings-week-test/reports", {"level": "district", "code": "2703"}
    )
    assert again.status_code == 409
    province = await post(
        client, "/campaign/v1/campaigns/savings-week-test/reports", {"level": "province", "code": "27"}
    )
    assert province.status_code == 201 and province.json()["consolidates"] == ["2703"]
    board = (
        await client.get(
            "/campaign/v1/campaigns/savings-week-test/reports", params={"level": "district", "province": "27"}
        )
    ).json()
    states = {i["code"]: i["state"] for i in board["items"]}
    assert states["2703"] == "submitted" and states["2702"] == "due" and len(states) == 9  # Sa Kaeo has 9 districts
    assert {i["code"]: i["name_en"] for i in board["items"]}["2703"] == "Ta Phraya"
    # A campaign of one province: its province board lists that province alone (no 76 false "overdue" rows),
    # and a district board of a province it does not cover lists nothing.
    provinces = (
        await client.get("/campaign/v1/campaigns/savings-week-test/reports", params={"level": "province"})
    ).json()
    assert [(i["code"], i["name_th"], i["state"]) for i in provinces["items"]] == [("27", "สระแก้ว", "submitted")]
    elsewhere = await client.get(
        "/campaign/v1/campaigns/savings-week-test/reports", params={"level": "district", "province": "10"}
    )
    assert elsewhere.status_code == 200 and elsewhere.json()["items"] == []
    # As it stood before the reports came in: not submitted yet.
    before = (
        await client.get(
            "/campaign/v1/campaigns/savings-week-test/reports",
            params={"level": "district", "province": "27", "as_of": "2024-11-01"},
        )
    ).json()
    assert {i["code"]: i["state"] for i in before["items"]}["2703"] == "due" and before["as_of"] == "2024-11-01"


async def test_a_report_after_its_deadline_is_flagged_late(client: httpx.AsyncClient) -> None:
    # The 50-year campaign's district reports were due on 15 March 2024.
    late = await post(client, "/campaign/v1/campaigns/savings-50y/reports", {"level": "district", "code": "2702"})
    assert late.status_code == 201 and late.json()["late"] is True and late.json()["deadline"] == "2024-03-15"
    board = (
        await client.get("/campaign/v1/campaigns/savings-50y/reports", params={"level": "district", "province": "27"})
    ).json()
    states = {i["code"]: i["state"] for i in board["items"]}
    assert (states["2702"], states["2701"]) == ("late", "overdue")
    # On the day of its deadline nothing was overdue yet; the whole country's provinces owe the national campaign.
    on_deadline = (
        await client.get(
            "/campaign/v1/campaigns/savings-50y/reports",
            params={"level": "district", "province": "27", "as_of": "2024-03-15"},
        )
    ).json()
    assert {i["state"] for i in on_deadline["items"]} == {"due"}
    nation = (await client.get("/campaign/v1/campaigns/savings-50y/reports", params={"level": "province"})).json()
    assert len(nation["items"]) == 77
    assert board["deadline_th"] == "๑๕ มีนาคม ๒๕๖๗"
    bad = await post(client, "/campaign/v1/campaigns/savings-50y/reports", {"level": "district", "code": "27"})
    assert bad.status_code == 422


async def test_nominations_from_the_record_with_overrides_and_the_provinces_award(
    client: httpx.AsyncClient, pool: object, settings: object
) -> None:
    from tests.integration.test_campaign_counters import scripted_district, wait_for_facts

    last = await scripted_district(client)
    await wait_for_facts(pool, settings, last)  # type: ignore[arg-type]
    proposals = (await client.get("/campaign/v1/campaigns/savings-50y/nominations/2701/proposals")).json()
    assert proposals["as_of"] == "2024-02-16" and len(proposals["members"]) == 5 and len(proposals["groups"]) == 2
    scores = [float(m["score"]) for m in proposals["members"]]
    assert scores == sorted(scores, reverse=True)
    top, runner_up = proposals["members"][0], proposals["members"][1]
    assert set(top["evidence"]) == {"regularity", "growth", "membership", "repayment", "occupation"}

    url = "/campaign/v1/campaigns/savings-50y/nominations"
    no_reason = await post(client, url, {"district_code": "2701", "kind": "member", "nominee_id": runner_up["id"]})
    assert no_reason.status_code == 422 and "say why" in no_reason.json()["detail"]
    chosen = await post(
        client,
        url,
        {
            "district_code": "2701",
            "kind": "member",
            "nominee_id": runner_up["id"],
            "override_reason": "อาสาช่วยงานชุมชน",
            "narrative": {"occupation": "เลี้ยงไก่ไข่ขายในตลาดชุมชน", "suggestions": "ขยายตลาดออนไลน์"},
        },
    )
    assert chosen.status_code == 201, chosen.text
    body = chosen.json()
    assert (body["nominee_id"], body["proposed_id"], body["late"]) == (runner_up["id"], top["id"], True)
    group = await post(client, url, {"district_code": "2701", "kind": "group"})
    assert group.status_code == 201 and group.json()["nominee_id"] == proposals["groups"][0]["id"]
    assert (await post(client, url, {"district_code": "2701", "kind": "group"})).status_code == 409

    awards = "/campaign/v1/campaigns/savings-50y/awards"
    not_nominated = await post(client, awards, {"province_code": "27", "kind": "member", "nominee_id": top["id"]})
    assert not_nominated.status_code == 409
    granted = await post(client, awards, {"province_code": "27", "kind": "member", "nominee_id": runner_up["id"]})
    assert granted.status_code == 201 and granted.json()["district_code"] == "2701"
    listed = (await client.get(url)).json()
    assert len(listed["nominations"]) == 2 and len(listed["awards"]) == 1

    # The nomination in the layout of the district's member form, read back from XLSX and PDF.
    import io

    import openpyxl
    import pypdf

    export = "/campaign/v1/campaigns/savings-50y/nominations/2701/member/export"
    xlsx = await client.get(export, params={"format": "xlsx"})
    text = "\n".join(
        str(c)
        for row in openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)
        for c in row
        if c
    )
    assert "แบบรายงานข้อมูลสมาชิกกลุ่มออมทรัพย์เพื่อการผลิตดีเด่นระดับอำเภอ" in text
    assert "เลี้ยงไก่ไข่ขายในตลาดชุมชน" in text and "อาสาช่วยงานชุมชน" in text and f"คะแนนรวม {runner_up['score']}" in text
    pdf = await client.get(export, params={"format": "pdf"})
    extracted = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "ดีเด่นระดับอ" in extracted and runner_up["score"] in extracted and "เมืองสระแก้ว" in extracted


async def test_a_report_file_for_no_such_area_is_a_404_problem(client: httpx.AsyncClient) -> None:
    """The board's download link takes the area from the path: a code that is no DOPA area gets no draft (and no
    500 from a file name that cannot be a header), while a real one is still the file."""
    base = "/campaign/v1/campaigns/savings-50y/reports"
    for level, code in (("district", "9999"), ("province", "99"), ("district", "%E0%B8%81"), ("district", "2701%22x")):
        answer = await client.get(f"{base}/{level}/{code}/export", params={"format": "xlsx"})
        assert answer.status_code == 404, (code, answer.status_code, answer.text[:200])
        assert answer.headers["content-type"].startswith("application/problem+json")
    real = await client.get(f"{base}/district/2701/export", params={"format": "xlsx"})
    assert real.status_code == 200 and real.headers["content-disposition"].endswith('-district-2701.xlsx"')
