"""The operations dashboard in a real headless Chromium (Debian's, driven by Playwright), served by the
whole platform over real HTTP on real PostgreSQL and Kafka: Thai first with Buddhist Era dates, charts
drawn from the APIs' figures, drill-down from the nation to a group, the English switch, and a live
update when a deposit lands. Screenshots go to build/screenshots/."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import eventually, new_group, new_member, post
from tests.support.lending import as_user, define_product, known_member

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("SAJJA_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
# Flags for a closed network and a root user (see the machine notes): no sandbox, no background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    return CHROMIUM


async def _seed(client: httpx.AsyncClient) -> dict[str, str]:
    """Two districts of Sa Kaeo during the 50-year campaign: members, deposits, and one group loan."""
    await define_product(client, guarantors_required=0, approvals_required=1)
    group_a = (await new_group(client, name="กลุ่มออมทรัพย์ฯ บ้านหนองบัว", founded_on="2023-06-01"))["group_id"]
    group_b = (await new_group(client, name="กลุ่มออมทรัพย์ฯ บ้านคลองหาด", district_code="2702"))["group_id"]
    borrower = await known_member(client, group_a, sajja="3000.00")  # joined 2023-12-01: a new member
    saver = (await new_member(client, group_a, joined_on="2023-07-01"))["member_id"]
    other = (await new_member(client, group_b, joined_on="2023-08-01"))["member_id"]
    for member, body in (
        (saver, {"account": "sajja", "amount": "500.00", "deposited_on": "2023-09-05"}),
        (saver, {"account": "special", "amount": "150.00", "deposited_on": "2024-01-10"}),
        (other, {"account": "sajja", "amount": "800.00", "deposited_on": "2023-11-05"}),
        (other, {"account": "sajja", "amount": "200.00", "deposited_on": "2024-02-05"}),
    ):
        assert (await post(client, f"/ledger/v1/members/{member}/deposits", body)).status_code == 201
    application = {
        "member_id": borrower,
        "product_id": "occupation",
        "principal": "2000.00",
        "term_months": 10,
        "purpose": "ซื้อพันธุ์ผัก",
        "guarantor_ids": [],
        "applied_on": "2024-01-12",
    }
    # The borrower's second loan, paid out on 20 March 2024: not yet due on the 31st.
    second = application | {"principal": "1000.00", "term_months": 5, "applied_on": "2024-03-18"}
    for body, on in ((application, "2024-01-15"), (second, "2024-03-20")):
        loan = (await as_user(client, "somchai", "/lending/v1/loans", body)).json()["loan_id"]
        assert (await as_user(client, "kannika", f"/lending/v1/loans/{loan}/approvals", {})).status_code == 201
        assert (await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": on})).is_success

    async def projected() -> bool:
        stats = (await client.get("/reporting/v1/stats", params={"level": "province", "code": "27"})).json()
        return stats["members"] == 3 and stats["loans_outstanding"] == "3000.00"

    await eventually(projected, timeout=30)
    return {"group_a": group_a, "saver": saver}


PASSWORD = "a-long-passphrase-2569"


async def _users(client: httpx.AsyncClient) -> None:
    for user in (
        {"username": "nattaya", "display_name": "ณัฐยา (กรมฯ)", "role": "department"},
        {
            "username": "officer-2702",
            "display_name": "เจ้าหน้าที่อำเภอคลองหาด",
            "role": "district_officer",
            "province_code": "27",
            "district_code": "2702",
        },
    ):
        created = await post(client, "/auth/v1/users", user | {"password": PASSWORD})
        assert created.status_code == 201, created.text


async def _sign_in(page: Any, username: str, password: str) -> None:
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#sign-in-button")


async def _until(page: Any, expression: str, timeout: float = 20.0) -> None:
    """Poll a JavaScript expression until it is true. Not `page.wait_for_function`: that evaluates its
    predicate with eval() inside the page, which the dashboard's Content-Security-Policy refuses."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout:.0f} s: {expression}"
        await asyncio.sleep(0.05)


async def _settled(page: Any, level: str, code: str = "", after: int = 0) -> None:
    """Wait until the page shows `level`/`code`, has finished more than `after` loads, and none is running
    or queued."""
    await _until(
        page,
        f"document.body.dataset.busy === '0' && document.body.dataset.level === '{level}'"
        f" && document.body.dataset.code === '{code}' && Number(document.body.dataset.loads) > {after}",
    )


