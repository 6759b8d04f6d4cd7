"""The printed reports as a clerk reads them: thousands separators, a totals row, one digit system in the whole
document, and the signature line on the page where the last table ends, never alone on a page of its own."""

from __future__ import annotations

import io
from datetime import date

import pypdf

from libs.events.settings import Settings
from services.campaign import exports
from services.reporting.province_report import COLUMNS, ProvinceReport, to_pdf

FONTS = Settings().thai_font_dir
THAI_DIGITS = set("๐๑๒๓๔๕๖๗๘๙")


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def _province(districts: int) -> ProvinceReport:
    money = {k: 19_042_875_000 for k, _ in COLUMNS if k not in ("groups", "members", "borrowers")}
    figures = {"groups": 150, "members": 15_000, "borrowers": 2_939, **money}
    return ProvinceReport(
        "27",
        "สระแก้ว",
        date(2024, 3, 15),
        figures,
        [(f"27{i:02d}", f"อำเภอที่ {i}", figures) for i in range(1, districts + 1)],
        {"current": (10, 123_456_789), "1-30": (2, 50_000)},
        50_000,
        "0.40",
        {"referred": 12},
    )


def test_the_province_reports_signature_stays_with_its_last_table() -> None:
    for districts in (1, 9, 14):  # on one page; the last section on the next page; a long table
        pages = _pages(to_pdf(_province(districts), FONTS))
        signed = next(text for text in pages if "ลงชื่อ" in text)
        assert "ถอนความยินยอม" in signed, (districts, signed)  # the last table's last row
        text = "".join(pages)
        assert "190,428,750.00" in text and "15,000" in text and "รวมทั้งจังหวัด" in text
        assert not THAI_DIGITS & set(text), districts
        assert "15 มีนาคม 2567" in text


def test_the_campaign_reports_areas_have_a_total_and_the_signature_stays_with_them() -> None:
    counters = {c: 123_456 for c, _, _ in exports.ROWS}
    view = exports.ReportView(
        "มหกรรมการออม ๕๐ ปี",
        date(2023, 12, 1),
        date(2024, 2, 29),
        "province",
        "27",
        "สระแก้ว",
        counters,
        date(2024, 3, 1),
        notes="จัดกิจกรรมครบทุกกลุ่ม",
        children=[(f"27{i:02d}", f"อำเภอที่ {i}", counters) for i in range(1, 10)],
    )
    pages = _pages(exports.to_pdf(view, FONTS))
    signed = next(text for text in pages if "ลงชื่อ" in text)
    assert "รวมทั้งจังหวัด" in signed and "อำเภอที่ 9" in signed
    text = "".join(pages)
    assert "123,456" in text and "1,234.56" in text
    assert not THAI_DIGITS & set(text) and "มหกรรมการออม 50 ปี" in text


def test_sara_am_comes_back_intact_from_the_text() -> None:
    """HarfBuzz sets สระอำ as two glyphs; the text read back must be the text written, for search and copy."""
    text = "".join(_pages(to_pdf(_province(2), FONTS)))
    assert "อำเภอที่ 1" in text and "อำเภอที่ 2" in text and "ตำแหน่ง" in text
    assert [c for c in text if ord(c) < 32 and c != "\n"] == []  # no stray codes where a glyph had no text
