"""The onboarding spreadsheet (services/ledger/onboarding/workbook.py): the template reads back clean, a file with a
known set of errors gives exactly those problems while its good rows come through, cells parse as committees
write them, and the report marks exactly the cells at fault without letting a formula through."""

from __future__ import annotations

import dataclasses
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from openpyxl import Workbook

from services.ledger.domain import national_id_check_digit
from services.ledger.onboarding import workbook
from services.ledger.onboarding.rows import DepositRow, GroupRow, ImportFile, LoanRow, MemberRow, RowProblem
from services.ledger.onboarding.workbook import (
    EXAMPLE_DEPOSITS,
    EXAMPLE_GROUPS,
    EXAMPLE_LOANS,
    EXAMPLE_MEMBERS,
    PROBLEMS_TITLE,
    SHEETS,
    CellError,
    parse_date,
    parse_national_id,
    parse_rate_percent,
    parse_satang,
    read_file,
    report_rows,
    write_report,
    write_template,
    write_template_csv,
)

TODAY = date(2026, 6, 1)
HYPERLINK = '=HYPERLINK("http://x","y")'


def national_id(first_twelve: str) -> str:
    return first_twelve + str(national_id_check_digit(first_twelve))


def bad_check_digit(first_twelve: str) -> str:
    return first_twelve + str((national_id_check_digit(first_twelve) + 1) % 10)


A, B, C, D, E, X, G2_MEMBER, STRANGER = (
    national_id(f"3270100{n:05d}") for n in (11111, 22222, 33333, 44444, 55555, 66666, 77777, 88888)
)


def add_sheet(book: Workbook, title: str, rows: list[list[object]]) -> None:
    sheet = book.create_sheet(title)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(r, c)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # text as text, even "=HYPERLINK(...)"


def error_book(path: Path) -> Path:
    """Each sheet's headings in another form (English, Thai under a title line, both) and order; the errors the
    issue lists, each on its own row beside good rows."""
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    add_sheet(
        book,
        "groups",
        [
            [
                "group name",
                "Group Code",
                "province code",
                "district_code",
                "founded on",
                "opening day",
                "share value",
                "Minimum Monthly Commitment",
            ],
            [HYPERLINK, "G1", "27", "2701", "1/5/2541", "31/12/2568", "50"],  # 2: good, a formula-like name
            ["บ้านสอง", "G2", "27", "2799", "1/5/2541", "31/12/2568", 50],  # 3: no such district
            ["บ้านสาม", "G3", 27, 1001, "1/5/2541", "31/12/2568", 50],  # 4: a Bangkok district
            ["บ้านสี่", "G4", "27", "2706", datetime(2010, 1, 1), "2025-12-31", "100.00", 100],  # 5: good
            ["บ้านห้า", "G5", "27", "2706", "1/1/2553", "31/12/2568", "100.00"],  # 6: the default minimum, 50.00
        ],
    )
    add_sheet(
        book,
        "สมาชิก",
        [
            ["ทะเบียนสมาชิกกลุ่มออมทรัพย์"],
            ["ชื่อ-นามสกุล", "รหัสกลุ่ม", "เลขประจำตัวประชาชน", "วันที่เป็นสมาชิก", "สัจจะต่อเดือน", "เงินสัจจะยกมา",
             "เงินฝากพิเศษยกมา", "โทรศัพท์"],
            ["ก", "G1", int(A), "5/6/2553", "100", "1,000", "0", None],  # 3: good, numeric ID cell
            ["ข", "G1", bad_check_digit("327010099999"), "5/6/2553", "100", "0", "0", None],  # 4: check digit
            ["ค", "G1", national_id("327010012121"), "5/6/2553", "75", "0", "0", None],  # 5: not whole shares
            ["ง", "G1", national_id("327010013131"), "5/6/2553", "6000", "0", "0", None],  # 6: above the maximum
            ["จ", "G1", national_id("327010014141"), "1/1/2533", "100", "0", "0", None],  # 7: before founded
            ["ฉ", "G1", B, "5/6/2553", "100", "0", "0", None],  # 8: a national ID twice in G1
            ["ช", "G1", B[:1] + "-" + B[1:5] + "-" + B[5:], "5/6/2553", "100", "0", "0", None],  # 9: ... again
            ["ซ", "G9", national_id("327010015151"), "5/6/2553", "100", "0", "0", None],  # 10: no such group
            ["ฌ", "G2", G2_MEMBER, "5/6/2553", "100", "0", "0", None],  # 11: its group is refused
            ["ญ", "G4", C, "๑๕/๐๑/๒๕๕๓", "๒๐๐", "1,000.00", "12.50", "0812345678"],  # 12: good, Thai digits
            ["ฎ", "G4", D, "2010-02-01", 200, 1000, 0, "=1+1"],  # 13: a formula-like phone
            ["ฏ", "G1", E, "05/01/2015", Decimal("50"), 500.0, None, None],  # 14: good, CE date
        ],
    )  # fmt: skip
    add_sheet(
        book,
        "เงินฝาก (deposits)",
        [
            [column.heading for column in reversed(SHEETS[2].columns)],
            [100, "สัจจะ", "5/1/2569", A, "G1"],  # 2: good
            [100, "สัจจะ", "15/12/2568", A, "G1"],  # 3: before the opening day
            [100, "สัจจะ", "1/7/2569", A, "G1"],  # 4: in the future
            ["-50", "สัจจะ", "5/2/2569", A, "G1"],  # 5: negative
            ["12.345", "พิเศษ", "5/2/2569", A, "G1"],  # 6: three decimal places
            [100.5, "special", datetime(2026, 3, 5), A, "G1"],  # 7: good, a numeric cell and a date cell
            [100, "สัจจะ", "5/1/2569", B, "G1"],  # 8: a member on two rows
            [100, "สัจจะ", "5/1/2569", G2_MEMBER, "G2"],  # 9: a refused member
            [100, "สัจจะ", "5/1/2569", STRANGER, "G1"],  # 10: no such member
            ["๕๐๐", "พิเศษ", "10/1/2569", C, "G4"],  # 11: good
            ["25", "สัจจะพิเศษ", "2026-02-05", E, "G1"],  # 12: good
        ],
    )
    book.save(path)
    return path


