"""Tables as files: the CSV and XLSX every tabular read offers besides its JSON (Thai headings, Buddhist
Era dates in the title lines, money as the API's decimal strings so nothing is rounded on the way).

Every spreadsheet this platform writes goes through here, so text from users (a group named
`=HYPERLINK(...)`, notes starting with `+`, `-`, `@`, a tab or a line break) is never read back as a formula:
OWASP's CSV-injection rule. In CSV such a cell gets a leading `'`; in XLSX every text is a string cell, and
those that look like formulas also carry Excel's quote prefix (shown as typed, kept text when edited)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

TableFormat = Literal["json", "csv", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Table:
    headings: Sequence[str]
    rows: Sequence[Sequence[str | int]]
    # Lines above the table: what it is, of which area, on which date.
    title: Sequence[str] = field(default_factory=tuple)
    # Columns (by index) set right-aligned in the spreadsheet: figures.
    figures: frozenset[int] = frozenset()


# What a spreadsheet program may take for the start of a formula (OWASP: = + - @ tab CR), with line feeds
# and the full-width forms that some programs fold to the ASCII ones.
FORMULA_LEADS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
# A figure as the API writes it: "-1250.50", "12", "1,250.50". Only in a table's figure columns may it lead with "-".
FIGURE = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def formula_like(value: object, figure: bool = False) -> bool:
    """Whether a spreadsheet program could read this cell as a formula (a figure column's numbers are figures)."""
    if not isinstance(value, str) or not value or value[0] not in FORMULA_LEADS:
        return False
    return not (figure and FIGURE.fullmatch(value))


def csv_cell(value: str | int, figure: bool = False) -> str | int:
    """The cell as CSV may carry it: formula-like text gets a leading `'`, which spreadsheet programs read as text."""
    return "'" + value if isinstance(value, str) and formula_like(value, figure) else value


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for line in table.title:
        writer.writerow([csv_cell(line)])
    writer.writerow([csv_cell(h) for h in table.headings])
    for row in table.rows:
        writer.writerow([csv_cell(v, i in table.figures) for i, v in enumerate(row)])
    return ("\ufeff" + out.getvalue()).encode()  # a BOM, so spreadsheet programs read the Thai as UTF-8


def to_xlsx(table: Table, sheet_title: str = "ข้อมูล") -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title[:31]
    for i, line in enumerate(table.title):
        append_row(sheet, [line])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True, size=14 if i == 0 else 11)
    append_row(sheet, table.headings)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in table.rows:
        append_row(sheet, row, table.figures)
        for column in table.figures:
            sheet.cell(sheet.max_row, column + 1).alignment = Alignment(horizontal="right")
    for column, heading in enumerate(table.headings, start=1):
        longest = max([len(str(heading))] + [len(str(row[column - 1])) for row in table.rows if len(row) >= column])
        sheet.column_dimensions[sheet.cell(1, column).column_letter].width = min(60, max(10, longest + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_number(value: str | int) -> str | int | Decimal:
    """A figure column's cell as a spreadsheet number: "1,250.50" → Decimal (exact, no float on the way), "12" →
    12; anything else (a percentage with its sign, a dash) stays text."""
    if isinstance(value, str) and FIGURE.fullmatch(value):
        plain = value.replace(",", "")
        return Decimal(plain) if "." in plain else int(plain)
    return value


def append_row(sheet: Worksheet, values: Sequence[str | int | None], figures: frozenset[int] = frozenset()) -> None:
    """Append a row to a worksheet with every text a string cell: openpyxl would store a text starting with "="
    as a formula. Formula-like text also carries the quote prefix, Excel's mark for "text that looks like a
    formula". Control characters cannot be stored in a worksheet; they can only have come from odd input.
    In the `figures` columns, figures become numbers a clerk can add up, shown grouped with their places."""
    cells: list[str | int | Decimal | None] = [
        as_number(v) if i in figures and v is not None else v for i, v in enumerate(values)
    ]
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in cells])
    row = sheet.max_row
    for i, value in enumerate(cells):
        cell = sheet.cell(row, i + 1)
        if isinstance(value, str):
            cell.data_type = "s"
            if formula_like(value, i in figures):
                cell.quotePrefix = True
        elif i in figures and isinstance(value, (int, Decimal)):
            cell.number_format = "#,##0.00" if isinstance(value, Decimal) else "#,##0"


async def file_response(table: Table, format: Literal["csv", "xlsx"], name: str) -> Response:  # noqa: A002
    """The table as a download named `name` (without its extension), set in a thread: an XLSX of a few
    thousand rows is CPU work, kept off the event loop."""
    return await asyncio.to_thread(table_file, table, format, name)


def table_file(table: Table, format: Literal["csv", "xlsx"], name: str) -> Response:  # noqa: A002
    """The table as a download named `name` (without its extension)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120]  # header values are Latin-1: keep names plain
    headers = {"Content-Disposition": f'attachment; filename="{safe}.{format}"'}
    if format == "csv":
        return Response(to_csv(table), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(to_xlsx(table), media_type=XLSX, headers=headers)
