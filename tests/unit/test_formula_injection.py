"""Spreadsheet formula injection (OWASP's CSV-injection rule): text that a spreadsheet program could read as a
formula never leaves as one — a leading `'` in CSV, a string cell in XLSX — while the API's figures stay figures."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest

from libs.documents.tables import FORMULA_LEADS, Table, csv_cell, formula_like, to_csv, to_xlsx
from services.campaign import exports

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    "-",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_text_is_neutralised_in_any_column(text: str) -> None:
    assert formula_like(text) and formula_like(text, figure=True)
    assert csv_cell(text) == "'" + text and csv_cell(text, figure=True) == "'" + text


@pytest.mark.parametrize("text", ["-1250.50", "-1,250.50", "-12", "-0.01"])
def test_negative_figures_stay_figures_only_in_figure_columns(text: str) -> None:
    assert csv_cell(text, figure=True) == text
    assert csv_cell(text) == "'" + text  # in a text column it is text like any other


@pytest.mark.parametrize("value", ["กลุ่มบ้านหนองบัว", "1250.50", "a=b", "", 7, -7, "x-1"])
def test_harmless_cells_are_left_alone(value: str | int) -> None:
    assert not formula_like(value)
    assert csv_cell(value) == value


def hostile_table() -> Table:
    return Table(
        title=["=title()", "ข้อมูล ณ วันที่ ๑ มกราคม ๒๕๖๗"],
        headings=["รหัส", "ชื่อ", "เงินออม (บาท)", "จำนวน"],
        rows=[["2701", text, "-1250.50", 3] for text in HOSTILE] + [["2702", "ปกติ", "=1+1", "-3-3"]],
        figures=frozenset({2, 3}),
    )


def test_csv_cells_never_start_like_a_formula_but_keep_their_text() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(hostile_table()).decode("utf-8-sig"))))
    cells = [cell for row in rows for cell in row]
    assert all(cell[0] not in FORMULA_LEADS for cell in cells if cell and cell != "-1250.50"), cells
    assert [row[1] for row in rows[3:-1]] == ["'" + text for text in HOSTILE]
    assert rows[0] == ["'=title()"]
    assert rows[-1] == ["2702", "ปกติ", "'=1+1", "'-3-3"]  # in a figure column only a figure may lead with "-"
    assert {row[2] for row in rows[3:-1]} == {"-1250.50"}


def test_xlsx_cells_are_strings_never_formulas() -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(hostile_table()))).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert all(cell.data_type != "f" for cell in cells)
    names = [sheet.cell(row, 2).value for row in range(4, 4 + len(HOSTILE))]
    # The text as typed, read as text (XML reads a carriage return as a line feed).
    assert names == [text.replace("\r", "\n") for text in HOSTILE]
    assert sheet.cell(4, 2).quotePrefix and not sheet.cell(4, 1).quotePrefix
    assert sheet["A1"].value == "=title()" and sheet["A1"].data_type == "s"
    # A figure column's figures are numbers a clerk can add up, shown grouped with their places.
    assert sheet.cell(4, 3).value == -1250.5 and sheet.cell(4, 3).data_type == "n"
    assert sheet.cell(4, 3).number_format == "#,##0.00"
    assert sheet.cell(4, 4).value == 3 and sheet.cell(4, 4).number_format == "#,##0"
    last = 4 + len(HOSTILE)
    assert sheet.cell(last, 4).value == "-3-3" and sheet.cell(last, 4).quotePrefix  # not a figure: text


def test_xlsx_figures_are_numbers_and_grouped_text_becomes_a_number_exactly() -> None:
    table = Table(
        headings=["ชื่อ", "เงินออม (บาท)", "สมาชิก", "PAR30"],
        rows=[["ก", "1,234,567.89", "12", "5.35%"], ["ข", "0.10", 3, "-"]],
        figures=frozenset({1, 2, 3}),
    )
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(table))).active
    assert sheet is not None
    assert [sheet.cell(2, c).value for c in (2, 3)] == [1234567.89, 12]
    assert [sheet.cell(3, c).value for c in (2, 3)] == [0.1, 3]
    assert all(sheet.cell(r, 2).data_type == "n" for r in (2, 3))
    assert sheet.cell(2, 4).value == "5.35%" and sheet.cell(3, 4).value == "-"  # not figures: left as text


def test_campaign_report_and_nomination_forms_are_neutralised() -> None:
    report = exports.ReportView(
        campaign_name_th='=HYPERLINK("http://x","y")',
        starts_on=date(2023, 12, 1),
        ends_on=date(2024, 2, 29),
        level="district",
        code="2701",
        area_name_th="เมืองสระแก้ว",
        counters={},
        as_of=date(2024, 3, 1),
        notes="@SUM(1+1)",
    )
    nomination = exports.NominationView(
        kind="member",
        campaign_name_th="=1+1",
        district_name_th="เมืองสระแก้ว",
        district_code="2701",
        nominee_id="m-1",
        score="80.00",
        evidence={"regularity": "+cmd"},
        narrative={"occupation": '=WEBSERVICE("http://x")', "suggestions": "\t-1"},
        submitted_on=date(2024, 2, 1),
        late=False,
        override_reason="-2+2",
    )
    for data, expected in (
        (exports.to_xlsx(report), {'=HYPERLINK("http://x","y")', "@SUM(1+1)"}),
        (exports.nomination_to_xlsx(nomination), {"=1+1", "+cmd", '=WEBSERVICE("http://x")', "\t-1"}),
    ):
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        assert sheet is not None
        cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
        assert all(cell.data_type != "f" for cell in cells)
        assert expected <= {cell.value for cell in cells}