EXPECTED = {
    ("groups", 3, "district_code"),
    ("groups", 4, "district_code"),
    ("groups", 6, "Minimum Monthly Commitment"),
    ("สมาชิก", 4, "เลขประจำตัวประชาชน"),
    ("สมาชิก", 5, "สัจจะต่อเดือน"),
    ("สมาชิก", 6, "สัจจะต่อเดือน"),
    ("สมาชิก", 7, "วันที่เป็นสมาชิก"),
    ("สมาชิก", 8, "เลขประจำตัวประชาชน"),
    ("สมาชิก", 9, "เลขประจำตัวประชาชน"),
    ("สมาชิก", 10, "รหัสกลุ่ม"),
    ("สมาชิก", 11, "รหัสกลุ่ม"),
    ("สมาชิก", 13, "โทรศัพท์"),
    ("เงินฝาก (deposits)", 3, "วันที่ฝาก (deposited on)"),
    ("เงินฝาก (deposits)", 4, "วันที่ฝาก (deposited on)"),
    ("เงินฝาก (deposits)", 5, "จำนวนเงิน (amount)"),
    ("เงินฝาก (deposits)", 6, "จำนวนเงิน (amount)"),
    ("เงินฝาก (deposits)", 8, "เลขประจำตัวประชาชน (national ID)"),
    ("เงินฝาก (deposits)", 9, "เลขประจำตัวประชาชน (national ID)"),
    ("เงินฝาก (deposits)", 10, "เลขประจำตัวประชาชน (national ID)"),
}


def triples(found: ImportFile) -> set[tuple[str, int, str | None]]:
    return {(p.sheet, p.row, p.field) for p in found.problems}


# --- The template ---------------------------------------------------------------------------------------------


def test_template_with_its_example_reads_back_with_no_problems(tmp_path: Path) -> None:
    write_template(tmp_path / "template.xlsx")
    found = read_file(tmp_path / "template.xlsx", today=TODAY)
    assert found.problems == []
    assert (len(found.groups), len(found.members), len(found.deposits)) == (2, 6, 11)
    assert (found.groups, found.members, found.deposits) == (EXAMPLE_GROUPS, EXAMPLE_MEMBERS, EXAMPLE_DEPOSITS)
    first = found.groups[0]
    assert (first.province_code, first.district_code, first.subdistrict_code) == ("27", "2701", "270101")
    assert (first.founded_on, first.opening_on, first.share_value_satang) == (
        date(1998, 5, 1),
        date(2025, 12, 31),
        5000,
    )
    assert (first.min_monthly_commitment_satang, first.max_monthly_commitment_satang, first.collection_day) == (
        5000,
        500_000,
        5,
    )
    assert found.members[0].opening_special_satang == 245_075 and found.members[0].opening_sajja_satang == 1_860_000
    assert all(
        d.deposited_on > g.opening_on for d in found.deposits for g in found.groups if g.group_code == d.group_code
    )
    assert all(d.deposited_on <= date.today() for d in found.deposits)  # the example is never in the future
    assert found.loans == EXAMPLE_LOANS and len(found.loans) == 3
    assert {(loan.interest_method, loan.rate_per_month) for loan in found.loans} == {
        ("flat", Decimal("0.01")),
        ("declining", Decimal("0.0075")),
    }
    joined = {(m.group_code, m.national_id): m.joined_on for m in found.members}
    opening = {g.group_code: g.opening_on for g in found.groups}
    for loan in found.loans:  # the example is consistent with its members and its opening day
        assert joined[(loan.group_code, loan.national_id)] <= loan.disbursed_on <= opening[loan.group_code]
        assert opening[loan.group_code] < loan.next_due_on <= date(2026, 12, 31)
        assert 0 < loan.outstanding_satang < loan.principal_satang

    book = openpyxl.load_workbook(tmp_path / "template.xlsx")
    assert book.sheetnames == [
        "คำอธิบาย (instructions)",
        "กลุ่ม (groups)",
        "สมาชิก (members)",
        "เงินฝาก (deposits)",
        "เงินกู้ (loans)",
    ]
    instructions = " ".join(str(c.value) for row in book.worksheets[0].iter_rows() for c in row if c.value)
    assert "idempotent" in instructions and "วันที่ยอดยกมา" in instructions
    assert "loans outstanding on the opening day" in instructions and "loans.csv" in instructions
    assert all(column.heading in instructions for spec in SHEETS for column in spec.columns)
    assert [c.value for c in book["สมาชิก (members)"][1]][:2] == [
        "รหัสกลุ่ม (group code)",
        "เลขประจำตัวประชาชน (national ID)",
    ]
    assert isinstance(book["กลุ่ม (groups)"]["G2"].value, datetime)  # opening day: an Excel date cell
    assert book["เงินฝาก (deposits)"]["D2"].value == "สัจจะ"  # accounts in Thai, as the list in the sheet offers
    loans = book["เงินกู้ (loans)"]
    assert (loans["G2"].value, loans["H2"].value, loans["G3"].value) == ("ดอกเบี้ยคงที่", 1, "ลดต้นลดดอก")
    assert loans["H3"].value == 0.75 and loans["H3"].number_format == "0.00"  # the rate as a percentage
    assert [v.formula1 for v in loans.data_validations.dataValidation] == ['"ดอกเบี้ยคงที่,ลดต้นลดดอก"']

    write_template(tmp_path / "empty.xlsx", example=False)
    empty = read_file(tmp_path / "empty.xlsx", today=TODAY)
    assert (empty.problems, empty.groups, empty.members, empty.deposits, empty.loans) == ([], [], [], [], [])


