"""An officer's worklists in lending and finding a member (#15 item 4): the area's loans in arrears worst first,
with days late, what is overdue, the group, the member's name and the loan's kind, paged and as files whose
hostile text stays text; the applications waiting for a checker, for those who may check them; members by name
or national ID within the caller's area, national IDs whole only for those who keep the register; each group's
SMART level for the district's table."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from typing import Any

import asyncpg
import httpx
import openpyxl

from libs.events.settings import Settings
from tests.conftest import shared_platform
from tests.support.api import eventually, national_id, new_group, post
from tests.support.auth import bearer, partner_token, user_token
from tests.support.lending import as_user, define_product, known_member

settings, database_url, broker, running = shared_platform()

HOSTILE_GROUP = '=HYPERLINK("http://x","y")'
HOSTILE_MEMBER = "=1+1 สมชาย"


async def _active_loan(client: httpx.AsyncClient, member: str, disbursed_on: str, principal: str) -> str:
    application = {
        "member_id": member,
        "product_id": "worklist-loan",
        "principal": principal,
        "term_months": 6,
        "purpose": "ทุนค้าขาย",
        "applied_on": disbursed_on,
    }
    applied = await as_user(client, "maker", "/lending/v1/loans", application)
    assert applied.status_code == 201, applied.text
    loan = applied.json()["loan_id"]
    for checker in ("checker-1", "checker-2"):
        approved = await as_user(client, checker, f"/lending/v1/loans/{loan}/approvals", {})
        assert approved.status_code == 201, approved.text
    paid = await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": disbursed_on})
    assert paid.status_code == 202, paid.text
    active = (await client.get(f"/lending/v1/loans/{loan}", params={"wait": 10})).json()
    assert active["status"] == "active", active
    return str(loan)


async def test_overdue_loans_approvals_waiting_member_search_and_smart_levels(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    keys = settings.auth_signing_keys
    officer = bearer(user_token(keys, "officer-2701", "district_officer", province_code="27", district_code="2701"))
    elsewhere = bearer(user_token(keys, "officer-2702", "district_officer", province_code="27", district_code="2702"))
    province = bearer(user_token(keys, "officer-27", "province_officer", province_code="27"))
    await define_product(
        client, product_id="worklist-loan", name_th="เงินกู้ทดสอบงานค้าง", guarantors_required=0, approvals_required=2
    )
    hostile = (await new_group(client, name=HOSTILE_GROUP, founded_on="2023-06-01"))["group_id"]
    plain = (await new_group(client, name="กลุ่มออมทรัพย์บ้านโนนสูง", founded_on="2023-06-01"))["group_id"]
    worst = await known_member(client, hostile, sajja="9000.00", full_name=HOSTILE_MEMBER, national_id=national_id(71))
    later = await known_member(client, plain, sajja="9000.00", full_name="สมศรี ใจงาม", national_id=national_id(72))
    applicant = await known_member(client, plain, sajja="9000.00", full_name="บุญมี มีสุข", national_id=national_id(73))
    first = await _active_loan(client, worst, "2024-01-15", "3000.00")
    second = await _active_loan(client, later, "2024-03-10", "2000.00")

    # --- loans in arrears, worst first -------------------------------------------------------------------
    params = {"level": "district", "code": "2701", "on": "2024-06-01"}

    async def listed() -> dict[str, Any] | None:
        answer = await client.get("/lending/v1/worklists/overdue-loans", params=params, headers=officer)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body if {first, second} <= {i["loan_id"] for i in body["items"]} else None

    worklist = await eventually(listed, timeout=30)
    items = [i for i in worklist["items"] if i["loan_id"] in (first, second)]
    assert [i["loan_id"] for i in items] == [first, second]  # the oldest unpaid installment first
    top = items[0]
    # Nothing repaid: the first installment fell due on 15 Feb, 107 days before 1 June; four installments are due.
    assert (top["days_past_due"], top["oldest_unpaid_due_on"]) == (107, "2024-02-15")
    loan = (await client.get(f"/lending/v1/loans/{first}", params={"on": "2024-06-01"})).json()
    due = loan["due"]
    assert top["overdue"] == f"{sum(float(due[k]) for k in ('principal', 'interest', 'penalty')):.2f}"
    assert top["outstanding_principal"] == "3000.00"
    assert (top["group_name"], top["full_name"], top["kind_th"]) == (HOSTILE_GROUP, HOSTILE_MEMBER, "เงินกู้ทดสอบงานค้าง")
    assert worklist["loans_in_arrears"] >= 2
    # Paged: one a page, the next link leads on to the second.
    page = (await client.get("/lending/v1/worklists/overdue-loans", params=params | {"limit": 1})).json()
    assert [i["loan_id"] for i in page["items"]] == [first] and page["next"]
    following = (await client.get(page["next"])).json()
    assert following["items"][0]["loan_id"] == second
    assert (await client.get("/lending/v1/worklists/overdue-loans", params=params | {"after": "x"})).status_code == 422
    # Before its first due date a loan is not in arrears.
    early = (await client.get("/lending/v1/worklists/overdue-loans", params=params | {"on": "2024-04-10"})).json()
    assert {i["loan_id"] for i in early["items"]} & {first, second} == {first}
    # Another district's officer: not this district's list, and not this district's loans in their own.
    refused = await client.get("/lending/v1/worklists/overdue-loans", params=params, headers=elsewhere)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    theirs = await client.get(
        "/lending/v1/worklists/overdue-loans", params=params | {"code": "2702"}, headers=elsewhere
    )
    assert theirs.status_code == 200 and not {i["loan_id"] for i in theirs.json()["items"]} & {first, second}
    # The list as files: hostile names stay text (a quote before them in CSV, string cells in XLSX).
    as_csv = await client.get("/lending/v1/worklists/overdue-loans", params=params | {"format": "csv"})
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    mine = [r for r in rows if r and r[-1] == first]
    assert mine and mine[0][:5] == ["107", top["overdue"], "3000.00", "'" + HOSTILE_GROUP, "'" + HOSTILE_MEMBER]
    assert [r[-1] for r in rows if r and r[-1] in (first, second)] == [first, second]
    as_xlsx = await client.get("/lending/v1/worklists/overdue-loans", params=params | {"format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    cells = {r[-1].value: r for r in sheet.iter_rows() if r[-1].value in (first, second)}
    assert cells[first][0].value == 107 and cells[first][3].value == HOSTILE_GROUP
    assert all(c.data_type != "f" for c in cells[first])

    # --- applications waiting for a checker ----------------------------------------------------------------
    application = {
        "member_id": applicant,
        "product_id": "worklist-loan",
        "principal": "1500.00",
        "term_months": 6,
        "purpose": "ซื้อพันธุ์ข้าว",
        "applied_on": "2024-05-20",
    }
    maker = bearer(user_token(keys, "maker-7", "district_officer", province_code="27", district_code="2701"))
    applied = await client.post(
        "/lending/v1/loans", json=application, headers=maker | {"Idempotency-Key": "worklist-apply"}
    )
    assert applied.status_code == 201, applied.text
    waiting_loan = applied.json()["loan_id"]
    position = applied.json()["position"]["lending"]
    where = {"level": "district", "code": "2701", "after": f"lending:{position}"}

    async def waiting(headers: dict[str, str]) -> dict[str, Any]:
        answer = await client.get("/lending/v1/worklists/approvals", params=where, headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    for_officer = await waiting(officer)
    [row] = [i for i in for_officer["items"] if i["loan_id"] == waiting_loan]
    assert (row["entered_by"], row["approvals"], row["approvals_required"]) == ("maker-7", 0, 2)
    assert (row["full_name"], row["group_name"], row["principal"]) == ("บุญมี มีสุข", "กลุ่มออมทรัพย์บ้านโนนสูง", "1500.00")
    # Not for the one who entered it.
    assert waiting_loan not in {i["loan_id"] for i in (await waiting(maker))["items"]}
    # The officer approves: still waiting for a second checker, but no longer for this officer.
    approved = await client.post(
        f"/lending/v1/loans/{waiting_loan}/approvals", json={}, headers=officer | {"Idempotency-Key": "worklist-ok"}
    )
    assert approved.status_code == 201, approved.text
    where["after"] = f"lending:{approved.json()['position']['lending']}"
    assert waiting_loan not in {i["loan_id"] for i in (await waiting(officer))["items"]}
    [row] = [i for i in (await waiting(bearer(user_token(keys, "checker-9"))))["items"] if i["loan_id"] == waiting_loan]
    assert (row["approvals"], row["approved_by"]) == (1, ["officer-2701"])
    # The second approval completes it: gone from every list.
    done = await as_user(client, "checker-9", f"/lending/v1/loans/{waiting_loan}/approvals", {})
    assert done.status_code == 201 and done.json()["status"] == "approved"
    where["after"] = f"lending:{done.json()['position']['lending']}"
    assert waiting_loan not in {i["loan_id"] for i in (await waiting(bearer(user_token(keys, "checker-10"))))["items"]}
    # A province officer may not check loans; another district's officer not these.
    assert (await client.get("/lending/v1/worklists/approvals", params=where, headers=province)).status_code == 403
    assert (await client.get("/lending/v1/worklists/approvals", params=where, headers=elsewhere)).status_code == 403

    # --- members by name or national ID, within the area ----------------------------------------------------
    search = "/ledger/v1/members/search"
    found = (
        await client.get(search, params={"q": "ใจงาม", "level": "district", "code": "2701"}, headers=officer)
    ).json()
    [member] = [i for i in found["items"] if i["member_id"] == later]
    assert (member["full_name"], member["group_id"], member["group_name"]) == (
        "สมศรี ใจงาม",
        plain,
        "กลุ่มออมทรัพย์บ้านโนนสูง",
    )
    assert (member["national_id"], member["national_id_masked"]) == (national_id(72), False)  # keeps the register
    seen_by_province = (
        await client.get(search, params={"q": "ใจงาม", "level": "province", "code": "27"}, headers=province)
    ).json()
    [member] = [i for i in seen_by_province["items"] if i["member_id"] == later]
    nid = national_id(72)
    assert member["national_id"] == f"x-xxxx-xxxxx-{nid[10:12]}-{nid[12]}" and member["national_id_masked"]
    dashed = f"{nid[0]}-{nid[1:5]}-{nid[5:10]}-{nid[10:12]}-{nid[12]}"
    by_id = (
        await client.get(search, params={"q": dashed, "level": "district", "code": "2701"}, headers=officer)
    ).json()
    assert [i["member_id"] for i in by_id["items"]] == [later]
    outside = await client.get(search, params={"q": "ใจงาม", "level": "district", "code": "2702"}, headers=elsewhere)
    assert outside.status_code == 200 and outside.json()["items"] == []  # their district has no such member
    for refused_search in (
        await client.get(search, params={"q": "ใจงาม", "level": "district", "code": "2701"}, headers=elsewhere),
        await client.get(search, params={"q": "ใจงาม"}, headers=officer),  # not the nation
        await client.get(
            search,
            params={"q": "ใจงาม"},
            headers=bearer(partner_token(keys, "gsb", frozenset({"referrals"}))),
        ),
        await client.get("/ledger/v1/members/names", params={"member_id": later}, headers=officer),
        # Members' names by id are for the services alone: not the department's or an auditor's to list.
        await client.get("/ledger/v1/members/names", params={"member_id": later}),
        await client.get(
            "/ledger/v1/members/names", params={"member_id": later}, headers=bearer(user_token(keys, "a-1", "auditor"))
        ),
    ):
        assert refused_search.status_code == 403, refused_search.text
    committee = bearer(user_token(keys, "committee-plain", "committee", group_id=plain))
    own = (await client.get(search, params={"q": "สม", "level": "group", "code": plain}, headers=committee)).json()
    assert {i["member_id"] for i in own["items"]} == {later}  # not the other group's สมชาย
    assert (await client.get(search, params={"q": " ก ", "level": "group", "code": plain})).status_code == 422

    # --- each group's SMART level, for the district's table ---------------------------------------------------
    levels = (await client.get("/reporting/v1/smart/levels", params={"district": "2701"}, headers=officer)).json()
    graded = {i["group_id"]: i["level"] for i in levels["items"]}
    assert {hostile, plain} <= set(graded) and all(level >= 1 for level in graded.values())
    smart = (await client.get(f"/reporting/v1/groups/{plain}/smart")).json()
    assert graded[plain] == smart["level"]
    assert (
        await client.get("/reporting/v1/smart/levels", params={"district": "2701"}, headers=elsewhere)
    ).status_code == 403


async def test_approvals_waiting_counts_and_finds_the_callers_past_a_thousand_of_their_own(
    client: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    """An area with more waiting applications than a page: the caller's own (which they may not check) do not hide
    the one they may, and the counts are the area's, not a page's. Rows put straight into lending's table of
    waiting applications (as the projection keeps them), in a district of their own, and taken out after."""
    district = "9901"
    own = [(uuid.uuid4(), date(2024, 1, 1), "flood-maker") for _ in range(1000)]
    theirs = (uuid.uuid4(), date(2024, 2, 1), "another-maker")
    await pool.execute(
        """insert into lending.loan_applications (loan_id, group_id, member_id, province_code, district_code,
               product_id, programme_id, principal_satang, term_months, applied_on, entered_by, approvals_required)
           select x.loan_id, gen_random_uuid(), gen_random_uuid(), '99', $4, 'worklist-loan', null, 100000, 6,
                  x.applied_on, x.entered_by, 2
           from unnest($1::uuid[], $2::date[], $3::text[]) as x(loan_id, applied_on, entered_by)""",
        [r[0] for r in [*own, theirs]],
        [r[1] for r in [*own, theirs]],
        [r[2] for r in [*own, theirs]],
        district,
    )
    try:
        maker = bearer(user_token(settings.auth_signing_keys, "flood-maker"))
        answer = await client.get(
            "/lending/v1/worklists/approvals", params={"level": "district", "code": district}, headers=maker
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["waiting"], body["for_you"]) == (1001, 1)
        assert [i["loan_id"] for i in body["items"]] == [str(theirs[0])]
    finally:
        await pool.execute("delete from lending.loan_applications where district_code = $1", district)
