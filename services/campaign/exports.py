"""The savings-promotion report (แบบรายงานการส่งเสริมการออม) as XLSX and PDF, in Thai, with Buddhist
Era dates, laid out after the form: heading, campaign and period, the results table, the areas it
covers, notes, and the reporter's signature line."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date

from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from libs.documents.pdf import signature_kept, thai_pdf
from libs.documents.tables import append_row
from libs.documents.thai_dates import thai_date
from libs.events.money import grouped_baht
from services.campaign.counters import MONEY_COUNTERS

TITLE = "แบบรายงานการส่งเสริมการออม"
# The results table: counter → (Thai row label, unit).
ROWS: tuple[tuple[str, str, str], ...] = (
    ("groups_taking_part", "จำนวนกลุ่มออมทรัพย์เพื่อการผลิตที่เข้าร่วมกิจกรรม", "กลุ่ม"),
    ("new_members", "จำนวนสมาชิกใหม่ที่รับสมัครเพิ่ม", "คน"),
    ("commitment_raises", "จำนวนสมาชิกที่เพิ่มเงินสัจจะสะสม", "คน"),
    ("special_depositors", "จำนวนสมาชิกที่ฝากเงินสัจจะสะสมพิเศษ", "คน"),
    ("special_deposits", "จำนวนครั้งที่ฝากเงินสัจจะสะสมพิเศษ", "ครั้ง"),
    ("special_deposit_amount", "จำนวนเงินฝากสัจจะสะสมพิเศษ", "บาท"),
    ("members_taking_part", "จำนวนสมาชิกที่เข้าร่วมกิจกรรมทั้งสิ้น", "คน"),
    ("savings_added", "เงินออมที่เพิ่มขึ้นในช่วงกิจกรรม", "บาท"),
)
LEVEL_TH = {"district": "อำเภอ", "province": "จังหวัด", "national": "ประเทศ"}


@dataclass(frozen=True)
class ReportView:
    campaign_name_th: str
    starts_on: date
    ends_on: date
    level: str
    code: str
    area_name_th: str
    counters: dict[str, int]
    as_of: date
    submitted_on: date | None = None
    late: bool = False
    deadline: date | None = None
    notes: str = ""
    # Child areas (districts of a province): (code, Thai name, counters).
    children: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)


def value(counter: str, figures: dict[str, int]) -> str:
    amount = figures.get(counter, 0)
    return grouped_baht(amount) if counter in MONEY_COUNTERS else f"{amount:,}"


def heading_lines(view: ReportView) -> list[str]:
    lines = [
        TITLE,
        view.campaign_name_th,
        f"{LEVEL_TH[view.level]}{view.area_name_th} (รหัส {view.code})",
        f"ระยะเวลาดำเนินการ {thai_date(view.starts_on)} ถึง {thai_date(view.ends_on)}",
        f"ข้อมูล ณ วันที่ {thai_date(view.as_of)}",
    ]
    if view.submitted_on:
        status = "ส่งล่าช้า" if view.late else "ส่งตามกำหนด"
        due = f" (กำหนดส่ง {thai_date(view.deadline)})" if view.deadline else ""
        lines.append(f"วันที่ส่งรายงาน {thai_date(view.submitted_on)} — {status}{due}")
    else:
        lines.append("ร่างรายงาน (ยังไม่ได้ส่ง)")
    return lines


def to_xlsx(view: ReportView) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "รายงาน"
    bold = Font(bold=True)
    for line in heading_lines(view):
        append_row(sheet, [line])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    append_row(sheet, ["ที่", "รายการ", "จำนวน", "หน่วย"])
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    for i, (counter, label, unit) in enumerate(ROWS, start=1):
        append_row(sheet, [i, label, value(counter, view.counters), unit], figures=frozenset({2}))
        sheet.cell(sheet.max_row, 3).alignment = Alignment(horizontal="right")
    if view.children:
        sheet.append([])
        append_row(sheet, ["รหัส", "พื้นที่", *[label for _, label, _ in ROWS]])
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        for code, name, figures in view.children:
            append_row(
                sheet,
                [code, name, *[value(counter, figures) for counter, _, _ in ROWS]],
                figures=frozenset(range(2, 2 + len(ROWS))),
            )
    sheet.append([])
    append_row(sheet, ["หมายเหตุ", view.notes or "-"])
    sheet.append([])
    append_row(sheet, ["", "ลงชื่อ ....................................... ผู้รายงาน"])
    sheet.column_dimensions["B"].width = 48
    sheet.column_dimensions["C"].width = 16
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(view: ReportView, font_dir: str) -> bytes:
    return signature_kept(lambda break_before_last: _draw(view, font_dir, break_before_last))


def _draw(view: ReportView, font_dir: str, break_before_last: bool) -> tuple[FPDF, int, int]:
    pdf = thai_pdf(font_dir)
    lines = heading_lines(view)
    pdf.set_font("Laksaman", "B", 18)
    pdf.cell(0, 10, lines[0], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 14)
    for line in lines[1:]:
        pdf.cell(0, 8, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    with pdf.table(col_widths=(10, 110, 40, 20), text_align=("CENTER", "LEFT", "RIGHT", "CENTER")) as table:
        table.row(["ที่", "รายการ", "จำนวน", "หน่วย"])
        for i, (counter, label, unit) in enumerate(ROWS, start=1):
            table.row([str(i), label, value(counter, view.counters), unit])
    if view.children:
        if break_before_last:
            pdf.add_page()
        else:
            pdf.ln(4)
        pdf.set_font("Laksaman", "B", 14)
        pdf.cell(0, 8, "ผลการดำเนินงานรายอำเภอ", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Laksaman", "", 12)
        picked = ("new_members", "commitment_raises", "special_depositors", "members_taking_part", "savings_added")
        with pdf.table(text_align=("LEFT", *["RIGHT"] * len(picked))) as table:
            table.row(["อำเภอ", "สมาชิกใหม่", "เพิ่มสัจจะ", "ฝากพิเศษ", "ผู้เข้าร่วม", "เงินออมเพิ่ม"])
            for _, name, figures in view.children:
                table.row([name, *[value(c, figures) for c in picked]])
            # The report's own figures for the whole area (a member counted once, whichever district).
            table.row([f"รวมทั้ง{LEVEL_TH[view.level]}", *[value(c, view.counters) for c in picked]])
    table_ends = pdf.page
    pdf.ln(4)
    pdf.set_font("Laksaman", "", 14)
    pdf.multi_cell(0, 8, f"หมายเหตุ: {view.notes or '-'}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(0, 8, "ลงชื่อ ....................................... ผู้รายงาน", align="R", new_x="LMARGIN", new_y="NEXT")
    return pdf, table_ends, pdf.page


# The nomination forms' sections (แบบรายงานข้อมูล…ดีเด่นระดับอำเภอ), in the forms' order.
MEMBER_FORM = (
    "แบบรายงานข้อมูลสมาชิกกลุ่มออมทรัพย์เพื่อการผลิตดีเด่นระดับอำเภอ",
    (
        ("general", "๑. ข้อมูลทั่วไปของสมาชิก"),
        ("occupation", "๒. อาชีพที่สมาชิกนำเงินกู้หรือเงินออมไปดำเนินการจนประสบความสำเร็จ/ความโดดเด่น"),
        ("contributions", "๓. ผลงานของสมาชิกที่เกี่ยวข้องกับการดำเนินงานกลุ่มออมทรัพย์เพื่อการผลิต"),
        ("suggestions", "๔. ข้อเสนอแนะ"),
        ("evidence", "๕. หลักฐานประกอบ (คะแนนจากข้อมูลในระบบ)"),
    ),
)
GROUP_FORM = (
    "แบบรายงานข้อมูลกลุ่มออมทรัพย์เพื่อการผลิตดีเด่นระดับอำเภอ",
    (
        ("general", "๑. ข้อมูลทั่วไป (ประวัติการก่อตั้งกลุ่ม/คณะกรรมการ/สมาชิก/ยอดสัจจะรายเดือน สัจจะสะสม)"),
        ("results", "๒. ผลการดำเนินงาน (กฎระเบียบ การจัดสรรกำไร สวัสดิการ กิจกรรม ผลงานดีเด่น รางวัล)"),
        ("problems", "๓. ปัญหาอุปสรรคและข้อเสนอแนะ"),
        ("evidence", "๔. หลักฐานประกอบ (คะแนนจากข้อมูลในระบบ)"),
    ),
)


@dataclass(frozen=True)
class NominationView:
    kind: str  # member | group
    campaign_name_th: str
    district_name_th: str
    district_code: str
    nominee_id: str
    score: str
    evidence: dict[str, str]
    narrative: dict[str, str]
    submitted_on: date
    late: bool
    override_reason: str | None


def nomination_sections(view: NominationView) -> tuple[str, list[tuple[str, list[str]]]]:
    title, sections = MEMBER_FORM if view.kind == "member" else GROUP_FORM
    general = [
        f"{'สมาชิก' if view.kind == 'member' else 'กลุ่ม'} รหัส {view.nominee_id}",
        "ชื่อ ......................................................................"
        if view.kind == "member"
        else "ชื่อกลุ่ม .................................................................",
        f"อำเภอ{view.district_name_th} (รหัส {view.district_code})",
        f"วันที่เสนอ {thai_date(view.submitted_on)}" + (" (ส่งล่าช้า)" if view.late else ""),
    ]
    filled: list[tuple[str, list[str]]] = []
    for key, heading in sections:
        if key == "general":
            lines = general + ([view.narrative["general"]] if view.narrative.get("general") else [])
        elif key == "evidence":
            lines = [f"คะแนนรวม {view.score} จาก 100"] + list(view.evidence.values())
            if view.override_reason:
                lines.append(f"คณะกรรมการเลือกต่างจากข้อเสนอของระบบ เนื่องจาก: {view.override_reason}")
        else:
            lines = [view.narrative.get(key) or "-"]
        filled.append((heading, lines))
    return title, filled


def nomination_to_xlsx(view: NominationView) -> bytes:
    title, sections = nomination_sections(view)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "แบบรายงาน"
    append_row(sheet, [title])
    sheet["A1"].font = Font(bold=True, size=14)
    append_row(sheet, [view.campaign_name_th])
    for heading, lines in sections:
        sheet.append([])
        append_row(sheet, [heading])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
        for line in lines:
            append_row(sheet, [line])
    sheet.column_dimensions["A"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def nomination_to_pdf(view: NominationView, font_dir: str) -> bytes:
    title, sections = nomination_sections(view)
    pdf = thai_pdf(font_dir)
    pdf.set_font("Laksaman", "B", 17)
    pdf.multi_cell(0, 9, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Laksaman", "", 14)
    pdf.cell(0, 8, view.campaign_name_th, align="C", new_x="LMARGIN", new_y="NEXT")
    for heading, lines in sections:
        pdf.ln(3)
        pdf.set_font("Laksaman", "B", 14)
        pdf.multi_cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Laksaman", "", 14)
        for line in lines:
            pdf.multi_cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(0, 8, "ลงชื่อ ....................................... ผู้เสนอ", align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
