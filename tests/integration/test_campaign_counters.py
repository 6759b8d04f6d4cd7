"""The 50-year campaign's counters from a scripted district whose actions are known: exact at every
level, unchanged when the ledger topic is delivered again or its streams arrive in another order (the
campaign launched before or among them), and reversals uncount."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import asyncpg
import httpx

from deploy.platform import RunningPlatform
from libs.events.envelope import RecordedEvent
from libs.events.kafka import topic_for
from libs.events.migrations import migrate
from libs.events.projector import wait_until_applied
from libs.events.relay import reset_checkpoint
from libs.events.settings import Settings
from libs.events.store import EventStore
from services.campaign import counters as counting
from services.campaign.app import MIGRATIONS
from services.campaign.handlers import CampaignHandlers
from services.campaign.projections import LedgerFacts
from tests.support.api import eventually, new_group, new_member, post

EXPECTED_2701 = {
    "new_members": 2,
    "commitment_raises": 1,
    "special_depositors": 2,
    "special_deposits": 2,
    "special_deposit_amount": "110.00",
    "members_taking_part": 4,
    "groups_taking_part": 2,
    "savings_added": "240.00",
}
EXPECTED_2702 = {
    "new_members": 0,
    "commitment_raises": 1,
    "special_depositors": 1,
    "special_deposits": 1,
    "special_deposit_amount": "50.00",
    "members_taking_part": 2,
    "groups_taking_part": 1,
    "savings_added": "50.00",
}
EXPECTED_27 = {
    "new_members": 2,
    "commitment_raises": 2,
    "special_depositors": 3,
    "special_deposits": 3,
    "special_deposit_amount": "160.00",
    "members_taking_part": 6,
    "groups_taking_part": 3,
    "savings_added": "290.00",
}


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def scripted_district(client: httpx.AsyncClient) -> dict[str, int]:
    """Sa Kaeo: two groups in Mueang (2701), one in Khlong Hat (2702). Returns each member stream's last position."""
    last: dict[str, int] = {}

    async def member(gid: str, joined: str, commitment: str) -> str:
        m = await new_member(client, gid, joined_on=joined, monthly_commitment=commitment)
        last[m["member_id"]] = m["position"]["ledger"]
        return str(m["member_id"])

    async def act(member_id: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        result = await _ok(await post(client, f"/ledger/v1/members/{member_id}/{path}", body))
        last[member_id] = result["position"]["ledger"]
        return result

    def special(amount: str, on: str) -> dict[str, str]:
        return {"account": "special", "amount": amount, "deposited_on": on}

    group_a = (await new_group(client, district_code="2701", founded_on="2020-01-01"))["group_id"]
    group_b = (await new_group(client, district_code="2701", founded_on="2020-01-01"))["group_id"]
    group_c = (await new_group(client, district_code="2702", founded_on="2020-01-01"))["group_id"]
    m1 = await member(group_a, "2023-06-01", "100.00")
    await act(m1, "commitment", {"monthly_commitment": "150.00", "effective_on": "2024-01-01"})  # +50: counts
    m2 = await member(group_a, "2023-06-01", "100.00")
    await act(m2, "deposits", special("50.00", "2023-12-10"))  # counts
    await act(m2, "deposits", special("30.00", "2024-01-05"))  # under 50: savings only
    await act(m2, "deposits", special("100.00", "2024-03-05"))  # after the window
    m3 = await member(group_a, "2023-12-15", "100.00")  # new member
    await act(m3, "deposits", {"account": "sajja", "amount": "100.00", "deposited_on": "2023-12-15"})
    m4 = await member(group_a, "2023-06-01", "100.00")
    undone = await act(m4, "deposits", special("200.00", "2024-02-01"))
    await act(m4, "reversals", {"transaction_id": undone["transaction_id"], "reason": "บันทึกผิดคน"})  # uncounted
    m5 = await member(group_b, "2024-01-20", "100.00")  # new member, and a special depositor: counted once
    await act(m5, "deposits", special("60.00", "2024-01-20"))
    m6 = await member(group_c, "2023-05-01", "50.00")
    await act(m6, "commitment", {"monthly_commitment": "100.00", "effective_on": "2023-11-01"})  # before: no
    await act(m6, "deposits", special("50.00", "2024-02-29"))  # the window's last day: counts
    m7 = await member(group_c, "2023-05-01", "100.00")
    # +50 from the window's first month: counts (against the commitment before the window opened)
    await act(m7, "commitment", {"monthly_commitment": "150.00", "effective_on": "2023-12-01"})
    await member(group_c, "2024-03-01", "100.00")  # joined after the window
    return last


async def wait_for_facts(pool: asyncpg.Pool, settings: Settings, last: dict[str, int]) -> None:
    for member_id, position in last.items():
        assert await wait_until_applied(pool, "campaign", "ledger_facts", f"member-{member_id}", position, 15)


async def progress(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/campaign/v1/campaigns/savings-50y/progress", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_scripted_district_gives_exact_counters_at_every_level(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, running: RunningPlatform
) -> None:
    campaign = (await client.get("/campaign/v1/campaigns/savings-50y")).json()
    assert (campaign["starts_on"], campaign["ends_on"]) == ("2023-12-01", "2024-02-29")
    assert campaign["deadlines"] == {
        "nominations": "2024-02-16",
        "district_report": "2024-03-15",
        "province_report": "2024-03-29",
    }
    last = await scripted_district(client)
    await wait_for_facts(pool, settings, last)

    assert (await progress(client, level="district", code="2701"))["counters"] == EXPECTED_2701
    assert (await progress(client, level="district", code="2702"))["counters"] == EXPECTED_2702
    province = await progress(client, level="province", code="27")
    assert province["counters"] == EXPECTED_27 and province["name_th"] == "สระแก้ว"
    assert (await progress(client))["counters"] == EXPECTED_27
    breakdown = (
        await client.get(
            "/campaign/v1/campaigns/savings-50y/progress/breakdown", params={"level": "province", "code": "27"}
        )
    ).json()
    assert [(i["code"], i["counters"]) for i in breakdown["items"]] == [
        ("2701", EXPECTED_2701),
        ("2702", EXPECTED_2702),
    ]
    # As the window ran: by 2023-12-31 only m2's deposit and m3's enrolment (and m3's 100.00 sajja).
    series = (
        await client.get(
            "/campaign/v1/campaigns/savings-50y/progress/series", params={"level": "district", "code": "2701"}
        )
    ).json()["points"]
    assert len(series) == 91 and series[0]["date_th"] == "1 ธ.ค. 2566"
    december = next(p for p in series if p["date"] == "2023-12-31")["counters"]
    assert (december["new_members"], december["special_deposits"], december["savings_added"]) == (1, 1, "150.00")
    assert series[-1]["counters"] == EXPECTED_2701

    # Delivered again: the ledger topic republished from the start changes nothing.
    async with pool.acquire() as conn:
        await reset_checkpoint(conn, "ledger", topic_for("ledger", settings.topic_prefix))
    relay = running.runtimes["ledger"].relays[0]

    async def republished() -> bool:
        return await relay.pending() == 0 and running.runtimes["campaign"].projectors[0].status.duplicates >= len(last)

    await eventually(republished)
    assert (await progress(client, level="province", code="27"))["counters"] == EXPECTED_27

    # The same events applied in another order across streams (each stream still in its own order).
    await counters_from_shuffled_streams(pool, settings)


async def counters_from_shuffled_streams(pool: asyncpg.Pool, settings: Settings) -> None:
    """The ledger's events in another order across streams, the campaign's launch among them (before it,
    its counters are computed from the facts kept so far; after it, kept as events arrive)."""
    events = await EventStore("ledger").read_all_after(pool, 0, limit=10_000)
    launch = (await EventStore("campaign").read_stream(pool, "campaign-savings-50y"))[0]
    streams: dict[str, list[RecordedEvent]] = {}
    for e in events:
        streams.setdefault(e.stream_id, []).append(e)
    rng = random.Random(50)
    order: list[RecordedEvent] = []
    queues = {k: list(v) for k, v in streams.items()}
    while queues:
        stream = rng.choice(sorted(queues))
        order.append(queues[stream].pop(0))
        if not queues[stream]:
            del queues[stream]
    assert [e.event_id for e in order] != [e.event_id for e in events]
    campaign = await CampaignHandlers(pool, settings).load_campaign("savings-50y")
    for at in (len(order) // 2, len(order)):
        handlers = CampaignHandlers(pool, settings, "campaign_shuffled")
        async with pool.acquire() as conn:
            await conn.execute('drop schema if exists "campaign_shuffled" cascade')
            await migrate(conn, "campaign_shuffled", MIGRATIONS)
            facts = LedgerFacts("unused", "campaign_shuffled")
            for i in range(0, at, 3):  # small batches, as a consumer might get them
                async with conn.transaction():
                    await facts.apply(conn, order[i : min(at, i + 3)])
            if at == len(order):
                # Not launched in the projection yet: the counters are computed from the facts meanwhile.
                assert not await handlers.progress.kept(campaign)
                figures = await handlers.progress_counters(campaign, "province", "27", date(2026, 1, 1))
                assert figures["members_taking_part"] == EXPECTED_27["members_taking_part"]
            rest = [launch, *order[at:]]
            for i in range(0, len(rest), 3):
                async with conn.transaction():
                    await facts.apply(conn, rest[i : i + 3])
        for level, code, expected in (("province", "27", EXPECTED_27), ("district", "2702", EXPECTED_2702)):
            figures = await handlers.progress_counters(campaign, level, code, date(2026, 1, 1))
            shown = {k: f"{v / 100:.2f}" if k in counting.MONEY_COUNTERS else v for k, v in figures.items()}
            assert shown == expected, (at, level)
            oracle = counting.counters(campaign, await handlers.facts(campaign, level, code), date(2026, 1, 1))
            assert figures == oracle


async def test_reports_export_as_xlsx_and_pdf_in_thai_with_the_figures(
    client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    import io

    import openpyxl
    import pypdf

    last = await scripted_district(client)
    await wait_for_facts(pool, settings, last)
    submitted = await post(
        client,
        "/campaign/v1/campaigns/savings-50y/reports",
        {"level": "district", "code": "2701", "notes": "จัดกิจกรรมครบทุกกลุ่ม"},
    )
    assert submitted.status_code == 201 and submitted.json()["late"] is True

    url = "/campaign/v1/campaigns/savings-50y/reports/district/2701/export"
    xlsx = await client.get(url, params={"format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    text = "\n".join(cells)
    assert "แบบรายงานการส่งเสริมการออม" in text and "อำเภอเมืองสระแก้ว" in text
    assert "ระยะเวลาดำเนินการ ๑ ธันวาคม ๒๕๖๖ ถึง ๒๙ กุมภาพันธ์ ๒๕๖๗" in text and "ส่งล่าช้า" in text
    rows = {row[1]: row[2] for row in sheet.iter_rows(values_only=True) if row and isinstance(row[0], int)}
    assert rows["จำนวนสมาชิกใหม่ที่รับสมัครเพิ่ม"] == 2  # spreadsheet numbers, not text
    assert rows["จำนวนเงินฝากสัจจะสะสมพิเศษ"] == 110
    assert rows["เงินออมที่เพิ่มขึ้นในช่วงกิจกรรม"] == 240
    assert "จัดกิจกรรมครบทุกกลุ่ม" in text

    pdf = await client.get(url, params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    extracted = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    fonts = {
        str(f) for page in pypdf.PdfReader(io.BytesIO(pdf.content)).pages for f in page["/Resources"]["/Font"].values()
    }
    assert fonts  # embedded
    for expected in ("แบบรายงาน", "สระแก้ว", "240.00", "110.00", "2567"):
        assert expected in extracted, (expected, extracted[:400])
    assert not set("๐๑๒๓๔๕๖๗๘๙") & set(extracted)  # one digit system in the whole document

    # The province's draft report lists its districts.
    province = await client.get(
        "/campaign/v1/campaigns/savings-50y/reports/province/27/export", params={"format": "xlsx"}
    )
    province_text = "\n".join(
        str(c)
        for row in openpyxl.load_workbook(io.BytesIO(province.content)).active.iter_rows(values_only=True)
        for c in row
        if c
    )
    assert "ร่างรายงาน" in province_text and "คลองหาด" in province_text
    province_figures = [
        c
        for row in openpyxl.load_workbook(io.BytesIO(province.content)).active.iter_rows(values_only=True)
        for c in row
        if isinstance(c, (int, float))
    ]
    assert 290 in province_figures