async def _chart(page: Any, canvas: str) -> list[list[float]]:
    data: list[list[float]] = await page.evaluate(
        f"Chart.getChart(document.getElementById('{canvas}')).data.datasets.map(d => d.data)"
    )
    return data


async def _fits_a_phone(page: Any, name: str) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the {name} page is {width} px wide on a 390-px screen"
    heights = await page.evaluate(
        "[...document.querySelectorAll('.chart')].filter(c => c.offsetParent !== null)"
        ".map(c => [c.querySelector('canvas').id, c.querySelector('canvas').getBoundingClientRect().height])"
    )
    assert heights and all(height >= 150 for _, height in heights), (name, heights)
    loose = await page.evaluate(
        "[...document.querySelectorAll('main table')].filter(t => t.offsetParent !== null"
        " && !t.closest('.table-wrap, .scroll')).map(t => t.id)"
    )
    assert loose == [], f"tables outside a scrolling box on the {name} page: {loose}"
    await page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}-phone.png"), full_page=True)


async def test_the_dashboard_in_chromium(client: httpx.AsyncClient, served: str) -> None:
    from playwright.async_api import async_playwright

    seeded = await _seed(client)
    await _users(client)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1300}, locale="th-TH")
            failures: list[str] = []
            page.on("pageerror", lambda error: failures.append(str(error)))
            # Anything the Content-Security-Policy blocks is reported on the console.
            page.on(
                "console",
                lambda message: failures.append(message.text) if "Content Security Policy" in message.text else None,
            )
            # The local runner serves the dashboard at /, reporting at /reporting/; it asks to sign in first.
            opened = await page.goto(f"{served}/")
            assert "default-src 'self'" in (await opened.all_headers())["content-security-policy"]
            await page.wait_for_selector("#sign-in-form", state="visible")
            assert await page.inner_text("#sign-in-button") == "เข้าสู่ระบบ"
            await _sign_in(page, "nattaya", "wrong password here")
            await page.wait_for_selector("#sign-in-error", state="visible")
            assert await page.inner_text("#sign-in-error") == "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง"
            await _sign_in(page, "nattaya", PASSWORD)
            await _settled(page, "national")
            assert await page.title() == "Sajja สัจจะ — แดชบอร์ดการดำเนินงาน"
            assert await page.locator("html").get_attribute("lang") == "th"
            assert "ทั่วประเทศ" in await page.inner_text("#trail")
            await page.wait_for_selector("#live.on")

            # The campaign's end: figures and charts on 31 March 2024, shown in the Buddhist Era.
            # Picked in the Buddhist Era, with Thai month names (the browser's own picker shows the Common Era).
            assert await page.is_hidden("#as-of") and await page.is_visible("#as-of-th")
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.select_option("#as-of-year", "2024")
            await page.select_option("#as-of-month", "3")
            await page.select_option("#as-of-day", "31")
            await _settled(page, "national", after=loads)
            assert await page.inner_text("#as-of-shown") == "31 มีนาคม 2567"
            assert await page.evaluate("document.querySelector('#as-of-year option:checked').textContent") == "2567"
            assert await page.evaluate("document.querySelector('#as-of-month option:checked').textContent") == "มีนาคม"
            api = (await client.get("/reporting/v1/stats", params={"as_of": "2024-03-31"})).json()
            members = await page.inner_text('[data-stat="members"] .value')
            savings = await page.inner_text('[data-stat="savings"] .value')
            assert (members, savings, api["savings"]) == ("3", "4,650.00", "4650.00")

            # The savings chart is drawn from the month-end series the API gives: same points, same values.
            series = (
                await client.get("/reporting/v1/stats/series", params={"as_of": "2024-03-31", "months": 12})
            ).json()
            drawn = await _chart(page, "chart-savings")
            assert drawn[0] == [float(p["sajja_savings"]) for p in series["points"]]
            assert drawn[2] == [float(p["loans_outstanding"]) for p in series["points"]]
            assert drawn[0][-1] == 4500.0 and drawn[0][0] == 0.0  # savings grew over the year
            assert "มี.ค. 2567" in await page.evaluate("Chart.getChart('chart-savings').data.labels.at(-1)")
            # Portfolio: nothing repaid on the loan of 2,000.00, first due 15 February: 45 days late; the second,
            # of 1,000.00, is current.
            assert (await _chart(page, "chart-portfolio"))[0] == [1000.0, 0.0, 2000.0, 0.0, 0.0]
            assert (await page.inner_text("#par30")).startswith("66.67%")
            # The campaign: its daily series and counters, and the district reports board.
            campaign = await _chart(page, "chart-campaign")
            assert max(campaign[1]) == 1  # one new member recruited in the window
            assert await page.inner_text('[data-counter="new_members"] b') == "1"
            assert "เกินกำหนด" in await page.inner_text("#reports-tally")  # provinces' reports are overdue
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-national-th.png"), full_page=True)

            # Drill down: nation → Sa Kaeo → Mueang Sa Kaeo → the group.
            await page.click('#children tbody tr[data-href="#/province/27"]')
            await _settled(page, "province", "27")
            assert "สระแก้ว" in await page.inner_text("#trail")
            assert "เมืองสระแก้ว" in await page.inner_text("#children")
            assert "อำเภอ" in await page.inner_text("#reports thead") + await page.inner_text("#children-title")
            # Tables sort by any column: members, twice for the most first.
            await page.click('#children thead th[data-col="2"]')
            await page.click('#children thead th[data-col="2"]')
            assert "▼" in await page.inner_text('#children thead th[data-col="2"]')
            assert "เมืองสระแก้ว" in await page.inner_text("#children tbody tr:first-child")
            # Every table links its CSV and XLSX, and the province its report as a PDF; the links answer.
            for box in ("#x-series", "#x-portfolio", "#x-referrals", "#x-worklist", "#x-reports"):
                formats = await page.eval_on_selector_all(f"{box} a", "links => links.map(a => a.dataset.format)")
                assert formats == ["csv", "xlsx"], (box, formats)
            for link in ("#x-province a", "#x-worklist a[data-format=xlsx]", "#x-campaign a[data-format=pdf]"):
                href = await page.get_attribute(link, "href")
                status = await page.evaluate(
                    f"fetch({href!r}).then(r => r.status + ' ' + r.headers.get('content-type'))"
                )
                assert status.startswith("200 application/"), (link, href, status)
            # Finding a group by part of its name, within the area on screen.
            await page.fill("#search", "คลองหาด")
            await page.click("#search-button")
            await page.wait_for_selector("#search-results a")
            assert await page.inner_text("#search-results") == "กลุ่มออมทรัพย์ฯ บ้านคลองหาด"
            # Members too, by name, from the ledger's register (the province's three สมศรี); each opens its group.
            await page.fill("#search", "ใจดี")
            await page.click("#search-button")
            await page.wait_for_selector('#search-results li[data-kind="member"]')
            assert await page.locator('#search-results li[data-kind="member"]').count() == 3
            found = '#search-results li[data-kind="member"] a'
            hrefs = await page.eval_on_selector_all(found, "a => a.map(x => x.hash)")
            assert f"#/group/{seeded['group_a']}" in hrefs and all(h.startswith("#/group/") for h in hrefs), hrefs
            await page.click('#children tbody tr[data-href="#/district/2701"]')
            await _settled(page, "district", "2701")
            assert "กลุ่มออมทรัพย์ฯ บ้านหนองบัว" in await page.inner_text("#children")
            # PAR30 beside each group: the loan of 2,000.00 of the 3,000.00 lent is 45 days late.
            assert "66.67%" in await page.inner_text("#children")
            # The worklist: the district's groups that have not closed their months.
            assert "กลุ่มออมทรัพย์ฯ บ้านหนองบัว" in await page.inner_text("#worklist")
            assert "ยังไม่เคยปิด" in await page.inner_text("#worklist")
            # Loans to follow up, worst first: the loan of 2,000.00, 45 days late on 31 March, with its files; each
            # group's SMART level beside its PAR30; the department may check loans, and none waits for it.
            late = await page.inner_text("#overdue tbody tr:first-child")
            assert "45" in late and "2,000.00" in late and "กลุ่มออมทรัพย์ฯ บ้านหนองบัว" in late, late
            links = await page.eval_on_selector_all("#x-overdue a", "links => links.map(a => a.dataset.format)")
            assert links == ["csv", "xlsx"]
            assert await page.inner_text("#children tbody td.smart-level") in ("1", "2", "3")
            assert await page.is_visible("#approvals-card") and await page.is_visible("#approvals-none")
            await page.set_viewport_size({"width": 1366, "height": 768})
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-district-1366.png"), full_page=True)
            await page.set_viewport_size({"width": 1400, "height": 1300})
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-district-th.png"), full_page=True)
            await page.click(f'#children tbody tr[data-href="#/group/{seeded["group_a"]}"]')
            await _settled(page, "group", seeded["group_a"])
            assert await page.is_visible("#group-panel")
            assert await page.inner_text('[data-stat="members"] .value') == "2"
            assert await page.inner_text("#smart-level") in ("1", "2", "3")
            assert "1100" in await page.inner_text("#books")  # loans receivable in the group's books
            assert await page.eval_on_selector_all("#x-books a", "links => links.length") == 2
            # Its members: balances, installments missed, the loan outstanding and how late; a click, its schedule.
            # The borrower holds two loans: both in the table (their total, each beneath), each with its schedule.
            assert await page.locator("#members tbody tr").count() == 2
            assert await page.get_attribute("#members tbody tr[data-loans]", "data-count") == "2"
            assert "3,000.00\n2,000.00 + 1,000.00" in await page.inner_text("#members tbody tr[data-loans]")
            await page.click("#members tbody tr[data-loans]")
            await page.wait_for_selector("#loan-schedule", state="visible")
            assert await page.locator("#schedule-1 tbody tr").count() == 10
            assert await page.locator("#schedule-2 tbody tr").count() == 5
            schedule = await page.inner_text("#schedule-1")
            assert "ค้างชำระ" in schedule and "ยังไม่ถึง" in schedule
            assert "สัญญาที่ 2 จาก 2" in await page.inner_text("#schedules")
            # The statements on the page's date: a balance sheet whose two totals agree, and the income statement
            # of the year to that date.
            assets = await page.inner_text('#balance-sheet tr[data-line="total_assets"] td.num')
            claims = await page.inner_text('#balance-sheet tr[data-line="total_claims"] td.num')
            assert assets == claims == "3,650.00", (assets, claims)
            assert "1010 เงินสด" in await page.inner_text("#balance-sheet")
            assert await page.inner_text("#balance-sheet-when") == "ณ วันที่ 31 มี.ค. 2567"
            assert await page.inner_text("#income-statement-when") == "1 ม.ค. 2567 – 31 มี.ค. 2567"
            assert await page.inner_text('#income-statement tr[data-line="net_profit"] td.num') != ""
            for box in ("#x-balance-sheet", "#x-income-statement"):
                href = await page.get_attribute(f"{box} a[data-format=xlsx]", "href")
                status = await page.evaluate(
                    f"fetch({href!r}).then(r => r.status + ' ' + r.headers.get('content-type'))"
                )
                assert status.startswith("200 application/vnd.openxml"), (box, status)
            await page.set_viewport_size({"width": 1366, "height": 768})
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-group-1366.png"), full_page=True)
            await page.set_viewport_size({"width": 1400, "height": 1300})
            # A trial balance as a committee reads it: debit and credit columns, and equal totals.
            assert (await page.inner_text("#books thead")).strip() == "บัญชี\tชื่อ\tเดบิต (บาท)\tเครดิต (บาท)"
            totals = await page.evaluate(
                "[...document.querySelectorAll('#books tbody tr:last-child td')].map(td => td.textContent)"
            )
            assert totals[0] == "รวม" and totals[2] == totals[3] != "", totals
            # The campaign's counters here are the district's, and the panel says so.
            assert await page.inner_text("#campaign-area") == "ตัวเลขของอำเภอเมืองสระแก้ว (ทั้งอำเภอ ไม่ใช่เฉพาะกลุ่มนี้)"
            # SMART's criteria in words, not operators; an empty chart says so instead of bare axes.
            gaps = await page.inner_text("#smart-gaps")
            assert gaps and "<=" not in gaps and ">=" not in gaps, gaps
            assert await page.evaluate("document.getElementById('chart-referrals').dataset.empty") == "1"
            assert await page.is_visible("#chart-referrals + .no-data")
            assert await page.inner_text("#chart-referrals + .no-data") == "ยังไม่มีข้อมูล"
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-group-th.png"), full_page=True)

            # The reports board: the department may submit any district's report from it, and download each.
            submit = '#reports button.submit-report[data-code="2701"]'
            assert await page.locator("#reports button.submit-report").count() == 9
            pdf = await page.get_attribute('#reports tr[data-code="2701"] a[data-format=pdf]', "href")
            status = await page.evaluate(f"fetch({pdf!r}).then(r => r.status + ' ' + r.headers.get('content-type'))")
            assert status == "200 application/pdf", status

            async def confirm(dialog: Any) -> None:
                assert "อำเภอเมืองสระแก้ว" in dialog.message
                await dialog.accept("ส่งจากกระดานรายงาน")

            page.once("dialog", confirm)
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.click(submit)
            await _settled(page, "group", seeded["group_a"], after=loads)
            # In, dated today, after the deadline; the board no longer offers it. On 31 March it was not in yet.
            notice = await page.inner_text("#reports-status")
            assert notice.startswith("ส่งรายงานของอำเภอเมืองสระแก้วแล้ว") and "หลังกำหนดส่ง" in notice, notice
            assert await page.locator(submit).count() == 0
            assert await page.locator("#reports button.submit-report").count() == 8
            assert await page.inner_text('#reports tr[data-code="2701"] td:nth-child(2)') == "เกินกำหนด"

            # English, with Common Era dates.
            await page.click("#lang")
            await _until(page, "document.documentElement.lang === 'en'")
            await _settled(page, "group", seeded["group_a"])
            assert await page.inner_text("#as-of-shown") == "31 March 2024"
            assert "Sa Kaeo" in await page.inner_text("#trail")
            assert "Trial balance" in await page.inner_text("#group-panel")
            statements = await page.inner_text("#statements-panel")
            assert "Balance sheet" in statements and "Total assets" in statements and "Net profit (loss)" in statements
            assert "Submit / download" in await page.inner_text("#reports thead")
            await page.click("#lang")
            await _until(page, "document.documentElement.lang === 'th'")

            # A phone (390×844): no page scrolls sideways, charts keep their height, tables scroll in their cards.
            phone = await browser.new_page(viewport={"width": 390, "height": 844}, locale="th-TH", is_mobile=True)
            phone.on("pageerror", lambda error: failures.append(str(error)))
            await phone.goto(f"{served}/")
            await phone.wait_for_selector("#sign-in-form", state="visible")
            await _sign_in(phone, "nattaya", PASSWORD)
            await _settled(phone, "national")
            await _fits_a_phone(phone, "national")
            await phone.goto(f"{served}/#/district/2701")
            await _settled(phone, "district", "2701")
            await _fits_a_phone(phone, "district")
            await phone.goto(f"{served}/#/group/{seeded['group_a']}")
            await _settled(phone, "group", seeded["group_a"])
            # Today: the report submitted from the board is in (late); both loans' schedules open on a phone.
            assert await phone.inner_text('#reports tr[data-code="2701"] td:nth-child(2)') == "ส่งช้า"
            await phone.click("#members tbody tr[data-loans]")
            await phone.wait_for_selector("#schedule-2", state="visible")
            await _fits_a_phone(phone, "group")
            await phone.close()

            # Live: a deposit made elsewhere reaches the open page through the projections, no reload.
            await page.goto(f"{served}/#/province/27")
            await _settled(page, "province", "27")
            await page.wait_for_selector("#live.on")
            before = await page.inner_text('[data-stat="savings"] .value')
            body = {"account": "special", "amount": "1000.00", "deposited_on": "2024-03-20"}
            assert (await post(client, f"/ledger/v1/members/{seeded['saver']}/deposits", body)).status_code == 201
            await _until(
                page, "document.querySelector('[data-stat=\"savings\"] .value').textContent !== " + repr(before)
            )
            after = await page.inner_text('[data-stat="savings"] .value')
            assert (before, after) == ("4,650.00", "5,650.00")
            assert "ตัวเลขรับเหตุการณ์ล่าสุดเมื่อ" in await page.inner_text("#freshness")
            assert await page.evaluate("window.sajjaDashboard.state.liveEvents") >= 1
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-province-live.png"), full_page=True)

            # A district officer of คลองหาด signs in and lands in their district, seeing only its group.
            await page.click("#sign-out")
            await page.wait_for_selector("#sign-in-form", state="visible")
            await _sign_in(page, "officer-2702", PASSWORD)
            await _settled(page, "district", "2702")
            assert "กลุ่มออมทรัพย์ฯ บ้านคลองหาด" in await page.inner_text("#children")
            assert await page.inner_text('[data-stat="members"] .value') == "1"
            # The reports board offers the officer their own district's report alone, to submit and download.
            assert await page.eval_on_selector_all(
                "#reports button.submit-report", "buttons => buttons.map(b => b.dataset.code)"
            ) == ["2702"]
            assert await page.locator("#reports a[data-format=pdf]").count() == 1
            national = await page.evaluate("fetch('/reporting/v1/stats').then(r => r.status)")
            assert national == 403
            # The breadcrumb offers no way up to areas the officer may not open.
            assert "ทั่วประเทศ" in await page.inner_text("#trail")
            assert await page.locator("#trail a").count() == 0
            # Asked for the nation anyway: a Thai sentence, no API path, and no figures left from before.
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.goto(f"{served}/#/national")
            await _until(page, f"Number(document.body.dataset.loads) > {loads} && document.body.dataset.busy === '0'")
            assert await page.inner_text("#error") == "บัญชีผู้ใช้นี้ไม่มีสิทธิ์ดูข้อมูลของพื้นที่นี้ กลับไปยังพื้นที่ของท่าน"
            assert await page.is_hidden("#kpis") and await page.inner_text("#trail") == ""
            await page.screenshot(path=str(SCREENSHOTS / "dashboard-refused-th.png"), full_page=True)
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.click("#error a")  # the way back to the officer's own district
            await _settled(page, "district", "2702", after=loads)
            assert await page.is_visible("#kpis") and await page.is_hidden("#error")
            assert failures == []
        finally:
            await browser.close()