def test_template_defaults_are_group_rules_defaults() -> None:
    from libs.events.schemas.ledger import GroupRules

    rules = GroupRules()
    defaults = {c.field: c.default for c in SHEETS[0].columns if not c.required}
    assert defaults["share_value_satang"] == rules.share_value_satang == 5000
    assert defaults["min_monthly_commitment_satang"] == rules.min_monthly_commitment_satang == 5000
    assert defaults["max_monthly_commitment_satang"] == rules.max_monthly_commitment_satang == 500_000
    assert defaults["collection_day"] == rules.collection_day == 5


def test_csv_template_reads_back_from_a_directory_and_a_zip(tmp_path: Path) -> None:
    paths = write_template_csv(tmp_path / "csv")
    assert [p.name for p in paths] == ["groups.csv", "members.csv", "deposits.csv", "loans.csv"]
    assert paths[0].read_bytes().startswith("\ufeff".encode())
    assert "5/6/2553" in paths[1].read_text(encoding="utf-8-sig")  # dates written day/month/Buddhist year
    with zipfile.ZipFile(tmp_path / "template.zip", "w") as archive:
        for path in paths:
            archive.write(path, f"template/{path.name}")
    for source in (tmp_path / "csv", tmp_path / "template.zip"):
        found = read_file(source, today=TODAY)
        assert found.problems == [], source
        assert (found.groups, found.members, found.deposits) == (EXAMPLE_GROUPS, EXAMPLE_MEMBERS, EXAMPLE_DEPOSITS)
        assert found.loans == EXAMPLE_LOANS
    assert ",ดอกเบี้ยคงที่,1.00,6," in paths[3].read_text(encoding="utf-8-sig")

    one = read_file(paths[0], today=TODAY)  # a single CSV is its own sheet: nothing else is expected
    assert one.problems == [] and one.groups == EXAMPLE_GROUPS and one.members == []


# --- Errors ---------------------------------------------------------------------------------------------------


def test_a_file_with_known_errors_gives_exactly_those_problems_and_the_good_rows(tmp_path: Path) -> None:
    found = read_file(error_book(tmp_path / "errors.xlsx"), today=TODAY)
    assert triples(found) == EXPECTED
    assert [g.group_code for g in found.groups] == ["G1", "G4"]
    assert found.groups[0].name == HYPERLINK and found.groups[1].founded_on == date(2010, 1, 1)
    assert found.groups[1].share_value_satang == 10_000 and found.groups[1].collection_day == 5  # the default
    assert found.members == [
        MemberRow(3, "G1", A, "ก", date(2010, 6, 5), 10_000, 100_000, 0, None),
        MemberRow(12, "G4", C, "ญ", date(2010, 1, 15), 20_000, 100_000, 1_250, "0812345678"),
        MemberRow(14, "G1", E, "ฏ", date(2015, 1, 5), 5_000, 50_000, 0, None),
    ]
    assert found.deposits == [
        DepositRow(2, "G1", A, date(2026, 1, 5), "sajja", 10_000),
        DepositRow(7, "G1", A, date(2026, 3, 5), "special", 10_050),
        DepositRow(11, "G4", C, date(2026, 1, 10), "special", 50_000),
        DepositRow(12, "G1", E, date(2026, 2, 5), "special", 2_500),
    ]
    by_place = {(p.sheet, p.row): p for p in found.problems}
    # Every problem says where it is and why, in both languages; the domain's refusals have their Thai.
    for problem in found.problems:
        assert problem.file == "errors.xlsx" and problem.column is not None
        assert problem.reason_th and problem.reason_en and not problem.reason_th.startswith("ไม่ผ่านการตรวจ:")
    assert by_place[("groups", 3)].column == 4 and by_place[("groups", 3)].group_code == "G2"
    assert "2701" in by_place[("groups", 4)].reason_en and "เขตพระนคร" in by_place[("groups", 4)].reason_th
    assert "check digit" in by_place[("สมาชิก", 4)].reason_en
    assert "whole number of shares" in by_place[("สมาชิก", 5)].reason_en
    assert "between 50.00 and 5000.00" in by_place[("สมาชิก", 6)].reason_en
    assert "the default, 50.00" in by_place[("groups", 6)].reason_en
    assert "rows 8, 9" in by_place[("สมาชิก", 9)].reason_en
    assert "refused" in by_place[("สมาชิก", 11)].reason_en and "row 3" in by_place[("สมาชิก", 11)].reason_en
    assert "refused" in by_place[("เงินฝาก (deposits)", 9)].reason_en
    assert "not in the members sheet" in by_place[("เงินฝาก (deposits)", 10)].reason_en
    assert "more than two decimal places" in by_place[("เงินฝาก (deposits)", 6)].reason_en
    assert "negative" in by_place[("เงินฝาก (deposits)", 5)].reason_en
    assert by_place[("สมาชิก", 13)].value == "=1+1"  # type: ignore[attr-defined]
    assert found.groups_with_problems == {"G1", "G2", "G3", "G4", "G5", "G9"}
    rows = report_rows(found)
    assert len(rows) == len(found.problems) and rows[0]["file"] == "errors.xlsx"
    assert {"sheet", "row", "column", "field", "value", "group_code", "reason_th", "reason_en"} <= set(rows[0])


