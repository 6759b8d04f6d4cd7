"""An officer's worklist of groups behind on their month-end close, and finding a group by name or id: within the
caller's area only, read from reporting's projections."""

from __future__ import annotations

import io

import httpx
import openpyxl

from libs.events.settings import Settings
from tests.conftest import shared_platform
from tests.support.api import eventually, new_group, post
from tests.support.auth import bearer, user_token

settings, database_url, broker, running = shared_platform()


async def test_groups_behind_on_their_month_close_furthest_first_within_the_area(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    closed = (await new_group(client, name="กลุ่มออมทรัพย์บ้านโนนงาม", founded_on="2023-06-01"))["group_id"]
    never = (await new_group(client, name="กลุ่มออมทรัพย์บ้านหนองบัว", founded_on="2023-06-01"))["group_id"]
    elsewhere = (await new_group(client, name="กลุ่มออมทรัพย์บ้านคลองหาด", district_code="2702"))["group_id"]
    for month in ("2023-12", "2024-01"):
        answer = await post(client, f"/ledger/v1/groups/{closed}/month-closes", {"month": month})
        assert answer.status_code == 201, answer.text

    async def listed() -> dict[str, object] | None:
        answer = await client.get(
            "/reporting/v1/worklists/month-closes", params={"level": "district", "code": "2701", "as_of": "2024-04-10"}
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        rows = {i["group_id"]: i for i in body["items"]}  # type: ignore[attr-defined]
        return body if closed in rows and rows[closed]["last_closed"] == "2024-01" else None

    worklist = await eventually(listed, timeout=30)
    items = [i for i in worklist["items"] if i["group_id"] in (closed, never)]
    # Never closed first; then January's close, two months behind in April (February and March are open).
    assert [(i["group_id"], i["months_behind"], i["last_closed_th"]) for i in items] == [
        (never, None, None),
        (closed, 2, "ม.ค. 2567"),
    ]
    assert elsewhere not in {i["group_id"] for i in worklist["items"]}
    # The same list as a file: never closed first, months behind a number.
    xlsx = await client.get(
        "/reporting/v1/worklists/month-closes",
        params={"level": "district", "code": "2701", "as_of": "2024-04-10", "format": "xlsx"},
    )
    rows = [r for r in openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)]
    listed = {r[0]: r[3:] for r in rows if r and r[0] in (closed, never)}
    assert listed == {never: ("ยังไม่เคยปิด", None), closed: ("ม.ค. 2567", 2)}
    # As of February, January's close is the one due: that group is not behind.
    february = (
        await client.get(
            "/reporting/v1/worklists/month-closes", params={"level": "district", "code": "2701", "as_of": "2024-02-20"}
        )
    ).json()
    assert closed not in {i["group_id"] for i in february["items"]} and never in {
        i["group_id"] for i in february["items"]
    }

    # Another district's officer may not read this district's worklist.
    keys = settings.auth_signing_keys
    officer = bearer(user_token(keys, "officer-2702", "district_officer", province_code="27", district_code="2702"))
    refused = await client.get(
        "/reporting/v1/worklists/month-closes", params={"level": "district", "code": "2701"}, headers=officer
    )
    assert refused.status_code == 403
    own = await client.get(
        "/reporting/v1/worklists/month-closes", params={"level": "district", "code": "2702"}, headers=officer
    )
    assert own.status_code == 200 and elsewhere in {i["group_id"] for i in own.json()["items"]}

    # Search by part of the name, or the start of the id, within the area asked.
    found = (await client.get("/reporting/v1/search", params={"q": "หนองบัว", "level": "province", "code": "27"})).json()
    assert never in {i["group_id"] for i in found["items"]}
    assert closed not in {i["group_id"] for i in found["items"]}
    by_id = await client.get("/reporting/v1/search", params={"q": elsewhere[:13], "level": "district", "code": "2702"})
    assert [i["group_id"] for i in by_id.json()["items"]] == [elsewhere]
    outside = (
        await client.get("/reporting/v1/search", params={"q": "คลองหาด", "level": "district", "code": "2701"})
    ).json()
    assert outside["items"] == []
    nationwide = await client.get("/reporting/v1/search", params={"q": "คลองหาด"}, headers=officer)
    assert nationwide.status_code == 403  # a district officer searches their district, not the nation
    assert (await client.get("/reporting/v1/search", params={"q": "ก"})).status_code == 422  # too short

    # How fresh the figures are: the statistics took events, this recently after they happened.
    fresh = (await client.get("/reporting/v1/freshness")).json()
    assert fresh["last_applied_at"] is not None and 0 <= fresh["delay_seconds"] < 60
    assert fresh["projections"]["statistics"]["applied"] > 0 and fresh["waiting_streams"] == 0