async def test_a_committee_records_its_months_collection_on_a_phone(client: httpx.AsyncClient, served: str) -> None:
    """The collection day (บันทึกการรับเงินประจำเดือน): the group's treasurer opens last month's sheet on a phone,
    types the special deposits beside the prefilled commitments, sends the sheet (and sends it again), and
    closes the month. Each line is posted once; the balances and the books show exactly what was typed."""
    from playwright.async_api import async_playwright

    from libs.events.envelope import today_in_thailand

    gid = (await new_group(client, name="กลุ่มออมทรัพย์ฯ บ้านโคกสูง", founded_on="2023-06-01"))["group_id"]
    saver = await known_member(client, gid, sajja="3000.00", full_name="สมชาย ขยันออม")
    # A loan to the saver three months ago: two installments are due by last month's collection day.
    first = today_in_thailand().replace(day=1)
    lent_on = date(first.year + (first.month - 4) // 12, (first.month - 4) % 12 + 1, 1)
    await define_product(client, guarantors_required=0, approvals_required=1)
    application = {
        "member_id": saver,
        "product_id": "occupation",
        "principal": "1200.00",
        "term_months": 12,
        "purpose": "ซื้อปุ๋ย",
        "guarantor_ids": [],
        "applied_on": lent_on.isoformat(),
    }
    loan = (await as_user(client, "somchai", "/lending/v1/loans", application)).json()["loan_id"]
    assert (await as_user(client, "kannika", f"/lending/v1/loans/{loan}/approvals", {})).status_code == 201
    paid_out = await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": lent_on.isoformat()})
    assert paid_out.is_success, paid_out.text
    other = (
        await new_member(client, gid, joined_on="2023-12-01", full_name="สมหญิง มั่นคง", monthly_commitment="150.00")
    )["member_id"]
    treasurer = {
        "username": "treasurer-khoksung",
        "display_name": "เหรัญญิกกลุ่มบ้านโคกสูง",
        "role": "committee",
        "province_code": "27",
        "district_code": "2701",
        "group_id": gid,
        "password": PASSWORD,
    }
    assert (await post(client, "/auth/v1/users", treasurer)).status_code == 201
    last_month = (first - timedelta(days=1)).strftime("%Y-%m")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="th-TH", is_mobile=True)
            failures: list[str] = []
            page.on("pageerror", lambda error: failures.append(str(error)))
            confirmed: list[str] = []

            async def confirm(dialog: Any) -> None:  # the committee checks the total against the cash it counted
                confirmed.append(dialog.message)
                await dialog.accept()

            page.on("dialog", confirm)
            await page.goto(f"{served}/")
            await page.wait_for_selector("#sign-in-form", state="visible")
            await _sign_in(page, "treasurer-khoksung", PASSWORD)
            await _settled(page, "group", gid)  # a committee lands on its own group
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.click("#collection-link")
            await _until(
                page, f"document.body.dataset.view === 'collection' && Number(document.body.dataset.loads) > {loads}"
            )
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.select_option("#collection-month", last_month)
            await _settled(page, "group", gid, after=loads)
            saver_sajja = f'input[data-member="{saver}"][data-account="sajja"]'
            other_sajja = f'input[data-member="{other}"][data-account="sajja"]'
            # The commitments prefilled: what each owes for the month.
            assert (await page.input_value(saver_sajja), await page.input_value(other_sajja)) == ("100.00", "150.00")
            await page.fill(f'input[data-member="{saver}"][data-account="special"]', "25.50")
            await page.fill(f'input[data-member="{other}"][data-account="special"]', "12.345")  # not an amount
            # The loan's installments due by the collection day, prefilled; the committee takes them.
            repayment = f'input[data-loan="{loan}"]'
            due = await page.input_value(repayment)
            assert due and float(due) > 0, due
            assert "ค้าง" in await page.inner_text(f'tr[data-member="{saver}"] td.loans')
            # The total about to be recorded, as typed (the bad amount is not in it), and confirmed before sending.
            expected = f"{(Decimal('275.50') + Decimal(due)):,.2f}"
            assert await page.inner_text("#collection-total") == f"จะบันทึก 4 รายการ รวม {expected} บาท"
            await page.click("#collection-submit")
            await _until(page, "document.body.dataset.posted === '1'")
            assert confirmed and f"รวม {expected} บาท" in confirmed[0]
            saver_result = await page.inner_text(f'[data-result="{saver}"]')
            other_result = await page.inner_text(f'[data-result="{other}"]')
            assert saver_result.count("✓ บันทึกแล้ว") == 3, saver_result  # sajja, special, repayment
            assert "✓ บันทึกแล้ว" in other_result and "จำนวนเงินไม่ถูกต้อง" in other_result, other_result
            # Paid: nothing left to pay, so the sajja boxes are empty now.
            assert await page.input_value(saver_sajja) == ""
            await page.screenshot(path=str(SCREENSHOTS / "collection-phone.png"), full_page=True)
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390

            # The same lines again (a retry after a dropped answer): answered as before, posted once.
            await page.fill(saver_sajja, "100.00")
            await page.fill(f'input[data-member="{saver}"][data-account="special"]', "25.50")
            await page.click("#collection-submit")
            await _until(page, "document.body.dataset.posted === '2'")
            balances = {m: (await client.get(f"/ledger/v1/members/{m}")).json()["balances"] for m in (saver, other)}
            assert (balances[saver]["sajja"], balances[saver]["special"]) == ("3100.00", "25.50")
            assert (balances[other]["sajja"], balances[other]["special"]) == ("150.00", "0.00")
            # The books: the members' savings as typed (3,000.00 before, 100.00 and 150.00 sajja, 25.50 special).
            trial = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
            credits = {a["code"]: a["credit"] for a in trial["accounts"]}
            assert (credits["2010"], credits["2020"], trial["balanced"]) == ("3250.00", "25.50", True)
            # The repayment went in once, as lending's ordinary command: nothing is due on that day any more.
            collected_on = (
                await client.get(f"/ledger/v1/groups/{gid}/collection-sheet", params={"month": last_month})
            ).json()["collected_on"]
            after = (await client.get(f"/lending/v1/loans/{loan}", params={"on": collected_on})).json()
            assert after["due"]["principal"] == "0.00" and after["due"]["interest"] == "0.00", after
            repayments = [
                line
                for line in (
                    await client.get(f"/lending/v1/groups/{gid}/installments-due", params={"month": last_month})
                ).json()["loans"]
            ]
            assert [line["loan_id"] for line in repayments] == [loan]

            # The month on paper: its report and the receipts, as PDFs the page links.
            for paper in ("report", "receipts"):
                href = await page.get_attribute(f'#collection-papers a[data-paper="{paper}"]', "href")
                fetched = f"fetch({href!r}).then(r => r.status + ' ' + r.headers.get('content-type'))"
                assert await page.evaluate(fetched) == "200 application/pdf", paper
            # The month has ended: the sheet offers its close, and then takes nothing more.
            assert await page.is_visible("#collection-close")
            loads = int(await page.evaluate("document.body.dataset.loads"))
            await page.click("#collection-close")
            await _until(page, "document.getElementById('collection-submit').disabled === true")
            assert "ปิดงวดบัญชีแล้ว" in await page.inner_text("#collection-progress")
            assert await page.inner_text("#collection-state") == "เดือนนี้ปิดงวดบัญชีแล้ว: บันทึกเพิ่มไม่ได้"
            assert failures == []
        finally:
            await browser.close()