def test_a_missing_required_column_or_sheet_is_a_file_level_problem(tmp_path: Path) -> None:
    write_template(tmp_path / "template.xlsx")
    book = openpyxl.load_workbook(tmp_path / "template.xlsx")
    book["สมาชิก (members)"].delete_cols(5)  # สัจจะต่อเดือน (monthly commitment)
    book.save(tmp_path / "no-commitment.xlsx")
    found = read_file(tmp_path / "no-commitment.xlsx", today=TODAY)
    file_level = [p for p in found.problems if p.row == 0]
    assert [(p.sheet, p.field, p.group_code) for p in file_level] == [
        ("สมาชิก (members)", "สัจจะต่อเดือน (monthly commitment)", None)
    ]
    assert found.groups == EXAMPLE_GROUPS and found.members == [] and found.deposits == [] and found.loans == []
    # Each deposit and loan refers to a member of a sheet that could not be read: refused, saying so.
    refused = [p for p in found.problems if p.row > 0]
    assert {(p.sheet, p.row) for p in refused} == {("เงินฝาก (deposits)", d.sheet_row) for d in EXAMPLE_DEPOSITS} | {
        ("เงินกู้ (loans)", loan.sheet_row) for loan in EXAMPLE_LOANS
    }
    assert all(p.field == "เลขประจำตัวประชาชน (national ID)" and "members sheet" in p.reason_en for p in refused)

    del book["เงินฝาก (deposits)"]
    book.save(tmp_path / "no-deposits.xlsx")
    missing = read_file(tmp_path / "no-deposits.xlsx", today=TODAY)
    assert ("เงินฝาก (deposits)", 0, None) in triples(missing)


def test_unreadable_and_unsupported_files_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (tmp_path / "broken.zip").write_bytes(b"PK nonsense")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    for name in ("broken.xlsx", "old.xls", "broken.zip", "data.csv"):
        found = read_file(tmp_path / name, today=TODAY)
        assert found.problems and all(p.row == 0 and p.group_code is None for p in found.problems), name
        assert (found.groups, found.members, found.deposits) == ([], [], [])
    assert ".xls" in read_file(tmp_path / "old.xls", today=TODAY).problems[0].reason_en
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "nowhere.xlsx", today=TODAY)


# --- Loans ----------------------------------------------------------------------------------------------------

M = [
    m.national_id for m in EXAMPLE_MEMBERS
]  # 2701-001: M[0] joined 2010, M[1] 1998, M[2] 5 July 2025; 2706-014: M[3..5]
REFUSED_MEMBER = national_id("327010099991")
LOANS_EXPECTED = {
    ("สมาชิก (members)", 8, "สัจจะต่อเดือน (monthly commitment)"),  # the borrower of row 13: not whole shares
    ("loans", 3, "outstanding"),  # more than the principal
    ("loans", 4, "rate per month"),  # 12 % a month
    ("loans", 5, "rate per month"),  # three decimal places
    ("loans", 6, "installments left"),  # 0
    ("loans", 7, "next due on"),  # on the opening day, not after it
    ("loans", 8, "contract_no"),  # a contract number twice in 2706-014 ...
    ("loans", 9, "contract_no"),  # ... (the same number in 2701-001, row 10, is another loan)
    ("loans", 11, "national ID"),  # no such member
    ("loans", 12, "disbursed on"),  # before she joined
    ("loans", 13, "national ID"),  # a member refused in the members sheet: refused with her
    ("loans", 16, "next due on"),  # more than a year after the opening day
}


