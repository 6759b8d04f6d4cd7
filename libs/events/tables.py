"""Tables as files: the CSV and XLSX every tabular read offers besides its JSON (Thai headings, Buddhist
Era dates in the title lines, money as the API's decimal strings so nothing is rounded on the way)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font

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


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for line in table.title:
        writer.writerow([line])
    writer.writerow(table.headings)
    writer.writerows(table.rows)
    return ("\ufeff" + out.getvalue()).encode()  # a BOM, so spreadsheet programs read the Thai as UTF-8


def to_xlsx(table: Table, sheet_title: str = "ข้อมูล") -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title[:31]
    for i, line in enumerate(table.title):
        sheet.append([_cell(line)])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True, size=14 if i == 0 else 11)
    sheet.append([_cell(h) for h in table.headings])
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([_cell(v) for v in row])
        for column in table.figures:
            sheet.cell(sheet.max_row, column + 1).alignment = Alignment(horizontal="right")
    for column, heading in enumerate(table.headings, start=1):
        longest = max([len(str(heading))] + [len(str(row[column - 1])) for row in table.rows if len(row) >= column])
        sheet.column_dimensions[sheet.cell(1, column).column_letter].width = min(60, max(10, longest + 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: str | int) -> str | int:
    # Control characters cannot be stored in a worksheet; they can only have come from odd input.
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def file_response(table: Table, format: Literal["csv", "xlsx"], name: str) -> Response:  # noqa: A002
    """The table as a download named `name` (without its extension)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120]  # header values are Latin-1: keep names plain
    headers = {"Content-Disposition": f'attachment; filename="{safe}.{format}"'}
    if format == "csv":
        return Response(to_csv(table), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(to_xlsx(table), media_type=XLSX, headers=headers)
