"""Dates as Thai readers expect them (DESIGN §8): the Buddhist Era (CE + 543), Thai month names, and
Thai digits in formal text (๖ มีนาคม ๒๕๖๗) or Arabic digits in tables (6 มี.ค. 2567)."""

from __future__ import annotations

from datetime import date

MONTHS_TH = (
    "มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
    "กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม",
)  # fmt: skip
MONTHS_TH_SHORT = (
    "ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.",
)  # fmt: skip
_THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def buddhist_year(day: date) -> int:
    return day.year + 543


def thai_date(day: date) -> str:
    """Formal: ๖ มีนาคม ๒๕๖๗."""
    return f"{day.day} {MONTHS_TH[day.month - 1]} {buddhist_year(day)}".translate(_THAI_DIGITS)


def thai_month(month: date, short: bool = False) -> str:
    """A month in the Buddhist Era: มีนาคม 2567 (short: มี.ค. 2567)."""
    return f"{(MONTHS_TH_SHORT if short else MONTHS_TH)[month.month - 1]} {buddhist_year(month)}"


def thai_date_short(day: date) -> str:
    """In tables: 6 มี.ค. 2567."""
    return f"{day.day} {MONTHS_TH_SHORT[day.month - 1]} {buddhist_year(day)}"