def loans_book(path: Path) -> Path:
    """The template's example with a loans sheet of English headings in another order: good loans and the errors
    the brief lists, each on its own row, and one member refused in the members sheet."""
    write_template(path)
    book = openpyxl.load_workbook(path)
    del book["เงินกู้ (loans)"]
    members = book["สมาชิก (members)"]
    members.append(["2701-001", REFUSED_MEMBER, "ธ", "1/1/2560", "75", "0"])  # row 8: 75 is no whole shares of 50
    g1, g2 = "2701-001", "2706-014"
    headings: list[object] = [
        "contract_no",
        "group code",
        "national ID",
        "principal",
        "outstanding",
        "interest method",
        "rate per month",
        "installments left",
        "next due on",
        "disbursed on",
    ]
    add_sheet(
        book,
        "loans",
        [
            headings,
            ["L-1", g1, M[0], "30,000", "15,000.00", "คงที่", "1.00", 6, "5/1/2569", "5/6/2568"],  # 2: good
            ["L-2", g1, M[1], "10,000", "12,000", "flat", "1", 10, "5/1/2569", "5/6/2568"],  # 3
            ["L-3", g1, M[1], "10,000", "5,000", "flat", "12", 10, "5/1/2569", "5/6/2568"],  # 4
            ["L-4", g1, M[1], "10,000", "5,000", "flat", "1.125", 10, "5/1/2569", "5/6/2568"],  # 5
            ["L-5", g1, M[1], "10,000", "5,000", "flat", "1", "0", "5/1/2569", "5/6/2568"],  # 6
            ["L-6", g1, M[1], "10,000", "5,000", "flat", "1", 10, "31/12/2568", "5/6/2568"],  # 7
            ["D-1", g2, M[3], "10,000", "5,000", "ลดต้นลดดอก", "0.75", 10, "10/1/2569", "10/6/2568"],  # 8
            ["D-1", g2, M[4], "10,000", "5,000", "ลดต้นลดดอก", "0.75", 10, "10/1/2569", "10/6/2568"],  # 9
            ["D-1", g1, M[1], "20,000", "20,000", "ดอกเบี้ยคงที่", 1, 12, "5/1/2569", "2025-12-05"],  # 10: good
            ["L-7", g1, STRANGER, "10,000", "5,000", "flat", "1", 10, "5/1/2569", "5/6/2568"],  # 11
            ["L-8", g1, M[2], "10,000", "5,000", "flat", "1", 10, "5/1/2569", "1/6/2568"],  # 12
            ["L-9", g1, REFUSED_MEMBER, "10,000", "5,000", "flat", "1", 10, "5/1/2569", "5/6/2568"],  # 13
            ["๑๐", g2, M[5], "๕,๐๐๐", "๕,๐๐๐", "declining", "๑.๕๐", "๑๒", "๑๐/๑/๒๕๖๙", "๑๐/๑๒/๒๕๖๘"],  # 14: good
            ["D-2", g2, M[3], 100000, 80000.5, "Declining", 0.01, 36, datetime(2026, 12, 31), datetime(2025, 1, 10)],
            ["L-10", g1, M[0], "10,000", "5,000", "flat", "1", 10, "1/1/2570", "5/6/2568"],  # 16: 1 Jan 2027
        ],
    )  # fmt: skip
    book["loans"]["G15"].number_format = "0.00%"  # 15: "1%" typed in Excel: 0.01 shown as 1.00 %
    book.save(path)
    return path


