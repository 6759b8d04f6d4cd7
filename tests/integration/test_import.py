"""Onboarding from spreadsheets (POST /ledger/v1/imports, the job `sajja import` starts), on the real platform:
a file with a known set of errors refuses exactly those rows and imports nothing (or the good groups alone, when
asked); an import's books balance and reconcile, its statistics are the file's sums, and the same file again
changes nothing while a corrected one adds only what is new. A district officer imports only their district."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import openpyxl

from services.ledger.onboarding import workbook
from services.ledger.onboarding.plan import group_id_for, loan_id_for
from services.ledger.onboarding.workbook import EXAMPLE_DEPOSITS, EXAMPLE_GROUPS, EXAMPLE_LOANS, EXAMPLE_MEMBERS
from tests.support.api import eventually
from tests.support.auth import bearer, signing_key_for_tests, user_token

GROUPS, MEMBERS, DEPOSITS, LOANS = "กลุ่ม (groups)", "สมาชิก (members)", "เงินฝาก (deposits)", "เงินกู้ (loans)"


async def start(
    client: httpx.AsyncClient, path: Path, good_groups_only: bool = False, **headers: str
) -> httpx.Response:
    return await client.post(
        "/ledger/v1/imports",
        params={"file_name": path.name, "good_groups_only": str(good_groups_only).lower()},
        content=path.read_bytes(),
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/octet-stream"} | headers,
    )


async def finished(client: httpx.AsyncClient, answer: httpx.Response, **headers: str) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    job = answer.json()
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "importing"):
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)
        polled = await client.get(job["links"]["self"], headers=headers)
        assert polled.status_code == 200, polled.text
        job = polled.json()
    return job


def edit(source: Path, out: Path, changes: dict[tuple[str, int, str], object]) -> Path:
    """A copy of the template with cells changed: (sheet, row, heading's English part) → value."""
    book = openpyxl.load_workbook(source)
    for (sheet_name, row, english), value in changes.items():
        sheet = book[sheet_name]
        [column] = [c.column for c in sheet[1] if isinstance(c.value, str) and c.value.endswith(f"({english})")]
        sheet.cell(row, column).value = value
    book.save(out)
    return out


def satang(text: str) -> int:
    whole, _, cents = text.partition(".")
    return int(whole.replace(",", "")) * 100 + int((cents + "00")[:2]) * (-1 if text.startswith("-") else 1)


async def test_an_import_refuses_exactly_its_bad_rows_balances_its_books_and_changes_nothing_twice(
    client: httpx.AsyncClient, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    template = tmp_path / "groups.xlsx"
    workbook.write_template(template)
    clean_group, faulty_group = EXAMPLE_GROUPS
    faulty = edit(
        template,
        tmp_path / "with-errors.xlsx",
        {
            (GROUPS, 3, "opening day"): date(2025, 12, 30),  # not a month's last day (the import's own check)
            (MEMBERS, 6, "monthly commitment"): "1,005.00",  # not whole shares of 100 baht
            (DEPOSITS, 12, "amount"): "-5",
        },
    )
    events_before = await pool.fetchval("select count(*) from ledger.events")

    # All or nothing: refused, with exactly those rows (and the deposits of the refused member), nothing written.
    refused = await finished(client, await start(client, faulty))
    assert refused["status"] == "refused", refused
    problems = refused["result"]["problems"]
    assert {(p["sheet"], p["row"]) for p in problems} == {
        (GROUPS, 3),
        (MEMBERS, 6),
        (DEPOSITS, 9),
        (DEPOSITS, 10),
        (DEPOSITS, 12),
        (LOANS, 4),  # her loan
    }, problems
    fields = {(p["sheet"], p["row"]): p["field"] for p in problems}
    assert fields[(GROUPS, 3)] == "วันที่ยอดยกมา (opening day)" and "(monthly commitment)" in fields[(MEMBERS, 6)]
    assert all(p["reason_th"] and p["reason_en"] for p in problems)
    assert refused["result"]["groups_refused"] == [faulty_group.group_code]
    assert await pool.fetchval("select count(*) from ledger.events") == events_before
    report = await client.get(refused["links"]["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("application/vnd.openxml")
    marked = openpyxl.load_workbook(io.BytesIO(report.content))
    assert marked.sheetnames[0] == "ข้อผิดพลาด (problems)" and marked.worksheets[0].max_row == 1 + len(problems)
    [commitment_column] = [c.column for c in marked[MEMBERS][1] if "(monthly commitment)" in str(c.value)]
    assert marked[MEMBERS].cell(6, commitment_column).comment is not None
    assert marked[MEMBERS].cell(5, commitment_column).comment is None

    # The good groups alone, when asked: the clean group comes in, the faulty one is reported.
    partial = await finished(client, await start(client, faulty, good_groups_only=True))
    assert partial["status"] == "imported", partial
    assert partial["result"]["new"] == {
        "groups": 1,
        "members": 3,
        "opening_balances": 5,
        "deposits": 6,
        "loans": 1,
        "events": 2 + 3 + 5 + 6 + 2,  # a loan: the books' receivable and lending's open loan
    }
    assert partial["links"]["report"] is not None and partial["result"]["groups_refused"] == [faulty_group.group_code]

    # The corrected (template's own) file: only the other group is new; what the first brought stays.
    whole = await finished(client, await start(client, template))
    assert whole["status"] == "imported", whole
    assert whole["result"]["already_imported"] == {"groups": 1, "members": 3, "deposits": 6, "loans": 1}
    assert whole["result"]["new"]["groups"] == 1 and whole["result"]["new"]["deposits"] == 5
    assert whole["result"]["new"]["loans"] == 2
    assert whole["result"]["events_written"] == whole["result"]["new"]["events"] > 0
    position = whole["result"]["position"]
    after = f"ledger:{position['ledger']},lending:{position['lending']}"

    # The books balance and reconcile; statistics and balances are the file's sums.
    for group in EXAMPLE_GROUPS:
        gid = group_id_for(group)
        members = [m for m in EXAMPLE_MEMBERS if m.group_code == group.group_code]
        deposits = [d for d in EXAMPLE_DEPOSITS if d.group_code == group.group_code]
        sajja = sum(m.opening_sajja_satang for m in members) + sum(
            d.amount_satang for d in deposits if d.account == "sajja"
        )
        special = sum(m.opening_special_satang for m in members) + sum(
            d.amount_satang for d in deposits if d.account == "special"
        )
        loans = [loan for loan in EXAMPLE_LOANS if loan.group_code == group.group_code]
        lent = sum(loan.outstanding_satang for loan in loans)
        trial = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
        assert trial["balanced"], trial
        balance = {a["code"]: satang(a["balance"]) for a in trial["accounts"]}
        assert balance["1010"] == sajja + special - lent and balance["1100"] == lent
        reconciliation = (await client.get(f"/ledger/v1/groups/{gid}/reconciliation")).json()
        assert reconciliation["reconciled"], reconciliation
        stats = await client.get("/reporting/v1/stats", params={"level": "group", "code": str(gid), "after": after})
        assert stats.status_code == 200, stats.text
        figures = stats.json()
        assert (satang(figures["sajja_savings"]), satang(figures["special_savings"])) == (sajja, special)
        assert figures["members"] == len(members) and figures["groups"] == 1
        assert satang(figures["loans_outstanding"]) == lent and figures["borrowers"] == len(loans)
        portfolio = await client.get(
            "/lending/v1/portfolio", params={"level": "group", "code": str(gid), "after": after}
        )
        assert portfolio.status_code == 200, portfolio.text
        for loan in loans:
            shown = (await client.get(f"/lending/v1/loans/{loan_id_for(gid, loan.contract_no)}")).json()
            assert shown["status"] == "active", shown
        listed = (await client.get(f"/ledger/v1/groups/{gid}/members")).json()["items"]
        assert len(listed) == len(members)
        opened = (await client.get(f"/ledger/v1/groups/{gid}")).json()
        assert opened["name"] == group.name
        # The group's own books hold everything through the opening day: entries dated then are refused.
        back_dated = await client.post(
            f"/ledger/v1/members/{listed[0]['member_id']}/deposits",
            json={"account": "special", "amount": "10.00", "deposited_on": "2025-12-31"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert back_dated.status_code == 409, back_dated.text

    # A loan carried over is repaid like any other: lending takes it, the ledger books it (receivable down).
    flat = EXAMPLE_LOANS[0]
    gid = group_id_for(clean_group)
    loan_id = loan_id_for(gid, flat.contract_no)
    first_due = (await client.get(f"/lending/v1/loans/{loan_id}")).json()
    repaid = await client.post(
        f"/lending/v1/loans/{loan_id}/repayments",
        json={"amount": "3000.00", "paid_on": "2026-01-05"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert repaid.status_code == 201, (repaid.text, first_due)

    async def receivable_down() -> bool:
        trial = (await client.get(f"/ledger/v1/groups/{gid}/trial-balance")).json()
        return {a["code"]: satang(a["balance"]) for a in trial["accounts"]}["1100"] < flat.outstanding_satang

    await eventually(receivable_down)

    # The same file again changes nothing; a corrected one adds only its new row.
    events_after = await pool.fetchval("select count(*) from ledger.events")
    again = await finished(client, await start(client, template))
    assert again["status"] == "imported" and again["result"]["new"]["events"] == 0
    assert again["result"]["already_imported"] == {"groups": 2, "members": 6, "deposits": 11, "loans": 3}
    assert await pool.fetchval("select count(*) from ledger.events") == events_after
    corrected = tmp_path / "with-march.xlsx"
    book = openpyxl.load_workbook(template)
    book[DEPOSITS].append(["2701-001", EXAMPLE_MEMBERS[0].national_id, "5/3/2569", "สัจจะ", "200.00"])
    book.save(corrected)
    more = await finished(client, await start(client, corrected))
    assert more["status"] == "imported" and more["result"]["new"]["deposits"] == 1, more
    assert await pool.fetchval("select count(*) from ledger.events") == events_after + 1

    # A file may be larger than other bodies (1 MiB): the import's own limit (64 MiB); a group's is not.
    large = b"PK" + b"\0" * (2 * 1_048_576)
    big = await client.post(
        "/ledger/v1/imports",
        params={"file_name": "big.zip"},
        content=large,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/octet-stream"},
    )
    assert big.status_code == 202, big.text
    assert (await finished(client, big))["status"] == "refused"  # not a zip it can read: a file-level problem
    too_big = await client.post(
        "/ledger/v1/groups",
        content=large,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413

    # The same Idempotency-Key answers the same job.
    key = str(uuid.uuid4())
    first = await start(client, template, **{"Idempotency-Key": key})
    second = await start(client, template, **{"Idempotency-Key": key})
    assert first.status_code == 202 and second.status_code == 200
    assert first.json()["import_id"] == second.json()["import_id"]

    # A district officer imports the groups of their district only; others' jobs are not theirs to see.
    officer = bearer(user_token([signing_key_for_tests()], subject="officer-2701", role="district_officer",
                                province_code="27", district_code="2701"))  # fmt: skip
    outside = await finished(client, await start(client, template, **officer), **officer)
    assert outside["status"] == "refused"
    [not_theirs] = outside["result"]["problems"]
    assert (not_theirs["sheet"], not_theirs["row"]) == (GROUPS, faulty_group.sheet_row)
    assert not_theirs["reason_en"] == "this group is not in your area"
    assert (await client.get(f"/ledger/v1/imports/{refused['import_id']}", headers=officer)).status_code == 404
    assert clean_group.district_code == "2701"
