"""The province report (รายงานข้อมูลกลุ่มออมทรัพย์เพื่อการผลิตระดับจังหวัด) as PDF and XLSX: the province's
figures in the columns of the national table, each district's with a total line, loan portfolio quality
and the referral pipeline — Thai, Buddhist Era dates, a signature line. Pure: it renders what it is given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fpdf import FPDF

from libs.documents.pdf import signature_kept, thai_pdf
from libs.documents.tables import Table, to_xlsx
from libs.documents.thai_dates import thai_date
from libs.events.money import grouped_baht

TITLE = "รายงานข้อมูลกลุ่มออมทรัพย์เพื่อการผลิต ระดับจังหวัด"
COLUMNS = (
    ("groups", "กลุ่ม"),
    ("members", "สมาชิก"),
    ("sajja_savings", "เงินสัจจะสะสม"),
    ("special_savings", "เงินสัจจะพิเศษ"),
    ("savings", "เงินออมรวม"),
    ("borrowers", "ผู้กู้"),
    ("loans_outstanding", "เงินกู้คงค้าง"),
)
MONEY = frozenset({"sajja_savings", "special_savings", "savings", "loans_outstanding"})
BUCKETS_TH = {
    "current": "ปกติ",
    "1-30": "ค้าง 1-30 วัน",
    "31-60": "ค้าง 31-60 วัน",
    "61-90": "ค้าง 61-90 วัน",
    "90+": "ค้างเกิน 90 วัน",
}
PIPELINE_TH = (
    ("referred", "ส่งต่อ"),
    ("contacted", "ติดต่อแล้ว"),
    ("approved", "อนุมัติ"),
    ("loan_granted", "ได้รับสินเชื่อ"),
    ("declined", "ไม่อนุมัติ"),
    ("revoked", "ถอนความยินยอม"),
)


@dataclass(frozen=True)
class ProvinceReport:
    code: str
    name_th: str
    as_of: date
    province: dict[str, int]
    # (district code, Thai name, figures), in code order.
    districts: list[tuple[str, str, dict[str, int]]]
    # Bucket → (loans, outstanding satang), and PAR30 as satang and percent text.
    buckets: dict[str, tuple[int, int]]
    par30_satang: int
    par30_percent: str
    pipeline: dict[str, int]


def figure(key: str, values: dict[str, int]) -> str:
    return grouped_baht(values.get(key, 0)) if key in MONEY else f"{values.get(key, 0):,}"


def heading(report: ProvinceReport) -> list[str]:
    return [TITLE, f"จังหวัด{report.name_th} (รหัส {report.code})", f"ข้อมูล ณ วันที่ {thai_date(report.as_of)}"]


def district_rows(report: ProvinceReport) -> list[list[str]]:
    rows = [[f"{code} {name}", *[figure(k, values) for k, _ in COLUMNS]] for code, name, values in report.districts]
    rows.append(["รวมทั้งจังหวัด", *[figure(k, report.province) for k, _ in COLUMNS]])
    return rows


def to_pdf(report: ProvinceReport, font_dir: str) -> bytes:
    return signature_kept(lambda break_before_last: _draw(report, font_dir, break_before_last))


def _draw(report: ProvinceReport, font_dir: str, break_before_last: bool) -> tuple[FPDF, int, int]:
    pdf = thai_pdf(font_dir)
    lines = heading(report)
    pdf.set_font("Laksaman", "B", 18)
    pdf.cell(0, 10, lines[0], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 14)
    for line in lines[1:]:
        pdf.cell(0, 8, line, align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.ln(3)
    pdf.set_font("Laksaman", "B", 14)
    pdf.cell(0, 8, "1. กลุ่ม สมาชิก เงินออม และเงินกู้ รายอำเภอ (จำนวนเงินเป็นบาท)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 11)
    widths = (30, 12, 17, 29, 29, 29, 14, 30)
    with pdf.table(col_widths=widths, text_align=("LEFT", *["RIGHT"] * len(COLUMNS))) as table:
        table.row(["อำเภอ", *[label for _, label in COLUMNS]])
        for row in district_rows(report):
            table.row(row)

    pdf.ln(3)
    pdf.set_font("Laksaman", "B", 14)
    pdf.cell(0, 8, "2. คุณภาพสินเชื่อของกลุ่ม", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 12)
    with pdf.table(col_widths=(60, 30, 50), text_align=("LEFT", "RIGHT", "RIGHT"), width=140) as table:
        table.row(["ช่วงการค้างชำระ", "สัญญา", "เงินต้นคงค้าง (บาท)"])
        for name, (loans, amount) in report.buckets.items():
            table.row([BUCKETS_TH.get(name, name), f"{loans:,}", grouped_baht(amount)])
        table.row([f"PAR30 ({report.par30_percent}%)", "", grouped_baht(report.par30_satang)])

    if break_before_last:
        pdf.add_page()
    else:
        pdf.ln(3)
    pdf.set_font("Laksaman", "B", 14)
    pdf.cell(0, 8, "3. การส่งต่อลูกค้าให้ธนาคารออมสิน", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 12)
    with pdf.table(col_widths=(60, 30), text_align=("LEFT", "RIGHT"), width=90) as table:
        table.row(["ขั้นตอน", "ราย"])
        for key, label in PIPELINE_TH:
            table.row([label, f"{report.pipeline.get(key, 0):,}"])
    table_ends = pdf.page
    pdf.ln(10)
    pdf.set_font("Laksaman", "", 14)
    pdf.cell(0, 8, "ลงชื่อ ....................................... ผู้รายงาน", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, "ตำแหน่ง .......................................", align="R", new_x="LMARGIN", new_y="NEXT")
    return pdf, table_ends, pdf.page


def to_spreadsheet(report: ProvinceReport) -> bytes:
    return to_xlsx(
        Table(
            title=heading(report),
            headings=["อำเภอ", *[label for _, label in COLUMNS]],
            rows=district_rows(report),
            figures=frozenset(range(1, 1 + len(COLUMNS))),
        ),
        sheet_title="รายงานจังหวัด",
    )