def test_loans_with_known_errors_give_exactly_those_problems_and_the_good_loans(tmp_path: Path) -> None:
    found = read_file(loans_book(tmp_path / "loans.xlsx"), today=TODAY)
    assert triples(found) == LOANS_EXPECTED
    assert found.loans == [
        LoanRow(2, "2701-001", M[0], "L-1", date(2025, 6, 5), 3_000_000, 1_500_000, "flat", Decimal("0.01"), 6,
                date(2026, 1, 5)),
        LoanRow(10, "2701-001", M[1], "D-1", date(2025, 12, 5), 2_000_000, 2_000_000, "flat", Decimal("0.01"), 12,
                date(2026, 1, 5)),
        LoanRow(14, "2706-014", M[5], "10", date(2025, 12, 10), 500_000, 500_000, "declining", Decimal("0.015"), 12,
                date(2026, 1, 10)),
        LoanRow(15, "2706-014", M[3], "D-2", date(2025, 1, 10), 10_000_000, 8_000_050, "declining",
                Decimal("0.01"), 36, date(2026, 12, 31)),
    ]  # fmt: skip
    assert (found.groups, found.deposits) == (EXAMPLE_GROUPS, EXAMPLE_DEPOSITS)
    by_place = {(p.sheet, p.row): p for p in found.problems}
    for problem in found.problems:
        assert problem.column is not None and problem.group_code in ("2701-001", "2706-014")
        assert problem.reason_th and problem.reason_en and not problem.reason_th.startswith("ไม่ผ่านการตรวจ:")
    assert "must not exceed the principal lent (10000.00 baht)" in by_place[("loans", 3)].reason_en
    assert "must not exceed 10.00 percent a month" in by_place[("loans", 4)].reason_en
    assert "more than two decimal places" in by_place[("loans", 5)].reason_en
    assert "from 1 to 360" in by_place[("loans", 6)].reason_en
    assert "after the group's opening day (2025-12-31)" in by_place[("loans", 7)].reason_en
    assert "rows 8, 9" in by_place[("loans", 9)].reason_en and by_place[("loans", 9)].group_code == "2706-014"
    assert "not in the members sheet" in by_place[("loans", 11)].reason_en
    assert "before the member joined (2025-07-05)" in by_place[("loans", 12)].reason_en
    cascade = by_place[("loans", 13)]
    assert "refused" in cascade.reason_en and "row 8" in cascade.reason_en and "แถว 8" in cascade.reason_th
    assert "a year after the group's opening day (2026-12-31)" in by_place[("loans", 16)].reason_en
    assert by_place[("loans", 4)].value == "12"  # type: ignore[attr-defined]

    # The report marks the loans sheet's cells like the others', and problems found after reading (the
    # importer's) find their cell by the template's names.
    assert workbook.sheet_name("loans") == "เงินกู้ (loans)"
    assert workbook.heading("loans", "outstanding") == "เงินต้นคงเหลือ (outstanding principal)"
    assert workbook.heading("loans", "rate_per_month") == "ดอกเบี้ยร้อยละต่อเดือน (interest percent per month)"
    found.problems.append(
        RowProblem("loans.xlsx", workbook.sheet_name("loans"), 14, workbook.heading("loans", "next_due_on"), "ก", "a")
    )
    write_report(found, tmp_path / "loans.xlsx", tmp_path / "report.xlsx")
    filled, commented = marked(openpyxl.load_workbook(tmp_path / "report.xlsx"))
    read_cells = {(p.sheet, p.row, p.column) for p in found.problems if p.column is not None}
    assert filled == commented == read_cells | {("loans", 14, 9)}
    assert {cell for cell in filled if cell[0] == "loans"} >= {("loans", 3, 5), ("loans", 4, 7), ("loans", 8, 1)}


def test_the_loans_sheet_is_optional_but_read_like_the_others_when_there(tmp_path: Path) -> None:
    write_template(tmp_path / "template.xlsx")
    book = openpyxl.load_workbook(tmp_path / "template.xlsx")
    del book["เงินกู้ (loans)"]
    book.save(tmp_path / "no-loans.xlsx")
    paths = write_template_csv(tmp_path / "csv")
    paths[3].unlink()
    with zipfile.ZipFile(tmp_path / "no-loans.zip", "w") as archive:
        for path in paths[:3]:
            archive.write(path, path.name)
    for source in (tmp_path / "no-loans.xlsx", tmp_path / "csv", tmp_path / "no-loans.zip"):
        found = read_file(source, today=TODAY)
        assert found.problems == [] and found.loans == [], source
        assert (found.groups, found.members, found.deposits) == (EXAMPLE_GROUPS, EXAMPLE_MEMBERS, EXAMPLE_DEPOSITS)

    # Present without a required column: a problem of the sheet, no loans read, the other sheets as they were.
    book = openpyxl.load_workbook(tmp_path / "template.xlsx")
    book["เงินกู้ (loans)"].delete_cols(6)  # เงินต้นคงเหลือ (outstanding principal)
    book.save(tmp_path / "no-outstanding.xlsx")
    found = read_file(tmp_path / "no-outstanding.xlsx", today=TODAY)
    assert triples(found) == {("เงินกู้ (loans)", 0, "เงินต้นคงเหลือ (outstanding principal)")}
    assert found.loans == [] and found.members == EXAMPLE_MEMBERS and found.groups_with_problems == set()
    # Still required: the three others.
    del book["เงินฝาก (deposits)"]
    book.save(tmp_path / "no-deposits.xlsx")
    assert ("เงินฝาก (deposits)", 0, None) in triples(read_file(tmp_path / "no-deposits.xlsx", today=TODAY))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.00", Decimal("0.01")),
        ("1", Decimal("0.01")),
        (1, Decimal("0.01")),
        (1.0, Decimal("0.01")),
        ("๑.๕๐", Decimal("0.015")),
        (1.5, Decimal("0.015")),
        ("0.75", Decimal("0.0075")),
        (Decimal("0.75"), Decimal("0.0075")),
        (" 1.25 % ", Decimal("0.0125")),
        ("ร้อยละ 2", Decimal("0.02")),
        ("0", Decimal("0")),
        ("10.00", Decimal("0.1")),
        (".5", Decimal("0.005")),
    ],
)
def test_rates_are_a_percentage_a_month_read_as_a_fraction_without_floats(value: object, expected: Decimal) -> None:
    rate = parse_rate_percent(value)
    assert rate == expected and str(rate) == str(expected)  # one spelling, however the percentage was written


@pytest.mark.parametrize("value", ["12", "10.01", "1.125", "-1", "1,00", "abc", "", True, 0.1 + 0.2, float("nan")])
def test_rates_that_are_refused(value: object) -> None:
    with pytest.raises(CellError):
        parse_rate_percent(value)


