"""Spreadsheet formula injection through the API: a group named `=HYPERLINK(...)`, a campaign, a report's
notes and a nomination's narrative that start like formulas, then every CSV and XLSX the platform offers
(found in the OpenAPI documents, so a new export is covered or this test fails) read back: no cell is a
formula, no CSV cell starts with = + - @ tab or CR (save a figure column's negative number), and the text
is still there for people to read."""

from __future__ import annotations

import csv
import io
from typing import Any

import asyncpg
import httpx
import openpyxl

from libs.documents.tables import FIGURE, FORMULA_LEADS
from libs.events.projector import wait_until_applied
from tests.support.api import eventually, new_member, post

LINK = '=HYPERLINK("http://x","y")'
# Group names; the first must be accepted, the others may also be refused as bad input (a defence too). The
# ledger strips leading whitespace, so the tab and CR ones arrive as "=1+1" (notes and narratives keep theirs).
GROUP_NAMES = [LINK, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1"]
CAMPAIGN = {
    "campaign_id": "inject-test",
    "name_th": "=1+1 มหกรรมการออม",
    "name_en": "@injection test",
    "starts_on": "2023-12-01",
    "ends_on": "2024-02-29",
    "provinces": ["27"],
    "rules": [{"kind": "new_member"}, {"kind": "special_deposit", "min_amount_satang": 5000}],
    "targets": {},
    "deadlines": {"nominations": "2024-02-16", "district_report": "2024-03-15", "province_report": "2024-03-29"},
}
C = "/campaign/v1/campaigns/inject-test"
# Every export, with the parameters that put the hostile text in it: (path, params, formats).
EXPORTS: list[tuple[str, str, dict[str, str], tuple[str, ...]]] = [
    (
        "/reporting/v1/stats/breakdown",
        "/reporting/v1/stats/breakdown",
        {"level": "district", "code": "2701"},
        ("csv", "xlsx"),
    ),
    (
        "/reporting/v1/stats/breakdown",
        "/reporting/v1/stats/breakdown",
        {"level": "province", "code": "27"},
        ("csv", "xlsx"),
    ),
    (
        "/reporting/v1/stats/series",
        "/reporting/v1/stats/series",
        {"level": "district", "code": "2701"},
        ("csv", "xlsx"),
    ),
    ("/reporting/v1/smart/closest", "/reporting/v1/smart/closest", {"district": "2701"}, ("csv", "xlsx")),
    ("/reporting/v1/partners/{partner}/pipeline", "/reporting/v1/partners/gsb/pipeline", {}, ("csv", "xlsx")),
    ("/reporting/v1/provinces/{province_code}/report", "/reporting/v1/provinces/27/report", {}, ("xlsx",)),
    ("/lending/v1/portfolio", "/lending/v1/portfolio", {"level": "province", "code": "27"}, ("csv", "xlsx")),
    ("/ledger/v1/imports/template", "/ledger/v1/imports/template", {}, ("xlsx",)),
    # {group}: the first group made below, its name hostile.
    ("/ledger/v1/groups/{group_id}/trial-balance", "/ledger/v1/groups/{group}/trial-balance", {}, ("csv", "xlsx")),
    ("/ledger/v1/groups/{group_id}/balance-sheet", "/ledger/v1/groups/{group}/balance-sheet", {}, ("csv", "xlsx")),
    (
        "/ledger/v1/groups/{group_id}/income-statement",
        "/ledger/v1/groups/{group}/income-statement",
        {"from": "2023-01-01"},
        ("csv", "xlsx"),
    ),
    (
        "/reporting/v1/worklists/month-closes",
        "/reporting/v1/worklists/month-closes",
        {"level": "district", "code": "2701"},
        ("csv", "xlsx"),
    ),
    (
        "/lending/v1/worklists/overdue-loans",
        "/lending/v1/worklists/overdue-loans",
        {"level": "district", "code": "2701"},
        ("csv", "xlsx"),
    ),
    (
        "/campaign/v1/campaigns/{campaign_id}/progress/breakdown",
        f"{C}/progress/breakdown",
        {"level": "province", "code": "27", "as_of": "2024-02-29"},
        ("csv", "xlsx"),
    ),
    ("/campaign/v1/campaigns/{campaign_id}/reports", f"{C}/reports", {"province": "27"}, ("csv", "xlsx")),
    (
        "/campaign/v1/campaigns/{campaign_id}/reports/{level}/{code}/export",
        f"{C}/reports/district/2701/export",
        {},
        ("xlsx",),
    ),
    (
        "/campaign/v1/campaigns/{campaign_id}/nominations/{district_code}/{kind}/export",
        f"{C}/nominations/2701/member/export",
        {},
        ("xlsx",),
    ),
    (
        "/campaign/v1/campaigns/{campaign_id}/nominations/{district_code}/{kind}/export",
        f"{C}/nominations/2701/group/export",
        {},
        ("xlsx",),
    ),
]


async def spreadsheet_routes(client: httpx.AsyncClient) -> set[str]:
    """Every GET whose `format` can be csv or xlsx, from the services' OpenAPI documents."""
    found = set()
    for service in ("ledger", "lending", "campaign", "reporting"):
        document = (await client.get(f"/{service}/openapi.json")).json()
        for path, operations in document["paths"].items():
            for parameter in operations.get("get", {}).get("parameters", []):
                schema: dict[str, Any] = parameter.get("schema", {})
                choices = set(schema.get("enum", [])) | {c for s in schema.get("anyOf", []) for c in s.get("enum", [])}
                if parameter["name"] == "format" and choices & {"csv", "xlsx"}:
                    found.add(path)
    return found


async def test_no_export_carries_a_formula(client: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert {route for route, *_ in EXPORTS} == await spreadsheet_routes(client)

    assert (await post(client, "/campaign/v1/campaigns", CAMPAIGN)).status_code == 201
    names = []
    groups: list[str] = []
    last: dict[str, int] = {}
    for i, name in enumerate(GROUP_NAMES):
        body = {"name": name, "province_code": "27", "district_code": "2701", "founded_on": "2020-01-01"}
        response = await post(client, "/ledger/v1/groups", body)
        assert response.status_code == 201 or (i > 0 and response.status_code == 422), response.text
        if response.status_code != 201:
            continue
        names.append(name.strip())
        group = response.json()["group_id"]
        groups.append(group)
        member = (await new_member(client, group, joined_on="2023-12-01", full_name="=1+1"))["member_id"]
        for day, amount in (("2023-12-05", "100.00"), ("2024-01-05", "150.00"), ("2024-02-05", "200.00")):
            deposit = {"account": "special", "amount": amount, "deposited_on": day}
            response = await post(client, f"/ledger/v1/members/{member}/deposits", deposit)
            assert response.status_code == 201, response.text
            last[member] = response.json()["position"]["ledger"]
    for member, position in last.items():
        assert await wait_until_applied(pool, "campaign", "ledger_facts", f"member-{member}", position, 15)

    async def projected() -> bool:
        stats = (await client.get("/reporting/v1/stats", params={"level": "district", "code": "2701"})).json()
        return bool(stats["groups"] == len(names) and stats["savings"] == f"{450 * len(names)}.00")

    await eventually(projected, timeout=30)

    report = await post(client, f"{C}/reports", {"level": "district", "code": "2701", "notes": "@SUM(1+1)"})
    assert report.status_code == 201, report.text
    narrative = {
        "occupation": '=WEBSERVICE("http://x")',
        "suggestions": "\t-1",
        "contributions": "+1",
        "results": "\r@A1",
    }
    for kind in ("member", "group"):
        body = {"district_code": "2701", "kind": kind, "narrative": narrative}
        nominated = await post(client, f"{C}/nominations", body)
        assert nominated.status_code == 201, nominated.text

    seen: set[str] = set()
    for _route, path, params, formats in EXPORTS:
        for format in formats:
            response = await client.get(path.replace("{group}", groups[0]), params=params | {"format": format})
            assert response.status_code == 200, (path, format, response.text)
            if format == "csv":
                text = response.content.decode("utf-8-sig")
                for row in csv.reader(io.StringIO(text)):
                    for cell in row:
                        assert not cell or cell[0] not in FORMULA_LEADS or FIGURE.fullmatch(cell), (path, cell)
                        seen.add(cell)
            else:
                book = openpyxl.load_workbook(io.BytesIO(response.content))
                for sheet in book.worksheets:
                    for row in sheet.iter_rows():
                        for cell in row:
                            assert cell.data_type != "f", (path, cell.coordinate, cell.value)
                            if isinstance(cell.value, str):
                                seen.add(cell.value)
    # The hostile text reached the files, as text: quoted in CSV, as typed in XLSX (XML reads CR as LF).
    for name in names:
        assert "'" + name in seen and name in seen, name
    assert {"'=1+1 มหกรรมการออม", "=1+1 มหกรรมการออม", "@SUM(1+1)", '=WEBSERVICE("http://x")', "\t-1", "\n@A1"} <= seen
