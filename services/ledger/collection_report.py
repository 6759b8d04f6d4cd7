"""The collection day on paper: the month's collection report (รายงานการรับเงินประจำเดือน) with its totals and the
committee's signatures, and a receipt (ใบรับเงิน) for each member who paid in the month. Thai, Buddhist Era, one
digit system, the signatures kept with the table (libs/documents/pdf.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from fpdf import FPDF

from libs.documents.pdf import signature_kept, thai_pdf
from libs.documents.thai_dates import thai_date, thai_month
from libs.events.money import grouped_baht


@dataclass(frozen=True)
class PaperLine:
    name: str
    commitment_satang: int
    sajja_paid_satang: int
    special_paid_satang: int

    @property
    def short_satang(self) -> int:
        return max(0, self.commitment_satang - self.sajja_paid_satang)


def report_pdf(group_name: str, month: date, lines: Sequence[PaperLine], printed_on: date, font_dir: str) -> bytes:
    return signature_kept(
        lambda break_before_last: _draw_report(group_name, month, lines, printed_on, font_dir, break_before_last)
    )


def _draw_report(
    group_name: str,
    month: date,
    lines: Sequence[PaperLine],
    printed_on: date,
    font_dir: str,
    break_before_last: bool,
) -> tuple[FPDF, int, int]:
    """The report; asked to break before its last section, it sets the table's last rows (and the totals) on a
    new page, so the signatures that follow are never alone there."""
    pdf = thai_pdf(font_dir)
    pdf.set_font("Laksaman", "B", 18)
    pdf.cell(0, 10, "รายงานการรับเงินประจำเดือน", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 14)
    pdf.cell(0, 8, group_name, align="C", new_x="LMARGIN", new_y="NEXT")
    subtitle = f"ประจำเดือน {thai_month(month)} · พิมพ์เมื่อ {thai_date(printed_on)}"
    pdf.cell(0, 8, subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Laksaman", "", 12)
    kept = 3 if break_before_last else 0  # rows carried to the last page with the totals
    first_part, last_part = (
        list(enumerate(lines, start=1))[: len(lines) - kept],
        list(enumerate(lines, start=1))[len(lines) - kept :],
    )
    if first_part or not break_before_last:
        _table(pdf, first_part, lines if not break_before_last else None)
    if break_before_last:
        pdf.add_page()
        pdf.set_font("Laksaman", "", 12)
        _table(pdf, last_part, lines)
    table_ends = pdf.page
    pdf.ln(12)
    pdf.set_font("Laksaman", "", 14)
    for role in ("เหรัญญิก (ผู้รับเงิน)", "ประธานกลุ่ม (ผู้ตรวจสอบ)"):
        pdf.cell(0, 9, f"ลงชื่อ ....................................... {role}", align="R", new_x="LMARGIN", new_y="NEXT")
    return pdf, table_ends, pdf.page


def _table(pdf: FPDF, numbered: Sequence[tuple[int, PaperLine]], totals_of: Sequence[PaperLine] | None) -> None:
    """Some of the report's rows under the heading, with the totals of `totals_of` as the last row when given."""
    with pdf.table(
        col_widths=(10, 62, 30, 30, 30, 28), text_align=("CENTER", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
    ) as table:
        table.row(["ที่", "ชื่อสมาชิก", "สัจจะที่ต้องส่ง", "ส่งสัจจะ", "ฝากพิเศษ", "ค้างส่ง"])
        for i, line in numbered:
            table.row(
                [
                    str(i),
                    line.name,
                    grouped_baht(line.commitment_satang),
                    grouped_baht(line.sajja_paid_satang),
                    grouped_baht(line.special_paid_satang),
                    grouped_baht(line.short_satang),
                ]
            )
        if totals_of is not None:
            table.row(
                [
                    "",
                    f"รวม {len(totals_of):,} คน",
                    grouped_baht(sum(x.commitment_satang for x in totals_of)),
                    grouped_baht(sum(x.sajja_paid_satang for x in totals_of)),
                    grouped_baht(sum(x.special_paid_satang for x in totals_of)),
                    grouped_baht(sum(x.short_satang for x in totals_of)),
                ]
            )


def receipts_pdf(group_name: str, month: date, lines: Sequence[PaperLine], received_on: date, font_dir: str) -> bytes:
    """A receipt for each member who paid in the month, four to a page, none split over two."""
    pdf = thai_pdf(font_dir)
    paid = [line for line in lines if line.sajja_paid_satang or line.special_paid_satang]
    for n, line in enumerate(paid):
        if n and pdf.will_page_break(66):
            pdf.add_page()
        top = pdf.get_y()
        pdf.set_font("Laksaman", "B", 16)
        pdf.cell(0, 9, "ใบรับเงิน", align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Laksaman", "", 13)
        pdf.cell(0, 7, group_name, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 7, f"วันที่ {thai_date(received_on)} · ประจำเดือน {thai_month(month)}", new_x="LMARGIN", new_y="NEXT")
        pdf.cell(0, 7, f"ได้รับเงินจาก {line.name}", new_x="LMARGIN", new_y="NEXT")
        for label, amount in (("เงินสัจจะ", line.sajja_paid_satang), ("เงินฝากสัจจะพิเศษ", line.special_paid_satang)):
            if amount:
                pdf.cell(120, 7, f"    {label}")
                pdf.cell(0, 7, f"{grouped_baht(amount)} บาท", align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Laksaman", "B", 13)
        pdf.cell(120, 7, "    รวม")
        total = line.sajja_paid_satang + line.special_paid_satang
        pdf.cell(0, 7, f"{grouped_baht(total)} บาท", align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Laksaman", "", 13)
        pdf.cell(0, 9, "ลงชื่อ ....................................... ผู้รับเงิน", align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_draw_color(160, 160, 160)
        pdf.set_dash_pattern(dash=1.5, gap=1.5)
        pdf.line(pdf.l_margin, pdf.get_y() + 2, pdf.w - pdf.r_margin, pdf.get_y() + 2)
        pdf.set_dash_pattern()
        pdf.set_y(max(pdf.get_y() + 6, top + 6))
    if not paid:
        pdf.set_font("Laksaman", "", 14)
        pdf.cell(0, 10, f"ยังไม่มีการรับเงินในเดือน {thai_month(month)}", align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