def test_interest_methods_and_installments() -> None:
    loans = workbook.SHEET_BY_KEY["loans"]
    method = loans.column_for("interest_method")
    installments = loans.column_for("installments_left")
    assert method is not None and installments is not None
    for text, expected in [("ดอกเบี้ยคงที่", "flat"), ("คงที่", "flat"), ("Flat", "flat"), ("ลดต้นลดดอก", "declining"),
                           (" declining ", "declining")]:  # fmt: skip
        assert method.kind.parse(text) == expected
    for bad_method in ("ลดต้น", "fixed", 1):
        with pytest.raises(CellError):
            method.kind.parse(bad_method)
    assert [installments.kind.parse(v) for v in (1, "360", "๑๒", 12.0)] == [1, 360, 12, 12]
    for bad_count in (0, "361", 1.5, "-1", "สิบ"):
        with pytest.raises(CellError):
            installments.kind.parse(bad_count)


# --- Cells ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-05", date(2024, 1, 5)),
        ("2567-01-05", date(2024, 1, 5)),
        ("5/1/2567", date(2024, 1, 5)),
        ("05/01/2024", date(2024, 1, 5)),
        ("5.1.2567", date(2024, 1, 5)),
        ("๕/๑/๒๕๖๗", date(2024, 1, 5)),
        (" 29/2/2567 ", date(2024, 2, 29)),
        ("5 ม.ค. 2567", date(2024, 1, 5)),
        ("5 มกราคม 2567", date(2024, 1, 5)),
        (datetime(2024, 1, 5), date(2024, 1, 5)),
        (datetime(2567, 1, 5), date(2024, 1, 5)),  # "5/1/2567" typed where Excel takes the year as CE
        (date(2024, 1, 5), date(2024, 1, 5)),
    ],
)
def test_dates_in_the_buddhist_or_common_era(value: object, expected: date) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["30/2/2567", "1/13/2024", "2024/01/05x", "5/1/67", 45000, "", "1/1/1800"])
def test_dates_that_are_not(value: object) -> None:
    with pytest.raises(CellError):
        parse_date(value)


@pytest.mark.parametrize(
    ("value", "positive", "expected"),
    [
        ("1,234.50", True, 123_450),
        ("๑,๒๓๔.๕", True, 123_450),
        ("50", True, 5_000),
        (1234.5, True, 123_450),
        (0.1, True, 10),
        (100, True, 10_000),
        (Decimal("12.30"), True, 1_230),
        ("0", False, 0),
        ("1,000.00 บาท", True, 100_000),
    ],
)
def test_amounts_become_satang_without_floats(value: object, positive: bool, expected: int) -> None:
    assert parse_satang(value, positive=positive) == expected


@pytest.mark.parametrize(
    ("value", "positive"),
    [("12.345", True), (0.1 + 0.2, True), ("-5", False), ("0", True), ("1,23", True), ("abc", True), (True, True)],
)
def test_amounts_that_are_refused(value: object, positive: bool) -> None:
    with pytest.raises(CellError):
        parse_satang(value, positive=positive)


def test_national_ids_as_text_digits_or_numbers() -> None:
    good = national_id("110170020703")
    assert parse_national_id(good) == good
    assert parse_national_id(f"{good[0]}-{good[1:5]}-{good[5:10]}-{good[10:12]}-{good[12]}") == good
    assert parse_national_id(int(good)) == good
    assert parse_national_id(float(good)) == good
    assert parse_national_id(good.translate(str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))) == good
    for bad in (bad_check_digit("110170020703"), "123", "１" + good[1:], float(good) + 0.5):
        with pytest.raises(CellError):
            parse_national_id(bad)


def test_headings_in_thai_english_or_both_in_any_case_and_spacing() -> None:
    members = SHEETS[1]
    for heading in ("เลขประจำตัวประชาชน", "National  ID", "national_id", " เลขประจำตัวประชาชน (national id) "):
        column = members.column_named(heading)
        assert column is not None and column.field == "national_id", heading
    assert members.column_named("หมายเหตุ") is None
    assert workbook._sheet_named("Members.csv") is members and workbook._sheet_named("สมาชิก") is members


# --- The report -----------------------------------------------------------------------------------------------


def marked(book: openpyxl.Workbook) -> tuple[set[tuple[str, int, int]], set[tuple[str, int, int]]]:
    filled, commented = set(), set()
    for sheet in book.worksheets[1:]:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.fill.fill_type == "solid" and cell.fill.fgColor.rgb == "FFFFC7CE":
                    filled.add((sheet.title, cell.row, cell.column))
                if cell.comment is not None:
                    commented.add((sheet.title, cell.row, cell.column))
    return filled, commented


