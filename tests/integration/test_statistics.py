"""Statistics from group to nation equal sums computed independently from the generated events, on
today and on past dates (a replay cut at that date)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from typing import Any

import asyncpg
import httpx

from libs.events.envelope import BANGKOK, today_in_thailand
from libs.events.store import EventStore
from tests.support.api import eventually, new_group, new_member, post
from tests.support.lending import as_user, define_product, known_member

AREAS = [("27", "2701"), ("27", "2701"), ("27", "2702"), ("10", "1001")]
DATES = [date(2024, m, d) for m in range(1, 13) for d in (3, 17)]


async def generate(client: httpx.AsyncClient, rng: random.Random) -> list[tuple[str, str]]:
    """Groups in two provinces, members who deposit, withdraw, correct and leave on known dates, and
    group loans paid out and repaid. Returns (member id, group id) pairs."""
    members = []
    for province, district in AREAS:
        gid = (await new_group(client, province_code=province, district_code=district, founded_on="2023-01-01"))[
            "group_id"
        ]
        for _ in range(3):
            joined = rng.choice(["2023-06-01", "2024-02-10", "2024-07-01"])
            members.append((str((await new_member(client, gid, joined_on=joined))["member_id"]), gid, joined))
    for member, _, joined in members:
        dates = [d for d in DATES if d.isoformat() >= joined]
        made = []
        for on in rng.sample(dates, k=min(4, len(dates))):
            account = rng.choice(["sajja", "special"])
            body = {
                "account": account,
                "amount": f"{rng.randint(50, 900)}.{rng.randint(0, 99):02d}",
                "deposited_on": on.isoformat(),
            }
            made.append((await post(client, f"/ledger/v1/members/{member}/deposits", body)).json())
        if rng.random() < 0.5:
            body = {"account": "special", "amount": "10.00", "withdrawn_on": "2024-12-20"}
            await post(client, f"/ledger/v1/members/{member}/withdrawals", body)  # may be refused: no special
        if made and rng.random() < 0.3:
            await post(
                client,
                f"/ledger/v1/members/{member}/reversals",
                {"transaction_id": made[0]["transaction_id"], "reason": "แก้ไข"},
            )
    leaver = members[0][0]
    assert (await post(client, f"/ledger/v1/members/{leaver}/exit", {"exited_on": "2024-12-28"})).status_code == 201
    return [(m, g) for m, g, _ in members[1:]]


async def lend(client: httpx.AsyncClient, members: list[tuple[str, str]]) -> None:
    await define_product(client, guarantors_required=0, approvals_required=1, max_savings_multiple=None)
    for (member, gid), principal, repaid in ((members[0], "300.00", "50.00"), (members[4], "200.00", None)):
        # Enough cash in the group for the payout: a member of the group deposits it.
        funder = await known_member(client, gid)
        await post(
            client,
            f"/ledger/v1/members/{funder}/deposits",
            {"account": "special", "amount": "1000.00", "deposited_on": "2024-03-01"},
        )
        application = {
            "member_id": member,
            "product_id": "occupation",
            "principal": principal,
            "term_months": 6,
            "purpose": "ค้าขาย",
        }
        loan = (await as_user(client, "maker", "/lending/v1/loans", application)).json()["loan_id"]
        await as_user(client, "checker", f"/lending/v1/loans/{loan}/approvals", {})
        await post(client, f"/lending/v1/loans/{loan}/disbursements", {"disbursed_on": "2024-04-01"})
        assert (await client.get(f"/lending/v1/loans/{loan}", params={"wait": 10})).json()["status"] == "active"
        if repaid:
            assert (
                await post(client, f"/lending/v1/loans/{loan}/repayments", {"amount": repaid, "paid_on": "2024-05-01"})
            ).status_code == 201


def expected(events: list[Any], as_of: date) -> dict[tuple[str, str], dict[str, Any]]:
    """An independent fold of the events: area key → figures on `as_of`."""
    sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    open_loans: dict[tuple[str, str], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    loan_member: dict[str, tuple[str, str, Any]] = {}
    programme_loans: set[str] = set()

    def keys(e: Any, group: str) -> list[tuple[str, str]]:
        return [
            ("national", ""),
            ("province", e.area.province_code),
            ("district", e.area.district_code),
            ("group", group),
        ]

    def add(e: Any, group: str, metric: str, value: int, on: date) -> None:
        if on <= as_of:
            for k in keys(e, group):
                sums[k][metric] += value

    for e in events:
        p, t = e.payload, e.event_type
        if t == "ledger.GroupRegistered":
            add(e, p["group_id"], "groups", 1, date.fromisoformat(p["founded_on"]))
        elif t == "ledger.MemberEnrolled":
            add(e, p["group_id"], "members", 1, date.fromisoformat(p["joined_on"]))
        elif t in ("ledger.SavingsDeposited", "ledger.SavingsWithdrawn"):
            sign = 1 if t == "ledger.SavingsDeposited" else -1
            on = date.fromisoformat(p["deposited_on"] if sign == 1 else p["withdrawn_on"])
            add(e, p["group_id"], p["account"], sign * p["amount_satang"], on)
        elif t == "ledger.TransactionReversed":
            add(e, p["group_id"], p["account"], p["balance_delta_satang"], e.occurred_at.astimezone(BANGKOK).date())
        elif t == "ledger.MemberExited":
            on = date.fromisoformat(p["exited_on"])
            add(e, p["group_id"], "members", -1, on)
            add(e, p["group_id"], "sajja", -p["sajja_paid_out_satang"], on)
            add(e, p["group_id"], "special", -p["special_paid_out_satang"], on)
        elif t == "lending.LoanApplied" and p.get("programme_id"):
            programme_loans.add(p["loan_id"])
        elif t.startswith("lending.") and p.get("loan_id") in programme_loans:
            continue
        elif t == "lending.LoanDisbursed":
            on = date.fromisoformat(p["disbursed_on"])
            loan_member[p["loan_id"]] = (p["member_id"], p["group_id"], e)
            add(e, p["group_id"], "loans", p["principal_satang"], on)
            if on <= as_of:
                for k in keys(e, p["group_id"]):
                    open_loans[k][p["member_id"]].add(p["loan_id"])
        elif t == "lending.RepaymentReceived":
            add(e, p["group_id"], "loans", -p["principal_satang"], date.fromisoformat(p["paid_on"]))
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for k, v in sums.items():
        result[k] = {
            "groups": v["groups"],
            "members": v["members"],
            "sajja_savings": f"{v['sajja'] / 100:.2f}",
            "special_savings": f"{v['special'] / 100:.2f}",
            "savings": f"{(v['sajja'] + v['special']) / 100:.2f}",
            "borrowers": sum(1 for loans in open_loans[k].values() if loans),
            "loans_outstanding": f"{v['loans'] / 100:.2f}",
        }
    return result


async def test_statistics_equal_an_independent_fold_on_every_date_and_level(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    members = await generate(client, random.Random(6))
    await lend(client, members)
    events = await EventStore("ledger").read_all_after(pool, 0, 100_000) + await EventStore("lending").read_all_after(
        pool, 0, 100_000
    )
    today = today_in_thailand()

    async def caught_up() -> bool:
        now = expected(events, today)[("national", "")]
        got = (await client.get("/reporting/v1/stats")).json()
        return all(got[k] == v for k, v in now.items())

    await eventually(caught_up, timeout=30)
    checked = 0
    for as_of in (date(2023, 12, 31), date(2024, 2, 29), date(2024, 4, 15), date(2024, 12, 31), today):
        want = expected(events, as_of)
        for (level, code), figures in want.items():
            params = {"level": level, "as_of": as_of.isoformat()} | ({"code": code} if code else {})
            got = (await client.get("/reporting/v1/stats", params=params)).json()
            assert {k: got[k] for k in figures} == figures, (level, code, as_of)
            checked += 1
    assert checked >= 5 * 8
    national = (await client.get("/reporting/v1/stats", params={"as_of": "2024-04-15"})).json()
    assert national["borrowers"] == 2 and national["loans_outstanding"] == "500.00"

    # The same figures as a table of child areas: JSON, and CSV / XLSX with Thai headings.
    provinces = (await client.get("/reporting/v1/stats/breakdown", params={"as_of": "2024-12-31"})).json()
    want = expected(events, date(2024, 12, 31))
    assert [(i["code"], i["name_th"]) for i in provinces["items"]] == [("10", "กรุงเทพมหานคร"), ("27", "สระแก้ว")]
    for item in provinces["items"]:
        assert {k: item[k] for k in want[("province", item["code"])]} == want[("province", item["code"])]
    csv_text = (
        await client.get("/reporting/v1/stats/breakdown", params={"level": "province", "code": "27", "format": "csv"})
    ).content.decode("utf-8-sig")
    assert "เงินสัจจะสะสม (บาท)" in csv_text and "เมืองสระแก้ว" in csv_text
    import io

    import openpyxl

    xlsx = await client.get(
        "/reporting/v1/stats/breakdown", params={"level": "province", "code": "27", "format": "xlsx"}
    )
    rows = list(openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    district = want[("district", "2702")]
    row = next(r for r in rows if r[0] == "2702")
    # Figures as spreadsheet numbers: the count exactly, the baht to the satang.
    assert (row[1], row[3]) == ("คลองหาด", district["members"])
    assert round(row[4] * 100) == round(float(district["savings"]) * 100)