def test_report_marks_exactly_the_problem_cells_and_neutralises_formulas(tmp_path: Path) -> None:
    source = error_book(tmp_path / "errors.xlsx")
    found = read_file(source, today=TODAY)
    write_report(found, source, tmp_path / "report.xlsx")
    book = openpyxl.load_workbook(tmp_path / "report.xlsx")
    assert book.sheetnames[0] == PROBLEMS_TITLE
    assert book.sheetnames[1:] == ["groups", "สมาชิก", "เงินฝาก (deposits)"]
    cells = {(p.sheet, p.row, p.column) for p in found.problems}
    assert len(cells) == len(EXPECTED)
    filled, commented = marked(book)
    assert filled == commented == cells
    for problem in found.problems:
        comment = book[problem.sheet].cell(problem.row, problem.column).comment
        assert comment is not None
        assert comment.text.index(problem.reason_th) < comment.text.index(problem.reason_en)

    problems = book[PROBLEMS_TITLE]
    assert problems.max_row == len(found.problems) + 1
    listed = {(r[0].value, r[1].value, r[2].value) for r in problems.iter_rows(min_row=2)}
    assert listed == EXPECTED
    every_cell = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in every_cell)
    name = book["groups"]["A2"]
    assert name.value == HYPERLINK and name.data_type == "s" and name.quotePrefix
    phone = next(r[3] for r in problems.iter_rows(min_row=2) if r[0].value == "สมาชิก" and r[1].value == 13)
    assert phone.value == "=1+1" and phone.data_type == "s" and phone.quotePrefix

    # A report sent back as it is, corrected or not, is read like the file and its old marks are not kept.
    again = read_file(tmp_path / "report.xlsx", today=TODAY)
    assert triples(again) == EXPECTED
    fixed = openpyxl.load_workbook(tmp_path / "report.xlsx")
    fixed["groups"]["D3"].value = "2702"
    fixed.save(tmp_path / "fixed.xlsx")
    refound = read_file(tmp_path / "fixed.xlsx", today=TODAY)
    write_report(refound, tmp_path / "fixed.xlsx", tmp_path / "report2.xlsx")
    filled, commented = marked(openpyxl.load_workbook(tmp_path / "report2.xlsx"))
    assert ("groups", 3, 4) not in filled and filled == commented == {
        (p.sheet, p.row, p.column) for p in refound.problems
    }


def test_report_of_csv_files_rewrites_their_rows(tmp_path: Path) -> None:
    paths = write_template_csv(tmp_path / "csv")
    text = paths[1].read_text(encoding="utf-8-sig").replace("สมศรี ใจดี", "@SUM(1+1)")
    paths[1].write_text(text.replace(",200.00,", ",75.00,", 1), encoding="utf-8-sig")
    found = read_file(tmp_path / "csv", today=TODAY)
    assert triples(found) == {("members.csv", 2, "สัจจะต่อเดือน (monthly commitment)")} | {
        ("deposits.csv", d.sheet_row, "เลขประจำตัวประชาชน (national ID)")
        for d in EXAMPLE_DEPOSITS
        if d.national_id == EXAMPLE_MEMBERS[0].national_id
    } | {("loans.csv", 2, "เลขประจำตัวประชาชน (national ID)")}  # her loan, refused with her
    write_report(found, tmp_path / "csv", tmp_path / "report.xlsx")
    book = openpyxl.load_workbook(tmp_path / "report.xlsx")
    assert book.sheetnames == [PROBLEMS_TITLE, "groups.csv", "members.csv", "deposits.csv", "loans.csv"]
    filled, commented = marked(book)
    assert filled == commented == {(p.sheet, p.row, p.column) for p in found.problems}
    name = book["members.csv"]["C2"]
    assert name.value == "@SUM(1+1)" and name.data_type == "s" and name.quotePrefix


def test_group_rows_keep_rows_py_field_names() -> None:
    """The column table fills rows.py's rows field by field: a renamed field fails here, not in an import."""
    for spec, row_type in zip(SHEETS, (GroupRow, MemberRow, DepositRow, LoanRow), strict=True):
        fields = [f.name for f in dataclasses.fields(row_type) if f.name != "sheet_row"]
        assert [c.field for c in spec.columns] == fields


def test_problems_found_after_reading_are_marked_in_the_files_own_sheet(tmp_path: Path) -> None:
    """plan.py and the importer add problems of their own (an opening day that is no month's end, a group outside
    the caller's area), naming the sheet and column by the template's names or rows.py's field names."""
    source = error_book(tmp_path / "errors.xlsx")
    found = read_file(source, today=TODAY)
    assert workbook.sheet_name("groups") == "กลุ่ม (groups)"
    assert workbook.heading("groups", "district_code") == "รหัสอำเภอ (district code)"
    assert workbook.heading("groups", "share_value") == "มูลค่าหุ้น (share value)"
    found.problems += [
        RowProblem(
            "errors.xlsx", workbook.sheet_name("groups"), 5, workbook.heading("groups", "district_code"), "ก", "a"
        ),
        RowProblem("errors.xlsx", "groups", 2, "opening_on", "ข", "b", "G1"),
        RowProblem("errors.xlsx", "members", 14, None, "ค", "c", "G1"),
    ]
    write_report(found, source, tmp_path / "report.xlsx")
    book = openpyxl.load_workbook(tmp_path / "report.xlsx")
    filled, commented = marked(book)
    assert filled == commented
    assert {("groups", 5, 4), ("groups", 2, 6), ("สมาชิก", 14, 1)} <= filled
    assert len(filled) == len(EXPECTED) + 3
    listed = [r for r in book[PROBLEMS_TITLE].iter_rows(min_row=2, values_only=True) if r[0] == "กลุ่ม (groups)"]
    assert listed == [("กลุ่ม (groups)", 5, "รหัสอำเภอ (district code)", "2706", None, "ก", "a")]
