"""The onboarding spreadsheet: its template (`write_template`, `write_template_csv`), reading and checking a
committee's file into rows (`read_file` → rows.py's `ImportFile`), and the report of what was refused
(`write_report`, `report_rows`).

One table of column specs (`SHEETS`) drives all of it: each column's headings (Thai, English, or the template's
"ไทย (English)"), its parser, its default (GroupRules' own), its line in the instructions and the example.
The rules are the API's: the domain's functions decide (validate_national_id, check_area, check_rules,
check_commitment, and register_group / enroll_member / deposit as the last gate of a row that passed);
this module only says where in the file a problem is, in Thai and English. A refusal is a report, never an
exception: only a path that does not exist raises."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import re
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, TypeVar

import openpyxl
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, MergedCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import ValidationError

from libs.documents.tables import append_row, csv_cell, formula_like
from libs.documents.thai_dates import MONTHS_TH, MONTHS_TH_SHORT, thai_date_short
from libs.events.areas import check_area
from libs.events.errors import RuleBroken
from libs.events.money import MAX_TRANSACTION_SATANG, SATANG_PER_BAHT, format_baht
from libs.events.schemas.ledger import GroupRules
from libs.events.schemas.lending import MAX_RATE_PER_MONTH, LoanTerms
from services.ledger.domain import (
    Group,
    Member,
    check_commitment,
    check_deposit,
    check_rules,
    enroll_member,
    group_from_events,
    national_id_check_digit,
    register_group,
    validate_national_id,
)
from services.ledger.onboarding.rows import (
    DepositRow,
    GroupRow,
    ImportFile,
    LoanRow,
    MemberRow,
    RowProblem,
    SheetKey,
)

__all__ = [
    "EXAMPLE_DEPOSITS",
    "EXAMPLE_GROUPS",
    "EXAMPLE_LOANS",
    "EXAMPLE_MEMBERS",
    "INSTRUCTIONS_TITLE",
    "PROBLEMS_TITLE",
    "SHEETS",
    "CellError",
    "CellProblem",
    "Column",
    "SheetSpec",
    "parse_date",
    "parse_national_id",
    "parse_rate_percent",
    "parse_satang",
    "heading",
    "read_file",
    "report_rows",
    "sheet_name",
    "write_report",
    "write_template",
    "write_template_csv",
]

INSTRUCTIONS_TITLE = "คำอธิบาย (instructions)"
PROBLEMS_TITLE = "ข้อผิดพลาด (problems)"
# Where the heading row may be: committees put a title line or two above their tables.
HEADING_SEARCH_ROWS = 10
# A CSV inside a .zip larger than this is refused unread (a zip bomb reads as a small file).
MAX_CSV_BYTES = 64 * 1024 * 1024
NIL = uuid.UUID(int=0)  # the ids a domain gate needs and nobody keeps
RULES = GroupRules()  # the defaults of a group's rules: the API's and the events'

# --- Cells ---------------------------------------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot be read as its column's kind: why, in Thai and English."""

    def __init__(self, th: str, en: str) -> None:
        super().__init__(en)
        self.th = th
        self.en = en


@dataclass(frozen=True)
class CellProblem(RowProblem):
    """A RowProblem that also carries the cell's value as read (text; None for a blank or a file-level problem),
    for the report and the API. rows.py's contract is unchanged: this is a RowProblem."""

    value: str | None = None


_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_SPACES = re.compile(r"\s+")


def _tidy(text: str) -> str:
    """Text as typed, without the invisible characters and odd spaces that spreadsheets pick up."""
    if text.isprintable() and "  " not in text:  # the common case, fast: no tab, no-break or zero-width space
        return text.strip(" ")
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not _tidy(value))


def _number(value: object) -> Decimal | None:
    """A numeric cell as a Decimal with no float arithmetic: a float through its shortest repr."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


def _digits_text(value: object) -> str:
    """A cell holding digits (a code, an ID, a day): text with Thai digits made ASCII, or a whole number."""
    number = _number(value)
    if number is not None:
        if number != number.to_integral_value():
            raise CellError("ต้องเป็นจำนวนเต็ม", "must be a whole number")
        return str(int(number))
    if isinstance(value, str):
        return _tidy(value).translate(_THAI_DIGITS)
    raise CellError("อ่านค่าไม่ได้", "cannot be read")


def parse_text(max_length: int, *, ascii_digits: bool = False) -> Callable[[object], str]:
    """Text as typed (a code, with `ascii_digits`, has its Thai digits made ASCII so that sheets agree)."""

    def parse(value: object) -> str:
        if isinstance(value, str):
            text = _tidy(value).translate(_THAI_DIGITS) if ascii_digits else _tidy(value)
        elif isinstance(value, datetime | date):
            text = value.isoformat()
        else:
            text = _digits_text(value)
        if len(text) > max_length:
            raise CellError(f"ยาวเกิน {max_length} ตัวอักษร", f"is longer than {max_length} characters")
        return text

    return parse


def parse_code(length: int) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _digits_text(value)
        if not re.fullmatch(f"[0-9]{{{length}}}", text):
            raise CellError(f"ต้องเป็นตัวเลข {length} หลัก", f"must be {length} digits")
        return text

    return parse


def parse_national_id(value: object) -> str:
    """13 ASCII digits with a good check digit; dashes and spaces dropped, Thai digits and numeric cells taken."""
    digits = re.sub(r"[\s-]", "", _digits_text(value))
    if not re.fullmatch("[0-9]{13}", digits):
        raise CellError("ต้องเป็นตัวเลข 13 หลัก", "must be 13 digits")
    try:
        return validate_national_id(digits)
    except RuleBroken as error:
        raise CellError(thai_reason(error.message), error.message) from None


_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T]00:00(?::00)?)?")
_DAY_MONTH_YEAR = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")
_MONTH_NAMES = {
    name.replace(".", ""): number
    for names in (MONTHS_TH, MONTHS_TH_SHORT)
    for number, name in enumerate(names, start=1)
}
_DAY_MONTHNAME_YEAR = re.compile(r"([0-9]{1,2}) ?([^\s0-9]+) ?([0-9]{4})")
_DATE_FORMATS = ("5/1/2567 (วัน/เดือน/ปี พ.ศ.)", "05/01/2024", "2024-01-05", "5 ม.ค. 2567")


def _calendar_day(year: int, month: int, day: int) -> date:
    if year > 2400:  # the Buddhist Era
        year -= 543
    if not 1900 <= year <= 2200:
        raise CellError(f"ปี {year} ไม่ถูกต้อง", f"the year {year} is not plausible")
    try:
        return date(year, month, day)
    except ValueError:
        raise CellError("ไม่มีวันที่นี้ในปฏิทิน", "there is no such day in the calendar") from None


def parse_date(value: object) -> date:
    """An Excel date cell, `2024-01-05`, `5/1/2567` or `05/01/2024` (day/month/year), `5 ม.ค. 2567`; a year
    above 2400 is the Buddhist Era; Thai digits are read as digits."""
    if isinstance(value, datetime | date):
        return _calendar_day(value.year, value.month, value.day)
    if isinstance(value, str):
        text = _tidy(value).translate(_THAI_DIGITS)
        if match := _ISO.fullmatch(text):
            return _calendar_day(int(match[1]), int(match[2]), int(match[3]))
        if match := _DAY_MONTH_YEAR.fullmatch(text):
            return _calendar_day(int(match[3]), int(match[2]), int(match[1]))
        match = _DAY_MONTHNAME_YEAR.fullmatch(text)
        if match and match[2].replace(".", "") in _MONTH_NAMES:
            return _calendar_day(int(match[3]), _MONTH_NAMES[match[2].replace(".", "")], int(match[1]))
    raise CellError(
        "อ่านเป็นวันที่ไม่ได้ ให้เขียนเป็น 5/1/2567 (วัน/เดือน/ปี พ.ศ.) หรือ 2024-01-05",
        "is not a date; write it as 5/1/2567 (day/month/Buddhist year), 05/01/2024 or 2024-01-05",
    )


_MONEY = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")
_CENT = Decimal("0.01")


def parse_satang(value: object, *, positive: bool) -> int:
    """Baht as text (`1,234.50`, Thai digits, an optional ฿ or บาท) or a numeric cell, into integer satang:
    at most two decimal places, never through float arithmetic."""
    amount = _number(value)
    if amount is None and isinstance(value, str):
        text = _tidy(value).translate(_THAI_DIGITS).removeprefix("฿").removesuffix("บาท").strip()
        if _MONEY.fullmatch(text):
            amount = Decimal(text.replace(",", ""))
    if amount is None:
        raise CellError("ต้องเป็นจำนวนเงินบาท เช่น 1,234.50", "must be an amount of baht, e.g. 1,234.50")
    if amount < 0:
        raise CellError("ต้องไม่ติดลบ", "must not be negative")
    if amount * SATANG_PER_BAHT > MAX_TRANSACTION_SATANG:
        limit = format_baht(MAX_TRANSACTION_SATANG)
        raise CellError(f"ต้องไม่เกิน {limit} บาท", f"must not exceed {limit} baht")
    try:
        exact = amount == amount.quantize(_CENT)
    except InvalidOperation:
        exact = False
    if not exact:
        raise CellError(
            f"มีทศนิยมเกิน 2 ตำแหน่ง ({amount}) ต้องเป็นบาทและสตางค์",
            f"has more than two decimal places ({amount}); it must be baht and satang",
        )
    satang = int(amount * SATANG_PER_BAHT)
    if positive and satang == 0:
        raise CellError("ต้องมากกว่าศูนย์", "must be greater than zero")
    return satang


def _parse_day_of_month(value: object) -> int:
    text = _digits_text(value)
    if not re.fullmatch("[0-9]{1,2}", text) or not 1 <= int(text) <= 28:
        raise CellError("ต้องเป็นวันที่ 1 ถึง 28 ของเดือน", "must be a day of the month from 1 to 28")
    return int(text)


ACCOUNT_NAMES_TH: dict[str, str] = {"sajja": "สัจจะ", "special": "พิเศษ"}
_ACCOUNTS = {
    "สัจจะ": "sajja",
    "เงินสัจจะ": "sajja",
    "ออมสัจจะ": "sajja",
    "sajja": "sajja",
    "พิเศษ": "special",
    "สัจจะพิเศษ": "special",
    "เงินฝากพิเศษ": "special",
    "ออมพิเศษ": "special",
    "special": "special",
}


_PHONE = re.compile(r"\+?[0-9 -]{9,15}")  # the API's pattern


def _parse_phone(value: object) -> str:
    text = _digits_text(value)
    if _number(value) is not None and len(text) in (8, 9):
        text = "0" + text  # a number stored as a number loses its leading 0
    if not _PHONE.fullmatch(text):
        raise CellError("ไม่ใช่หมายเลขโทรศัพท์ (ตัวเลข 9 ถึง 15 หลัก)", "is not a phone number (9 to 15 digits)")
    return text


INTEREST_METHOD_NAMES_TH: dict[str, str] = {"flat": "ดอกเบี้ยคงที่", "declining": "ลดต้นลดดอก"}
_INTEREST_METHODS = {
    "ดอกเบี้ยคงที่": "flat",
    "คงที่": "flat",
    "flat": "flat",
    "flatrate": "flat",
    "ลดต้นลดดอก": "declining",
    "declining": "declining",
    "decliningbalance": "declining",
}


MAX_PERCENT_PER_MONTH = MAX_RATE_PER_MONTH * 100  # 10 %: lending's own ceiling, as a percentage
_PERCENT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_RATE_PLACES = Decimal("0.0001")  # a percentage with two decimal places is a fraction with four


def parse_rate_percent(value: object) -> Decimal:
    """A monthly interest rate written as a percentage ("1.00", "1", "1 %", "ร้อยละ 0.75", Thai digits, or a
    numeric cell) into the fraction lending holds (1.00 → Decimal("0.01")): at most two decimal places and at
    most lending's MAX_RATE_PER_MONTH, never through float arithmetic. The fraction is normalised, so "1",
    "1.00" and 1.0 give the same Decimal("0.01") (the same terms, however the percentage was written)."""
    percent = _number(value)
    if percent is None and isinstance(value, str):
        text = _tidy(value).translate(_THAI_DIGITS).removeprefix("ร้อยละ").removesuffix("%").strip()
        if _PERCENT.fullmatch(text):
            percent = Decimal(text)
    if percent is None:
        raise CellError("ต้องเป็นอัตราดอกเบี้ยร้อยละต่อเดือน เช่น 1.00", "must be a rate in percent a month, e.g. 1.00")
    if percent < 0:
        raise CellError("ต้องไม่ติดลบ", "must not be negative")
    if percent > MAX_PERCENT_PER_MONTH:
        limit = f"{MAX_PERCENT_PER_MONTH:.2f}"
        raise CellError(f"ต้องไม่เกินร้อยละ {limit} ต่อเดือน", f"must not exceed {limit} percent a month")
    if percent != percent.quantize(_CENT):
        raise CellError(f"มีทศนิยมเกิน 2 ตำแหน่ง ({percent})", f"has more than two decimal places ({percent})")
    return (percent / 100).quantize(_RATE_PLACES).normalize()


MAX_INSTALLMENTS = 360  # lending's longest term (ProductDefined.max_term_months)


def _parse_installments(value: object) -> int:
    text = _digits_text(value)
    if not re.fullmatch("[0-9]{1,3}", text) or not 1 <= int(text) <= MAX_INSTALLMENTS:
        raise CellError(
            f"ต้องเป็นจำนวนงวด 1 ถึง {MAX_INSTALLMENTS}",
            f"must be a whole number of installments from 1 to {MAX_INSTALLMENTS}",
        )
    return int(text)


# --- Column specs --------------------------------------------------------------------------------------------


def _identity(value: object) -> object:
    return value


def _money_cell(value: object) -> object:
    return Decimal(format_baht(int(str(value))))


def _money_text(value: object) -> str:
    return format_baht(int(str(value)))


def _date_text(value: object) -> str:
    assert isinstance(value, date)
    return f"{value.day}/{value.month}/{value.year + 543}"


def _percent_cell(value: object) -> object:
    assert isinstance(value, Decimal)
    return (value * 100).quantize(_CENT)


def _percent_text(value: object) -> str:
    return str(_percent_cell(value))


@dataclass(frozen=True)
class Kind:
    """How a column's cells are read, described and written in the template."""

    parse: Callable[[object], object]
    note_th: str
    note_en: str
    number_format: str = "General"
    # A value as rows.py holds it, as the template writes it in a worksheet and in CSV.
    to_cell: Callable[[object], object] = _identity
    to_text: Callable[[object], str] = str
    # The values the template's cells offer as a list (its Thai words), when there are few.
    choices: tuple[str, ...] = ()


def _choice_kind(names_th: dict[str, str], words: dict[str, str], note_th: str, note_en: str) -> Kind:
    """A column holding one of a few values (an account, an interest method): read from any of `words`
    (spaces and case aside), written in the template by its Thai name, offered as a list of those names."""

    def parse(value: object) -> str:
        chosen = words.get(_norm(value).replace(" ", "")) if isinstance(value, str) else None
        if chosen is None:
            raise CellError(f"ต้องเป็น {note_th}", f"must be {note_en}")
        return chosen

    def text(value: object) -> str:
        return names_th[str(value)]

    return Kind(parse, note_th, note_en, to_cell=text, to_text=text, choices=tuple(names_th.values()))


def _text_kind(max_length: int, *, ascii_digits: bool = False) -> Kind:
    return Kind(
        parse_text(max_length, ascii_digits=ascii_digits),
        f"ข้อความ ไม่เกิน {max_length} ตัวอักษร",
        f"text, at most {max_length} characters",
    )


def _code_kind(length: int, what_th: str, what_en: str) -> Kind:
    return Kind(
        parse_code(length),
        f"รหัส{what_th}ของกรมการปกครอง ตัวเลข {length} หลัก",
        f"the DOPA {what_en} code, {length} digits",
        "@",
    )


def _money_kind(positive: bool) -> Kind:
    sign_th, sign_en = ("มากกว่า 0", "more than 0") if positive else ("ตั้งแต่ 0 ขึ้นไป", "0 or more")
    return Kind(
        lambda value: parse_satang(value, positive=positive),
        f"จำนวนเงินบาท {sign_th} ทศนิยมไม่เกิน 2 ตำแหน่ง เช่น 1,234.50",
        f"baht, {sign_en}, at most two decimal places, e.g. 1,234.50",
        "#,##0.00",
        _money_cell,
        _money_text,
    )


TEXT_200 = _text_kind(200)
DATE = Kind(
    parse_date,
    "วันที่ เช่น " + ", ".join(_DATE_FORMATS) + " ปีที่เกิน 2400 อ่านเป็น พ.ศ.",
    "a date: 5/1/2567 (day/month/Buddhist year), 05/01/2024, 2024-01-05 or a date cell; a year above 2400 is B.E.",
    "dd/mm/yyyy",
    _identity,
    _date_text,
)
POSITIVE_MONEY = _money_kind(True)
MONEY = _money_kind(False)


@dataclass(frozen=True)
class Column:
    field: str  # the rows.py field it fills
    th: str
    en: str
    kind: Kind
    # A required column must be in the sheet and filled on every row; an optional one may be left out or blank,
    # and then gives its default.
    required: bool = True
    default: object = None
    note_th: str = ""
    note_en: str = ""

    @property
    def heading(self) -> str:
        return f"{self.th} ({self.en})"

    @property
    def names(self) -> frozenset[str]:
        """The headings it is known by: Thai, English, or its field's name (`group_code`, `share_value`)."""
        return frozenset({_norm(self.th), _norm(self.en), _norm(self.field.removesuffix("_satang"))})

    @property
    def default_text(self) -> str:
        if self.required or self.default is None:
            return ""
        return self.kind.to_text(self.default)


@dataclass(frozen=True)
class SheetSpec:
    key: SheetKey
    th: str
    en: str
    columns: tuple[Column, ...]  # in the template's order; each fills the rows.py field of its name
    note_th: str
    note_en: str
    # A required sheet missing from an .xlsx, a folder or a .zip is a problem of the file; an optional one
    # missing holds no rows.
    required: bool = True

    @property
    def title(self) -> str:
        return f"{self.th} ({self.en})"

    @property
    def csv_name(self) -> str:
        return f"{self.key}.csv"

    @property
    def names(self) -> frozenset[str]:
        return frozenset({_norm(self.th), _norm(self.en)})

    def column_named(self, heading: str) -> Column | None:
        names = _heading_names(heading)
        return next((c for c in self.columns if c.names & names), None)

    def column_for(self, name: str) -> Column | None:
        """The column of a field as rows.py names it or as the domain's refusals do (`share_value`, `amount`)."""
        return next((c for c in self.columns if name in (c.field, c.field.removesuffix("_satang"))), None)


def _norm(text: object) -> str:
    return re.sub(r"[\s_\-–—/]+", " ", _tidy(str(text)).casefold()).strip()


def _heading_names(text: str) -> set[str]:
    """A heading's names: the whole, and for "ไทย (English)" each part."""
    names = {_norm(text)}
    if match := re.fullmatch(r"(.+?)\s*[(（](.+)[)）]", _tidy(text)):
        names |= {_norm(match[1]), _norm(match[2])}
    return names


_GROUP_CODE = Column(
    "group_code",
    "รหัสกลุ่ม",
    "group code",
    _text_kind(40, ascii_digits=True),
    note_th="รหัสของกลุ่มในแฟ้ม (เลขทะเบียนของกลุ่ม) ใช้อ้างถึงกลุ่มในชีตอื่น และใช้ระบุกลุ่มเดิมเมื่อนำเข้าซ้ำ",
    note_en="the group's code (its registration number): other sheets refer to the group by it, and a later "
    "import of the same group is recognised by it",
)
_NATIONAL_ID = Column(
    "national_id",
    "เลขประจำตัวประชาชน",
    "national ID",
    Kind(parse_national_id, "ตัวเลข 13 หลัก มีขีดหรือเว้นวรรคได้", "13 digits, dashes or spaces allowed", "@"),
    note_th="เลขประจำตัวประชาชนของสมาชิก ตรวจเลขหลักสุดท้าย",
    note_en="the member's Thai national ID; its check digit is verified",
)

GROUP_COLUMNS = (
    _GROUP_CODE,
    Column("name", "ชื่อกลุ่ม", "group name", TEXT_200),
    Column("province_code", "รหัสจังหวัด", "province code", _code_kind(2, "จังหวัด", "province")),
    Column("district_code", "รหัสอำเภอ", "district code", _code_kind(4, "อำเภอ", "district")),
    Column(
        "subdistrict_code",
        "รหัสตำบล",
        "subdistrict code",
        _code_kind(6, "ตำบล", "subdistrict"),
        required=False,
    ),
    Column("village", "หมู่บ้าน", "village", TEXT_200, required=False),
    Column("founded_on", "วันก่อตั้งกลุ่ม", "founded on", DATE),
    Column(
        "opening_on",
        "วันที่ยอดยกมา",
        "opening day",
        DATE,
        note_th="ยอดเงินในชีตสมาชิกเป็นยอด ณ วันนี้ ชีตเงินฝากมีเฉพาะรายการหลังวันนี้",
        note_en="the members sheet's balances are as of this day; the deposits sheet holds what came after it",
    ),
    Column(
        "share_value_satang",
        "มูลค่าหุ้น",
        "share value",
        POSITIVE_MONEY,
        required=False,
        default=RULES.share_value_satang,
        note_th="สัจจะเป็นจำนวนหุ้นเต็ม หุ้นละเท่านี้",
        note_en="commitments are whole shares of this value",
    ),
    Column(
        "min_monthly_commitment_satang",
        "สัจจะขั้นต่ำต่อเดือน",
        "minimum monthly commitment",
        POSITIVE_MONEY,
        required=False,
        default=RULES.min_monthly_commitment_satang,
    ),
    Column(
        "max_monthly_commitment_satang",
        "สัจจะสูงสุดต่อเดือน",
        "maximum monthly commitment",
        POSITIVE_MONEY,
        required=False,
        default=RULES.max_monthly_commitment_satang,
    ),
    Column(
        "collection_day",
        "วันเก็บเงินสัจจะ",
        "collection day",
        Kind(_parse_day_of_month, "วันที่ 1 ถึง 28 ของเดือน", "a day of the month, 1 to 28"),
        required=False,
        default=RULES.collection_day,
    ),
)
MEMBER_COLUMNS = (
    _GROUP_CODE,
    _NATIONAL_ID,
    Column("full_name", "ชื่อ-นามสกุล", "full name", TEXT_200),
    Column(
        "joined_on",
        "วันที่เป็นสมาชิก",
        "joined on",
        DATE,
        note_th="ไม่ก่อนวันก่อตั้งกลุ่ม และไม่หลังวันที่ยอดยกมา",
        note_en="not before the group was founded, nor after its opening day",
    ),
    Column(
        "monthly_commitment_satang",
        "สัจจะต่อเดือน",
        "monthly commitment",
        POSITIVE_MONEY,
        note_th="สัจจะที่ใช้อยู่ ณ วันที่ยอดยกมา เป็นจำนวนหุ้นเต็ม ในช่วงขั้นต่ำถึงสูงสุดของกลุ่ม",
        note_en="the commitment in force on the opening day: whole shares, within the group's minimum and maximum",
    ),
    Column(
        "opening_sajja_satang",
        "เงินสัจจะยกมา",
        "opening sajja savings",
        MONEY,
        note_th="ยอดเงินสัจจะ ณ วันที่ยอดยกมา เป็นจำนวนหุ้นเต็ม",
        note_en="the sajja savings balance on the opening day, whole shares",
    ),
    Column(
        "opening_special_satang",
        "เงินฝากพิเศษยกมา",
        "opening special savings",
        MONEY,
        required=False,
        default=0,
        note_th="ยอดเงินฝากพิเศษ ณ วันที่ยอดยกมา",
        note_en="the special savings balance on the opening day",
    ),
    Column(
        "phone",
        "โทรศัพท์",
        "phone",
        Kind(_parse_phone, "ตัวเลข 9 ถึง 15 หลัก", "9 to 15 digits", "@"),
        required=False,
    ),
)
DEPOSIT_COLUMNS = (
    _GROUP_CODE,
    _NATIONAL_ID,
    Column(
        "deposited_on",
        "วันที่ฝาก",
        "deposited on",
        DATE,
        note_th="หลังวันที่ยอดยกมาของกลุ่ม และไม่เป็นวันในอนาคต",
        note_en="after the group's opening day, and not in the future",
    ),
    Column(
        "account",
        "ประเภทเงินฝาก",
        "account",
        _choice_kind(
            ACCOUNT_NAMES_TH, _ACCOUNTS, "สัจจะ หรือ พิเศษ (สัจจะพิเศษ)", "sajja (สัจจะ) or special (พิเศษ, สัจจะพิเศษ)"
        ),
    ),
    Column("amount_satang", "จำนวนเงิน", "amount", POSITIVE_MONEY),
)
LOAN_COLUMNS = (
    _GROUP_CODE,
    dataclasses.replace(
        _NATIONAL_ID,
        note_th="เลขประจำตัวประชาชนของผู้กู้ ซึ่งต้องเป็นสมาชิกของกลุ่มในชีตสมาชิก",
        note_en="the borrower's national ID: a member of the group in the members sheet",
    ),
    Column(
        "contract_no",
        "เลขที่สัญญา",
        "contract number",
        Kind(
            parse_text(40, ascii_digits=True),
            "ข้อความ ไม่เกิน 40 ตัวอักษร",
            "text, at most 40 characters",
            "@",
        ),
        note_th="เลขที่สัญญาเงินกู้ของกลุ่ม ไม่ซ้ำกันในกลุ่ม ใช้ระบุสัญญาเดิมเมื่อนำเข้าซ้ำ",
        note_en="the group's contract number, unique within the group: a later import recognises the loan by it",
    ),
    Column(
        "disbursed_on",
        "วันที่รับเงินกู้",
        "disbursed on",
        DATE,
        note_th="ไม่ก่อนวันที่เป็นสมาชิก และไม่หลังวันที่ยอดยกมาของกลุ่ม",
        note_en="not before the member joined, nor after the group's opening day",
    ),
    Column(
        "principal_satang",
        "เงินต้นที่กู้",
        "principal",
        POSITIVE_MONEY,
        note_th="เงินต้นตามสัญญา",
        note_en="the principal as lent",
    ),
    Column(
        "outstanding_satang",
        "เงินต้นคงเหลือ",
        "outstanding principal",
        POSITIVE_MONEY,
        note_th="เงินต้นที่ยังค้าง ณ วันที่ยอดยกมา ไม่เกินเงินต้นที่กู้",
        note_en="the principal still owed on the opening day, at most the principal lent",
    ),
    Column(
        "interest_method",
        "วิธีคิดดอกเบี้ย",
        "interest method",
        _choice_kind(
            INTEREST_METHOD_NAMES_TH,
            _INTEREST_METHODS,
            "ดอกเบี้ยคงที่ หรือ ลดต้นลดดอก",
            "flat (ดอกเบี้ยคงที่) or declining (ลดต้นลดดอก)",
        ),
    ),
    Column(
        "rate_per_month",
        "ดอกเบี้ยร้อยละต่อเดือน",
        "interest percent per month",
        Kind(
            parse_rate_percent,
            f"ร้อยละต่อเดือน 0 ถึง {MAX_PERCENT_PER_MONTH:.2f} ทศนิยมไม่เกิน 2 ตำแหน่ง เช่น 1.00 คือร้อยละ 1 ต่อเดือน",
            f"percent a month, 0 to {MAX_PERCENT_PER_MONTH:.2f}, at most two decimal places: 1.00 is 1 % a month",
            "0.00",
            _percent_cell,
            _percent_text,
        ),
    ),
    Column(
        "installments_left",
        "จำนวนงวดที่เหลือ",
        "installments left",
        Kind(
            _parse_installments,
            f"จำนวนเต็ม 1 ถึง {MAX_INSTALLMENTS}",
            f"a whole number, 1 to {MAX_INSTALLMENTS}",
            "0",
        ),
        note_th="งวดรายเดือนที่ยังต้องชำระ นับจากงวดถัดไป",
        note_en="the monthly installments still to pay, from the next one",
    ),
    Column(
        "next_due_on",
        "วันครบกำหนดงวดถัดไป",
        "next due on",
        DATE,
        note_th="หลังวันที่ยอดยกมาของกลุ่ม และไม่เกินหนึ่งปีหลังวันนั้น งวดต่อไปครบกำหนดวันเดียวกันของทุกเดือน",
        note_en="after the group's opening day and at most a year after it; later installments fall due on the "
        "same day of each month",
    ),
)

SHEETS: tuple[SheetSpec, ...] = (
    SheetSpec(
        "groups",
        "กลุ่ม",
        "groups",
        GROUP_COLUMNS,
        "หนึ่งแถวต่อหนึ่งกลุ่ม พร้อมระเบียบของกลุ่ม",
        "one row per group, with its rules",
    ),
    SheetSpec(
        "members",
        "สมาชิก",
        "members",
        MEMBER_COLUMNS,
        "หนึ่งแถวต่อสมาชิกหนึ่งคน ยอดเงินเป็นยอด ณ วันที่ยอดยกมาของกลุ่ม",
        "one row per member; balances as of the group's opening day",
    ),
    SheetSpec(
        "deposits",
        "เงินฝาก",
        "deposits",
        DEPOSIT_COLUMNS,
        "หนึ่งแถวต่อการฝากหนึ่งครั้ง หลังวันที่ยอดยกมา",
        "one row per deposit made after the opening day",
    ),
    SheetSpec(
        "loans",
        "เงินกู้",
        "loans",
        LOAN_COLUMNS,
        "เงินกู้ที่ยังค้าง ณ วันที่ยอดยกมา (ไม่บังคับ) งวดที่เหลือคำนวณจากเงินต้นคงเหลือตามเงื่อนไขของสัญญา เป็นรายเดือนตั้งแต่วันครบกำหนดงวดถัดไป",
        "loans outstanding on the opening day (optional); the remaining installments are built from the "
        "outstanding principal by the loan's terms, monthly from the next due date",
        required=False,
    ),
)
SHEET_BY_KEY: dict[SheetKey, SheetSpec] = {spec.key: spec for spec in SHEETS}


def sheet_name(key: SheetKey) -> str:
    """A sheet's name in the template ("กลุ่ม (groups)"), for problems found after reading: write_report marks
    them in the file's own sheet of that kind, whatever the file calls it."""
    return SHEET_BY_KEY[key].title


def heading(key: SheetKey, field_name: str) -> str:
    """A column's heading in the template ("รหัสอำเภอ (district code)"), by its rows.py field name."""
    column = SHEET_BY_KEY[key].column_for(field_name)
    if column is None:
        raise KeyError(f"the {key} sheet has no column {field_name}")
    return column.heading


def _sheet_named(name: str) -> SheetSpec | None:
    stem = name[:-4] if name.lower().endswith(".csv") else name
    names = _heading_names(stem)
    return next((spec for spec in SHEETS if spec.names & names), None)


# --- The example --------------------------------------------------------------------------------------------


def _example_id(first_twelve: str) -> str:
    return first_twelve + str(national_id_check_digit(first_twelve))


_IDS = [
    _example_id(d)
    for d in ("327010012341", "327010045672", "327010078903", "327060023454", "327060056785", "127060089016")
]
_OPENING = date(2025, 12, 31)
EXAMPLE_GROUPS = [
    GroupRow(
        2, "2701-001", "กลุ่มออมทรัพย์เพื่อการผลิตบ้านหนองบัว", "27", "2701", "270101", "บ้านหนองบัว หมู่ 3",
        date(1998, 5, 1), _OPENING, 5_000, 5_000, 500_000, 5,
    ),
    GroupRow(
        3, "2706-014", "กลุ่มออมทรัพย์เพื่อการผลิตบ้านคลองน้ำใส", "27", "2706", "270604", "บ้านคลองน้ำใส หมู่ 7",
        date(2004, 3, 15), _OPENING, 10_000, 10_000, 1_000_000, 10,
    ),
]  # fmt: skip
EXAMPLE_MEMBERS = [
    MemberRow(2, "2701-001", _IDS[0], "สมศรี ใจดี", date(2010, 6, 5), 20_000, 1_860_000, 245_075, "081-234-5678"),
    MemberRow(3, "2701-001", _IDS[1], "บุญมี ศรีสุข", date(1998, 5, 1), 50_000, 9_650_000, 0, None),
    MemberRow(4, "2701-001", _IDS[2], "มาลี แก้วมณี", date(2025, 7, 5), 10_000, 60_000, 15_000, "0898765432"),
    MemberRow(5, "2706-014", _IDS[3], "ประยูร ทองดี", date(2004, 3, 15), 30_000, 6_480_000, 1_200_000, None),
    MemberRow(6, "2706-014", _IDS[4], "จันทร์เพ็ญ บุญมา", date(2015, 11, 10), 100_000, 12_000_000, 532_050, "0861112222"),
    MemberRow(7, "2706-014", _IDS[5], "สมชาย รักถิ่น", date(2025, 12, 10), 10_000, 10_000, 0, None),
]
EXAMPLE_DEPOSITS = [
    DepositRow(2, "2701-001", _IDS[0], date(2026, 1, 5), "sajja", 20_000),
    DepositRow(3, "2701-001", _IDS[0], date(2026, 1, 5), "special", 50_000),
    DepositRow(4, "2701-001", _IDS[1], date(2026, 1, 5), "sajja", 50_000),
    DepositRow(5, "2701-001", _IDS[2], date(2026, 1, 5), "sajja", 10_000),
    DepositRow(6, "2701-001", _IDS[0], date(2026, 2, 5), "sajja", 20_000),
    DepositRow(7, "2701-001", _IDS[1], date(2026, 2, 5), "sajja", 50_000),
    DepositRow(8, "2706-014", _IDS[3], date(2026, 1, 10), "sajja", 30_000),
    DepositRow(9, "2706-014", _IDS[4], date(2026, 1, 10), "sajja", 100_000),
    DepositRow(10, "2706-014", _IDS[4], date(2026, 1, 10), "special", 25_050),
    DepositRow(11, "2706-014", _IDS[5], date(2026, 1, 10), "sajja", 10_000),
    DepositRow(12, "2706-014", _IDS[5], date(2026, 2, 10), "sajja", 10_000),
]
# Loans of the example's members outstanding on its opening day, next due on their groups' collection days.
EXAMPLE_LOANS = [
    LoanRow(
        2, "2701-001", _IDS[0], "กส68-004", date(2025, 6, 5), 3_000_000, 1_500_000, "flat", Decimal("0.01"), 6,
        date(2026, 1, 5),
    ),
    LoanRow(
        3, "2706-014", _IDS[3], "กส67-021", date(2024, 12, 10), 5_000_000, 3_750_000, "declining", Decimal("0.0075"),
        27, date(2026, 1, 10),
    ),
    LoanRow(
        4, "2706-014", _IDS[4], "กส68-007", date(2025, 3, 10), 10_000_000, 6_250_000, "declining", Decimal("0.0075"),
        15, date(2026, 1, 10),
    ),
]  # fmt: skip
_EXAMPLES: dict[SheetKey, Sequence[object]] = {
    "groups": EXAMPLE_GROUPS,
    "members": EXAMPLE_MEMBERS,
    "deposits": EXAMPLE_DEPOSITS,
    "loans": EXAMPLE_LOANS,
}

# --- The template -------------------------------------------------------------------------------------------

_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")

_GENERAL_NOTES: tuple[tuple[str, str], ...] = (
    (
        "แฟ้มนี้มี 3 ชีต: กลุ่ม, สมาชิก และเงินฝาก และชีตเงินกู้ซึ่งไม่บังคับ ลำดับคอลัมน์สลับได้ "
        "หัวคอลัมน์เป็นภาษาไทย ภาษาอังกฤษ หรือแบบในแบบฟอร์มนี้ก็ได้",
        "The file holds three sheets, groups, members and deposits, and an optional fourth, loans. Columns may "
        "come in any order; a heading may be the Thai one, the English one, or both as in this template.",
    ),
    (
        "ยอดเงินในชีตสมาชิก (เงินสัจจะยกมา เงินฝากพิเศษยกมา) และสัจจะต่อเดือน เป็นยอด ณ วันที่ยอดยกมาของกลุ่ม "
        "ชีตเงินฝากมีเฉพาะการฝากหลังวันนั้น",
        "The members sheet's balances (opening sajja, opening special) and commitments are as of the group's "
        "opening day; the deposits sheet holds only the deposits after that day.",
    ),
    (
        "วันที่: " + ", ".join(_DATE_FORMATS) + " หรือช่องวันที่ของ Excel ปีที่เกิน 2400 อ่านเป็น พ.ศ. ใช้เลขไทยได้",
        "Dates: 5/1/2567 (day/month/Buddhist year), 05/01/2024, 2024-01-05, 5 ม.ค. 2567 or an Excel date cell; "
        "a year above 2400 is the Buddhist Era; Thai digits are read.",
    ),
    (
        "จำนวนเงินเป็นบาท ทศนิยมไม่เกิน 2 ตำแหน่ง มีจุลภาคได้ เช่น 1,234.50",
        "Amounts are baht with at most two decimal places, commas allowed, e.g. 1,234.50.",
    ),
    (
        "ทุกแถวตรวจด้วยกฎเดียวกับระบบ: รหัสพื้นที่ของกรมการปกครอง เลขประจำตัวประชาชน ระเบียบหุ้นของกลุ่ม "
        "และจำนวนเงิน แถวที่ไม่ผ่านจะแจ้งชีต แถว คอลัมน์ และเหตุผล พร้อมรายงาน Excel ที่ระบายสีช่องที่ผิด",
        "Every row is checked by the platform's own rules: DOPA area codes, national ID check digit, the group's "
        "share rules, amounts. Each refused row is reported with its sheet, row, column and reason, and a report "
        "workbook marks the cells at fault.",
    ),
    (
        "นำเข้าแฟ้มเดิมซ้ำได้โดยไม่เกิดรายการซ้ำ แฟ้มที่แก้แล้วจะเพิ่มเฉพาะสิ่งที่ยังไม่มี",
        "An import is idempotent: the same file again changes nothing, and a corrected file adds only what is new.",
    ),
    (
        "ถ้าใช้ CSV: หนึ่งแฟ้มต่อชีต ชื่อ groups.csv, members.csv, deposits.csv และ loans.csv (ถ้ามี) (UTF-8) "
        "รวมไว้ในโฟลเดอร์หรือ .zip",
        "As CSV: one file per sheet, named groups.csv, members.csv, deposits.csv and (if any) loans.csv (UTF-8), "
        "in a folder or a .zip.",
    ),
)


def _instructions(sheet: Worksheet) -> None:
    append_row(sheet, ["แบบฟอร์มนำเข้ากลุ่มออมทรัพย์เพื่อการผลิต", "Sajja onboarding template"])
    for cell in sheet[1]:
        cell.font = Font(bold=True, size=14)
    append_row(sheet, [])
    for th, en in _GENERAL_NOTES:
        append_row(sheet, [th, en])
    append_row(sheet, [])
    headings = ["ชีต (sheet)", "หัวคอลัมน์ (heading)", "ต้องกรอก (required)", "ความหมาย", "meaning", "ค่าเริ่มต้น (default)"]
    append_row(sheet, headings)
    for cell in sheet[sheet.max_row]:
        cell.font = _BOLD
    for spec in SHEETS:
        required = "ใช่ (yes)" if spec.required else "ไม่ (no)"
        append_row(sheet, [spec.title, "", required, spec.note_th, spec.note_en, ""])
        sheet.cell(sheet.max_row, 1).font = _BOLD
        for column in spec.columns:
            meaning_th = " ".join(filter(None, [column.note_th, f"({column.kind.note_th})"]))
            meaning_en = " ".join(filter(None, [column.note_en, f"({column.kind.note_en})"]))
            required = "ใช่ (yes)" if column.required else "ไม่ (no)"
            append_row(sheet, [spec.title, column.heading, required, meaning_th, meaning_en, column.default_text])
    for letter, width in zip("ABCDEF", (22, 36, 16, 70, 70, 18), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = _WRAP


def _put(sheet: Worksheet, row: int, column: int, value: object) -> None:
    """A cell as append_row writes it: text is a string cell, with the quote prefix when it looks like a formula."""
    cell = sheet.cell(row, column)
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
        if formula_like(value):
            cell.quotePrefix = True
    else:
        cell.value = value


def write_template(path: Path, *, example: bool = True) -> None:
    """The onboarding workbook: instructions, then the groups, members, deposits and loans sheets (with the
    example)."""
    book = Workbook()
    instructions = book.active
    assert instructions is not None
    instructions.title = INSTRUCTIONS_TITLE
    _instructions(instructions)
    for spec in SHEETS:
        sheet = book.create_sheet(spec.title)
        append_row(sheet, [column.heading for column in spec.columns])
        for index, column in enumerate(spec.columns, start=1):
            sheet.cell(1, index).font = _BOLD
            letter = sheet.cell(1, index).column_letter
            sheet.column_dimensions[letter].width = max(14, len(column.heading) + 2)
            sheet.column_dimensions[letter].number_format = column.kind.number_format
        sheet.freeze_panes = "A2"
        for row in _EXAMPLES[spec.key] if example else ():
            at = sheet.max_row + 1
            for index, column in enumerate(spec.columns, start=1):
                value = getattr(row, column.field)
                _put(sheet, at, index, None if value is None else column.kind.to_cell(value))
                sheet.cell(at, index).number_format = column.kind.number_format
        for index, column in enumerate(spec.columns, start=1):
            if column.kind.choices:
                choices = DataValidation(type="list", formula1=f'"{",".join(column.kind.choices)}"', allow_blank=True)
                sheet.add_data_validation(choices)
                letter = sheet.cell(1, index).column_letter
                choices.add(f"{letter}2:{letter}100000")
    book.save(path)


def write_template_csv(directory: Path, *, example: bool = True) -> list[Path]:
    """groups.csv, members.csv, deposits.csv and loans.csv (UTF-8 with a BOM, so Excel reads the Thai), with the
    example."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in SHEETS:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([csv_cell(column.heading) for column in spec.columns])
        for row in _EXAMPLES[spec.key] if example else ():
            values = [getattr(row, column.field) for column in spec.columns]
            writer.writerow(
                [
                    "" if value is None else csv_cell(column.kind.to_text(value))
                    for column, value in zip(spec.columns, values, strict=True)
                ]
            )
        path = directory / spec.csv_name
        path.write_bytes(("\ufeff" + out.getvalue()).encode())
        written.append(path)
    return written


def template_zip(*, example: bool = True) -> bytes:
    """The CSV template (write_template_csv's files) as one ZIP, as `sajja import` and the API hand it out."""
    with tempfile.TemporaryDirectory(prefix="sajja-template-") as tmp:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in write_template_csv(Path(tmp), example=example):
                archive.write(path, path.name)
        return out.getvalue()


def csv_zip(sheets: Mapping[SheetKey, tuple[Sequence[str], Iterable[Sequence[object]]]]) -> bytes:
    """A file to import made by a program (the demo's history, the benchmark's province): per sheet, the rows.py
    fields its columns hold and the rows as text, zipped as the template's CSVs (its headings and file names, a
    BOM). The rows go as given: they are read back by read_file, which takes a cell's text as it is."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, (fields, rows) in sheets.items():
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow([csv_cell(heading(key, f)) for f in fields])
            writer.writerows(rows)
            archive.writestr(SHEET_BY_KEY[key].csv_name, "\ufeff" + text.getvalue())
    return out.getvalue()


# --- Loading a file -----------------------------------------------------------------------------------------


@dataclass
class _Table:
    name: str  # the sheet's name in the file, or the CSV file's name
    rows: list[tuple[object, ...]]  # every row as read: rows[0] is the spreadsheet's row 1


@dataclass(frozen=True)
class _FileProblem:
    sheet: str
    field: str | None
    th: str
    en: str


@dataclass
class _Loaded:
    kind: Literal["xlsx", "csv", "none"]
    tables: list[_Table] = field(default_factory=list)
    problems: list[_FileProblem] = field(default_factory=list)
    single: bool = False  # one CSV file: only its own sheet is expected


def _unreadable(name: str, reason: str) -> _FileProblem:
    return _FileProblem(name, None, f"อ่านแฟ้มไม่ได้: {reason}", f"the file cannot be read: {reason}")


def _load_xlsx(path: Path) -> _Loaded:
    loaded = _Loaded("xlsx")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # any damaged content is a report, never a crash
        loaded.problems.append(_unreadable(path.name, type(error).__name__))
        return loaded
    try:
        for sheet in book.worksheets:
            if _sheet_named(sheet.title) is SHEET_BY_KEY["loans"]:
                rows = [tuple(_as_shown(cell) for cell in row) for row in sheet.iter_rows()]
            else:
                rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
            loaded.tables.append(_Table(sheet.title, rows))
    except Exception as error:  # a damaged sheet, found while reading it
        loaded.problems.append(_unreadable(path.name, type(error).__name__))
    finally:
        book.close()
    return loaded


_QUOTED = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')  # a number format's literal text, escapes and [colour]s


def _as_shown(cell: Any) -> object:
    """A cell's value, but a number formatted as a percentage as the text it shows: Excel turns "1%" typed in a
    cell into 0.01, and a rate is read as the percentage written ("1%"), never as 0.01 %."""
    value = cell.value
    number = _number(value) if isinstance(value, int | float | Decimal) else None
    if number is None or "%" not in _QUOTED.sub("", str(getattr(cell, "number_format", "") or "")):
        return value
    return f"{number.scaleb(2):f}%"


def _csv_table(name: str, data: bytes) -> _Table | _FileProblem:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp874", errors="replace")  # Thai Windows' own encoding ("ANSI" CSV from Excel)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        return _Table(name, [tuple(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)])
    except csv.Error as error:
        return _unreadable(name, str(error))


def _sheet_order(name: str) -> int:
    spec = _sheet_named(name)
    return SHEETS.index(spec) if spec else len(SHEETS)


def _load_csvs(files: Iterable[tuple[str, Callable[[], bytes]]], single: bool) -> _Loaded:
    loaded = _Loaded("csv", single=single)
    for name, read in sorted(files, key=lambda file: (_sheet_order(file[0]), file[0])):
        table = _csv_table(name, read())
        if isinstance(table, _FileProblem):
            loaded.problems.append(table)
        else:
            loaded.tables.append(table)
    return loaded


def _load_zip(path: Path) -> _Loaded:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        return _Loaded("csv", problems=[_unreadable(path.name, type(error).__name__)])
    with archive:
        files = []
        problems = []
        for info in archive.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or not name.lower().endswith(".csv") or info.filename.startswith("__MACOSX"):
                continue
            if info.file_size > MAX_CSV_BYTES:
                problems.append(_unreadable(name, f"larger than {MAX_CSV_BYTES // 1024 // 1024} MB"))
                continue
            files.append((name, _reader(archive, info)))
        try:
            loaded = _load_csvs(files, single=False)
        except Exception as error:  # damaged, encrypted or oddly compressed members
            return _Loaded("csv", problems=[_unreadable(path.name, type(error).__name__)])
    loaded.problems[:0] = problems
    return loaded


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    return lambda: archive.read(info)


def _load(path: Path) -> _Loaded:
    if not path.exists():
        raise FileNotFoundError(path)
    if path.is_dir():
        csvs = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        return _load_csvs(((p.name, p.read_bytes) for p in csvs), single=False)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _load_xlsx(path)
    if suffix == ".zip":
        return _load_zip(path)
    if suffix == ".csv":
        return _load_csvs([(path.name, path.read_bytes)], single=True)
    return _Loaded(
        "none",
        problems=[
            _FileProblem(
                path.name,
                None,
                f"ไม่รับแฟ้มชนิด {suffix or '(ไม่มีนามสกุล)'} ให้บันทึกเป็น .xlsx หรือ CSV (แฟ้มเดียว โฟลเดอร์ หรือ .zip)",
                f"{suffix or 'a file without an extension'} is not accepted: save it as .xlsx, or as CSV "
                "(one file, a folder or a .zip)",
            )
        ],
    )


# --- Reading rows -------------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass
class _Sheet:
    spec: SheetSpec
    table: _Table
    heading_index: int  # 0-based index of the heading row in table.rows
    columns: dict[str, tuple[str, int]]  # field → (heading as in the file, 1-based column)

    def data(self) -> Iterable[tuple[int, tuple[object, ...]]]:
        """(row number, cells) of each row below the headings, without blank rows or a second heading row."""
        rows = self.table.rows
        start = self.heading_index + 1
        while start < len(rows) and self._headings_only(rows[start]):
            start += 1
        for index in range(start, len(rows)):
            if not all(_blank(value) for value in rows[index]):
                yield index + 1, rows[index]

    def _headings_only(self, row: tuple[object, ...]) -> bool:
        cells = [value for value in row if not _blank(value)]
        return bool(cells) and all(isinstance(v, str) and self.spec.column_named(v) for v in cells)


@dataclass
class _Row:
    sheet: _Sheet
    number: int
    raw: tuple[object, ...]
    values: dict[str, Any] = field(default_factory=dict)
    refused: bool = False

    def get(self, name: str, kind: type[T]) -> T | None:
        value = self.values.get(name)
        return value if isinstance(value, kind) else None

    @property
    def group_code(self) -> str | None:
        return self.get("group_code", str)


@dataclass
class _Seen:
    """A group or member row, for the rows that refer to it."""

    row: _Row
    duplicate: bool = False
    rules: GroupRules | None = None  # a group's rules, when they were read and are consistent
    group: _Seen | None = None  # a member's group
    domain: Group | Member | None = None  # what the domain made of the row, when it passed

    def on(self, name: str) -> date | None:
        return self.row.get(name, date)


def _cell(raw: tuple[object, ...], column: int) -> object:
    return raw[column - 1] if column <= len(raw) else None


def _shown(value: object) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    number = _number(value)
    if number is not None and not isinstance(value, int):
        return str(int(number)) if number == number.to_integral_value() else str(number)
    return str(value)


def _when(day: date) -> tuple[str, str]:
    return thai_date_short(day), day.isoformat()


# English refusals of the domain's rules, and their Thai.
_THAI_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), thai)
    for pattern, thai in (
        (r"must be 13 digits \(0-9\)", "ต้องเป็นตัวเลข 13 หลัก (0-9)"),
        (r"check digit does not match.*", "เลขหลักสุดท้าย (เลขตรวจสอบ) ไม่ตรงกับ 12 หลักแรก กรุณาตรวจเลขอีกครั้ง"),
        (r"must be a whole number of shares of (?P<v>[0-9.]+)( baht)?", "ต้องเป็นจำนวนหุ้นเต็ม หุ้นละ {v} บาท"),
        (
            r"must be between (?P<a>[0-9.]+) and (?P<b>[0-9.]+) baht under the group's rules",
            "ต้องอยู่ระหว่าง {a} ถึง {b} บาท ตามระเบียบของกลุ่ม",
        ),
        (r"the minimum commitment is above the maximum", "สัจจะขั้นต่ำสูงกว่าสัจจะสูงสุด"),
        (r"unknown province code (?P<c>\S+); nearest valid: (?P<n>.*)", "ไม่มีรหัสจังหวัด {c} รหัสที่ใกล้เคียง: {n}"),
        (
            r"(?P<c>\S+) is not a district code; districts of (?P<p>.+?) nearest to it: (?P<n>.*)",
            "{c} ไม่ใช่รหัสอำเภอ อำเภอของจังหวัด{p}ที่ใกล้เคียง: {n}",
        ),
        (
            r"(?P<c>\S+) is in another province \((?P<d>[^)]*)\); districts of (?P<p>.+?) nearest to it: (?P<n>.*)",
            "อำเภอ {c} ({d}) อยู่ในจังหวัดอื่น อำเภอของจังหวัด{p}ที่ใกล้เคียง: {n}",
        ),
        (
            r"(?P<c>\S+) is not a subdistrict of (?P<d>.+?); nearest: (?P<n>.*)",
            "{c} ไม่ใช่ตำบลในอำเภอ{d} ตำบลที่ใกล้เคียง: {n}",
        ),
        (r"must not be in the future", "ต้องไม่เป็นวันในอนาคต"),
        (r"must not be blank", "ต้องไม่เว้นว่าง"),
        (r"must be greater than zero", "ต้องมากกว่าศูนย์"),
        (r"must not be before the group was founded \((?P<d>[^)]*)\)", "ต้องไม่ก่อนวันก่อตั้งกลุ่ม ({d})"),
        (r"must not be before the member joined \((?P<d>[^)]*)\)", "ต้องไม่ก่อนวันที่เป็นสมาชิก ({d})"),
    )
)


def thai_reason(message: str) -> str:
    """The Thai of a domain refusal (the domain speaks English); a message not known yet is given as it is."""
    for pattern, thai in _THAI_REASONS:
        if match := pattern.fullmatch(message):
            return thai.format(**match.groupdict())
    return f"ไม่ผ่านการตรวจ: {message}"


_UNREAD = object()  # a value not read yet (parse's memo)
_BLANK = object()  # a blank cell


class _Reading:
    def __init__(self, loaded: _Loaded, file: str, today: date) -> None:
        self.loaded = loaded
        self.file = file
        self.today = today
        self.problems: list[RowProblem] = []

    # -- problems

    def file_problem(self, sheet: str, field_name: str | None, th: str, en: str) -> None:
        self.problems.append(CellProblem(self.file, sheet, 0, field_name, th, en))

    def refuse(self, row: _Row, name: str | None, th: str, en: str) -> None:
        heading, column = row.sheet.columns.get(name, (None, None)) if name else (None, None)
        value = _cell(row.raw, column) if column is not None else None
        self.problems.append(
            CellProblem(
                self.file,
                row.sheet.table.name,
                row.number,
                heading,
                th,
                en,
                group_code=row.group_code,
                column=column,
                value=_shown(value),
            )
        )
        row.refused = True

    def broken(self, row: _Row, error: RuleBroken) -> None:
        """A refusal of the domain's, at the column it names (the row's, when the file has no such column)."""
        column = row.sheet.spec.column_for((error.field or "").removeprefix("rules."))
        self.refuse(row, column.field if column else None, thai_reason(error.message), error.message)

    # -- sheets

    def sheets(self) -> dict[SheetKey, _Sheet | None]:
        found: dict[SheetKey, _Table] = {}
        for table in self.loaded.tables:
            spec = _sheet_named(table.name)
            if spec is None:
                if self.loaded.single:
                    names = ", ".join(s.csv_name for s in SHEETS)
                    self.file_problem(
                        table.name,
                        None,
                        f"ไม่รู้ว่าแฟ้มนี้เป็นชีตใด ให้ตั้งชื่อแฟ้มเป็น {names}",
                        f"cannot tell which sheet this file holds: name it {names}",
                    )
                continue
            if spec.key in found:
                self.file_problem(
                    table.name,
                    None,
                    f"มีชีต{spec.th}มากกว่าหนึ่งชีต ({found[spec.key].name}) จึงอ่านเฉพาะชีตแรก",
                    f"there is more than one {spec.en} sheet ({found[spec.key].name}); only the first is read",
                )
                continue
            found[spec.key] = table
        sheets: dict[SheetKey, _Sheet | None] = {}
        for spec in SHEETS:
            matched = found.get(spec.key)
            if matched is None:
                readable = self.loaded.tables or not self.loaded.problems
                if spec.required and not self.loaded.single and self.loaded.kind != "none" and readable:
                    name = spec.title if self.loaded.kind == "xlsx" else spec.csv_name
                    self.file_problem(
                        name, None, f"ไม่มีชีต{spec.th} ({name})", f"the {spec.en} sheet ({name}) is missing"
                    )
                sheets[spec.key] = None
            else:
                sheets[spec.key] = self.headings(spec, matched)
        return sheets

    def headings(self, spec: SheetSpec, table: _Table) -> _Sheet | None:
        best: tuple[int, dict[str, tuple[str, int]], list[tuple[str, int]]] = (0, {}, [])
        for index, row in enumerate(table.rows[:HEADING_SEARCH_ROWS]):
            columns: dict[str, tuple[str, int]] = {}
            twice: list[tuple[str, int]] = []
            for number, value in enumerate(row, start=1):
                column = spec.column_named(value) if isinstance(value, str) else None
                if column is not None and column.field in columns:
                    twice.append((_tidy(str(value)), number))
                elif column is not None:
                    columns[column.field] = (_tidy(str(value)), number)
            if len(columns) > len(best[1]):
                best = (index, columns, twice)
        index, columns, twice = best
        usable = True
        if not columns:
            self.file_problem(
                table.name,
                None,
                f"ไม่พบแถวหัวคอลัมน์ใน {HEADING_SEARCH_ROWS} แถวแรก",
                f"no heading row found in the first {HEADING_SEARCH_ROWS} rows",
            )
            return None
        for heading, _ in twice:
            self.file_problem(
                table.name, heading, f"คอลัมน์ {heading} ซ้ำกัน", f"the column {heading} appears more than once"
            )
            usable = False
        for column in spec.columns:
            if column.required and column.field not in columns:
                self.file_problem(
                    table.name,
                    column.heading,
                    f"ไม่มีคอลัมน์ {column.th} ซึ่งต้องมี ชีตนี้จึงอ่านไม่ได้",
                    f"the required column {column.en} is missing, so this sheet cannot be read",
                )
                usable = False
        return _Sheet(spec, table, index, columns) if usable else None

    def parse(self, sheet: _Sheet) -> list[_Row]:
        # Each column's cells read once per distinct value: a deposits sheet repeats its national IDs, dates and
        # amounts row after row (a cell's reading depends on its value alone, its rules on the row are checked
        # after). A value maps to what it reads as, _BLANK, or the CellError it is refused with.
        columns: list[tuple[Column, int | None, dict[object, object]]] = [
            (column, sheet.columns[column.field][1] - 1 if column.field in sheet.columns else None, {})
            for column in sheet.spec.columns  # group_code first: every problem of the row then names its group
        ]
        rows = []
        for number, raw in sheet.data():
            row = _Row(sheet, number, raw)
            values = row.values
            width = len(raw)
            for column, index, read in columns:
                value = raw[index] if index is not None and index < width else None
                key: object = value if value.__class__ is str else (value.__class__, value)
                try:
                    got = read.get(key, _UNREAD)
                except TypeError:  # a cell value that cannot be a key: read it, and keep nothing
                    got, key = _UNREAD, _UNREAD
                if got is _UNREAD:
                    if _blank(value):
                        got = _BLANK
                    else:
                        try:
                            got = column.kind.parse(value)
                        except CellError as error:
                            got = error
                    if key is not _UNREAD:
                        read[key] = got
                if got is _BLANK:
                    if column.required:
                        self.refuse(row, column.field, "ต้องกรอก", "is required")
                    else:
                        values[column.field] = column.default
                elif isinstance(got, CellError):
                    self.refuse(row, column.field, got.th, got.en)
                else:
                    values[column.field] = got
            rows.append(row)
        return rows

    def duplicates(self, rows: list[_Row], key: Callable[[_Row], object], name: str, th: str, en: str) -> None:
        """Refuse every row whose key another row shares: which of them is right is for the committee to say."""
        numbers: dict[object, list[int]] = {}
        for row in rows:
            if (k := key(row)) is not None:
                numbers.setdefault(k, []).append(row.number)
        for row in rows:
            shared = numbers.get(key(row), [])
            if len(shared) > 1:
                listed = ", ".join(map(str, shared[:10])) + (", …" if len(shared) > 10 else "")
                self.refuse(row, name, f"{th} (แถว {listed})", f"{en} (rows {listed})")

    def refer(
        self,
        row: _Row,
        name: str,
        key: object,
        seen: dict[Any, _Seen],
        sheet: _Sheet | None,
        what: tuple[str, str],
        where: SheetSpec,
    ) -> _Seen | None:
        """The row this one refers to (its group, its member), refusing this one when that one is missing or
        refused. None when there is none to check this row against."""
        th, en = what
        if key is None:
            return None  # the cell itself is refused already
        if sheet is None:
            self.refuse(
                row,
                name,
                f"ชีต{where.th}ไม่มีหรืออ่านไม่ได้ จึงตรวจ{th}ไม่ได้",
                f"the {where.en} sheet is missing or cannot be read, so {en} cannot be checked",
            )
            return None
        target = seen.get(key)
        if target is None:
            self.refuse(row, name, f"ไม่มี{th} ในชีต{where.th}", f"{en} is not in the {where.en} sheet")
            return None
        if target.duplicate:
            self.refuse(
                row,
                name,
                f"{th}มีมากกว่าหนึ่งแถวในชีต{where.th} จึงไม่รู้ว่าเป็นแถวใด",
                f"{en} is on more than one row of the {where.en} sheet, so which one is meant is unclear",
            )
            return None
        if target.row.refused:
            self.refuse(
                row,
                name,
                f"{th} (ชีต{where.th} แถว {target.row.number}) ไม่ผ่านการตรวจ แถวนี้จึงนำเข้าไม่ได้",
                f"{en} ({where.en} sheet, row {target.row.number}) was refused, so this row cannot be imported",
            )
        return target

    # -- the checks of each sheet

    def groups(self, sheet: _Sheet | None, found: ImportFile) -> dict[str, _Seen]:
        seen: dict[str, _Seen] = {}
        if sheet is None:
            return seen
        rows = self.parse(sheet)
        self.duplicates(rows, lambda r: r.group_code, "group_code", "รหัสกลุ่มซ้ำกัน", "the group code is repeated")
        for row in rows:
            rules, group = self.check_group(row)
            if row.group_code is not None:
                if row.group_code in seen:
                    seen[row.group_code].duplicate = True
                else:
                    seen[row.group_code] = _Seen(row, rules=rules, domain=group)
            if not row.refused:
                found.groups.append(GroupRow(sheet_row=row.number, **row.values))
        return seen

    def check_group(self, row: _Row) -> tuple[GroupRules | None, Group | None]:
        province, district = row.get("province_code", str), row.get("district_code", str)
        if province is not None and district is not None:
            try:
                check_area(province, district, row.get("subdistrict_code", str))
            except RuleBroken as error:
                self.broken(row, error)
        founded, opening = row.get("founded_on", date), row.get("opening_on", date)
        if founded is not None and founded > self.today:
            self.refuse(row, "founded_on", "ต้องไม่เป็นวันในอนาคต", "must not be in the future")
        if opening is not None and opening > self.today:
            self.refuse(row, "opening_on", "ต้องไม่เป็นวันในอนาคต", "must not be in the future")
        if founded is not None and opening is not None and opening < founded:
            th, en = _when(founded)
            self.refuse(row, "opening_on", f"ต้องไม่ก่อนวันก่อตั้งกลุ่ม ({th})", f"must not be before founded on ({en})")
        rules = self.rules(row)
        if row.refused or rules is None:
            return rules, None
        try:
            event = register_group(
                NIL,
                row.values["name"],
                row.values["province_code"],
                row.values["district_code"],
                row.values["subdistrict_code"],
                row.values["village"],
                row.values["founded_on"],
                self.today,
                rules,
            )
        except RuleBroken as error:
            self.broken(row, error)
            return rules, None
        return rules, group_from_events([(event, 1)])

    def rules(self, row: _Row) -> GroupRules | None:
        share, least, most = (
            row.get(name + "_satang", int)
            for name in ("share_value", "min_monthly_commitment", "max_monthly_commitment")
        )
        day = row.get("collection_day", int)
        if share is None or least is None or most is None or day is None:
            return None
        try:
            rules = GroupRules(
                share_value_satang=share,
                min_monthly_commitment_satang=least,
                max_monthly_commitment_satang=most,
                collection_day=day,
            )
            check_rules(rules)
        except RuleBroken as error:
            self.rules_broken(row, error)
            return None
        except ValidationError:
            self.refuse(row, None, "ระเบียบของกลุ่มไม่ถูกต้อง", "the group's rules are not valid")
            return None
        return rules

    def rules_broken(self, row: _Row, error: RuleBroken) -> None:
        """Rules that do not fit together. When the rule at fault is a default (its cell blank or its column not in
        the file), the refusal says so, at its cell or else at the share value's."""
        column = row.sheet.spec.column_for(error.field.removeprefix("rules.") if error.field else "")
        where = row.sheet.columns.get(column.field) if column else None
        if column is None or (where is not None and not _blank(_cell(row.raw, where[1]))):
            self.broken(row, error)
            return
        at = column.field if where is not None else "share_value_satang"
        self.refuse(
            row,
            at,
            f"{column.th} (ค่าเริ่มต้น {column.default_text} บาท): {thai_reason(error.message)}",
            f"{column.en} (the default, {column.default_text} baht): {error.message}",
        )

    def members(
        self, sheet: _Sheet | None, groups: dict[str, _Seen], groups_sheet: _Sheet | None, found: ImportFile
    ) -> dict[tuple[str, str], _Seen]:
        seen: dict[tuple[str, str], _Seen] = {}
        if sheet is None:
            return seen
        rows = self.parse(sheet)
        self.duplicates(
            rows,
            _member_key,
            "national_id",
            "เลขประจำตัวประชาชนซ้ำกันในกลุ่มเดียวกัน",
            "the national ID is repeated within the group",
        )
        groups_spec = SHEET_BY_KEY["groups"]
        for row in rows:
            code = row.group_code
            group = self.refer(
                row, "group_code", code, groups, groups_sheet, (f"กลุ่ม {code}", f"group {code}"), groups_spec
            )
            member = self.check_member(row, group)
            key = _member_key(row)
            if key is not None:
                if key in seen:
                    seen[key].duplicate = True
                else:
                    seen[key] = _Seen(row, group=group, domain=member)
            if not row.refused:
                found.members.append(MemberRow(sheet_row=row.number, **row.values))
        return seen

    def check_member(self, row: _Row, group: _Seen | None) -> Member | None:
        joined = row.get("joined_on", date)
        founded = group.on("founded_on") if group else None
        opening = group.on("opening_on") if group else None
        if joined is not None:
            if founded is not None and joined < founded:
                th, en = _when(founded)
                self.refuse(
                    row, "joined_on", f"ต้องไม่ก่อนวันก่อตั้งกลุ่ม ({th})", f"must not be before the group was founded ({en})"
                )
            if opening is not None and joined > opening:
                th, en = _when(opening)
                self.refuse(
                    row,
                    "joined_on",
                    f"ต้องไม่หลังวันที่ยอดยกมาของกลุ่ม ({th}) สมาชิกที่เข้าภายหลังให้สมัครผ่านระบบ",
                    f"must not be after the group's opening day ({en}); later members enrol through the platform",
                )
            elif joined > self.today:
                self.refuse(row, "joined_on", "ต้องไม่เป็นวันในอนาคต", "must not be in the future")
        rules = group.rules if group else None
        commitment = row.get("monthly_commitment_satang", int)
        if rules is not None and commitment is not None:
            try:
                check_commitment(rules, commitment)
            except RuleBroken as error:
                self.broken(row, error)
        sajja = row.get("opening_sajja_satang", int)
        if rules is not None and sajja is not None and sajja % rules.share_value_satang:
            share = format_baht(rules.share_value_satang)
            self.refuse(
                row,
                "opening_sajja_satang",
                f"ต้องเป็นจำนวนหุ้นเต็ม หุ้นละ {share} บาท",
                f"must be a whole number of shares of {share} baht",
            )
        domain_group = group.domain if group else None
        if row.refused or not isinstance(domain_group, Group) or joined is None or commitment is None:
            return None
        try:
            enroll_member(domain_group, NIL, joined, commitment, "", self.today)
        except RuleBroken as error:
            self.broken(row, error)
            return None
        return Member(NIL, NIL, domain_group.area, joined, commitment, 1)

    def deposits(
        self,
        sheet: _Sheet | None,
        members: dict[tuple[str, str], _Seen],
        members_sheet: _Sheet | None,
        found: ImportFile,
    ) -> None:
        if sheet is None:
            return
        members_spec = SHEET_BY_KEY["members"]
        for row in self.parse(sheet):
            key = _member_key(row)
            member = members.get(key) if key is not None and members_sheet is not None else None
            if member is None or member.duplicate or member.row.refused:  # else refer would find it, and pass
                what = (
                    f"สมาชิกเลขประจำตัว {key[1]} ของกลุ่ม {key[0]}" if key else "",
                    f"the member with national ID {key[1]} in group {key[0]}" if key else "",
                )
                member = self.refer(row, "national_id", key, members, members_sheet, what, members_spec)
            self.check_deposit(row, member)
            if not row.refused:
                found.deposits.append(DepositRow(sheet_row=row.number, **row.values))

    def check_deposit(self, row: _Row, member: _Seen | None) -> None:
        day = row.get("deposited_on", date)
        if day is not None:
            opening = member.group.on("opening_on") if member and member.group else None
            joined = member.on("joined_on") if member else None
            if opening is not None and day <= opening:
                th, en = _when(opening)
                self.refuse(
                    row,
                    "deposited_on",
                    f"ต้องหลังวันที่ยอดยกมาของกลุ่ม ({th}) เงินฝากถึงวันนั้นรวมอยู่ในยอดยกมาในชีตสมาชิก",
                    f"must be after the group's opening day ({en}); what came before is in the members sheet's "
                    "opening balances",
                )
            if joined is not None and day < joined:
                th, en = _when(joined)
                self.refuse(
                    row, "deposited_on", f"ต้องไม่ก่อนวันที่เป็นสมาชิก ({th})", f"must not be before the member joined ({en})"
                )
            if day > self.today:
                self.refuse(row, "deposited_on", "ต้องไม่เป็นวันในอนาคต", "must not be in the future")
        amount = row.get("amount_satang", int)
        if row.refused or member is None or not isinstance(member.domain, Member) or day is None or amount is None:
            return
        try:
            check_deposit(member.domain, amount, day, self.today)
        except RuleBroken as error:
            self.broken(row, error)

    def loans(
        self,
        sheet: _Sheet | None,
        members: dict[tuple[str, str], _Seen],
        members_sheet: _Sheet | None,
        found: ImportFile,
    ) -> None:
        if sheet is None:
            return
        rows = self.parse(sheet)
        self.duplicates(
            rows,
            _contract_key,
            "contract_no",
            "เลขที่สัญญาซ้ำกันในกลุ่มเดียวกัน",
            "the contract number is repeated within the group",
        )
        members_spec = SHEET_BY_KEY["members"]
        for row in rows:
            key = _member_key(row)
            what = (
                f"ผู้กู้ (สมาชิกเลขประจำตัว {key[1]} ของกลุ่ม {key[0]})" if key else "",
                f"the borrower (national ID {key[1]}, group {key[0]})" if key else "",
            )
            member = self.refer(row, "national_id", key, members, members_sheet, what, members_spec)
            self.check_loan(row, member)
            if not row.refused:
                found.loans.append(LoanRow(sheet_row=row.number, **row.values))

    def check_loan(self, row: _Row, member: _Seen | None) -> None:
        opening = member.group.on("opening_on") if member and member.group else None
        joined = member.on("joined_on") if member else None
        disbursed = row.get("disbursed_on", date)
        if disbursed is not None:
            if joined is not None and disbursed < joined:
                th, en = _when(joined)
                self.refuse(
                    row, "disbursed_on", f"ต้องไม่ก่อนวันที่เป็นสมาชิก ({th})", f"must not be before the member joined ({en})"
                )
            if opening is not None and disbursed > opening:
                th, en = _when(opening)
                self.refuse(
                    row,
                    "disbursed_on",
                    f"ต้องไม่หลังวันที่ยอดยกมาของกลุ่ม ({th}) เงินกู้หลังวันนั้นให้ยื่นกู้ผ่านระบบ",
                    f"must not be after the group's opening day ({en}); later loans are applied for through the "
                    "platform",
                )
            elif disbursed > self.today:
                self.refuse(row, "disbursed_on", "ต้องไม่เป็นวันในอนาคต", "must not be in the future")
        principal, outstanding = row.get("principal_satang", int), row.get("outstanding_satang", int)
        if principal is not None and outstanding is not None and outstanding > principal:
            lent = format_baht(principal)
            self.refuse(
                row,
                "outstanding_satang",
                f"ต้องไม่เกินเงินต้นที่กู้ ({lent} บาท)",
                f"must not exceed the principal lent ({lent} baht)",
            )
        due = row.get("next_due_on", date)
        if due is not None and opening is not None:
            latest = _a_year_after(opening)
            if due <= opening:
                th, en = _when(opening)
                self.refuse(
                    row,
                    "next_due_on",
                    f"ต้องหลังวันที่ยอดยกมาของกลุ่ม ({th}) งวดที่ชำระแล้วรวมอยู่ในเงินต้นคงเหลือ",
                    f"must be after the group's opening day ({en}); installments paid by then are in the "
                    "outstanding principal",
                )
            elif due > latest:
                th, en = _when(latest)
                self.refuse(
                    row,
                    "next_due_on",
                    f"ต้องไม่เกินหนึ่งปีหลังวันที่ยอดยกมาของกลุ่ม ({th})",
                    f"must not be more than a year after the group's opening day ({en})",
                )
        method, rate = row.get("interest_method", str), row.get("rate_per_month", Decimal)
        if row.refused or method is None or rate is None:
            return
        try:  # the terms as lending's events hold them: the last gate
            LoanTerms.model_validate({"interest_method": method, "rate_per_month": rate})
        except ValidationError:
            self.refuse(row, "rate_per_month", "เงื่อนไขเงินกู้ไม่ถูกต้อง", "the loan's terms are not valid")


def _member_key(row: _Row) -> tuple[str, str] | None:
    code, national_id = row.group_code, row.get("national_id", str)
    return (code, national_id) if code is not None and national_id is not None else None


def _contract_key(row: _Row) -> tuple[str, str] | None:
    code, contract = row.group_code, row.get("contract_no", str)
    return (code, contract) if code is not None and contract is not None else None


def _a_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def read_file(path: Path, *, today: date) -> ImportFile:
    """Read and check an onboarding file: an .xlsx, a directory or .zip of the CSVs (three, and loans.csv if
    there are loans), or one CSV (its sheet named by its file name). Only the rows that pass every check are
    in the result; every other row has its problems. Raises FileNotFoundError for a path that does not exist,
    and nothing for bad content."""
    loaded = _load(path)
    found = ImportFile(name=path.name)
    reading = _Reading(loaded, path.name, today)
    for problem in loaded.problems:
        reading.file_problem(problem.sheet, problem.field, problem.th, problem.en)
    sheets = reading.sheets()
    groups = reading.groups(sheets["groups"], found)
    members = reading.members(sheets["members"], groups, sheets["groups"], found)
    reading.deposits(sheets["deposits"], members, sheets["members"], found)
    reading.loans(sheets["loans"], members, sheets["members"], found)
    rank = {table.name: index for index, table in enumerate(loaded.tables)}
    found.problems = sorted(reading.problems, key=lambda p: (p.row > 0, rank.get(p.sheet, -1), p.row, p.column or 0))
    return found


# --- The report ---------------------------------------------------------------------------------------------

REPORT_FILL = PatternFill(fill_type="solid", fgColor="FFFFC7CE")  # Excel's light red
REPORT_AUTHOR = "Sajja"
_PROBLEM_HEADINGS = (
    "ชีต (sheet)",
    "แถว (row)",
    "คอลัมน์ (column)",
    "ค่า (value)",
    "รหัสกลุ่ม (group code)",
    "เหตุผล (reason)",
    "reason",
)


def report_rows(found: ImportFile) -> list[dict[str, object]]:
    """The problems as JSON-ready dicts (the API's import report)."""
    return [
        {
            "file": p.file,
            "sheet": p.sheet,
            "row": p.row,
            "column": p.column,
            "field": p.field,
            "value": getattr(p, "value", None),
            "group_code": p.group_code,
            "reason_th": p.reason_th,
            "reason_en": p.reason_en,
        }
        for p in found.problems
    ]


def _empty_book() -> Workbook:
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    return book


def _source_book(source: Path) -> tuple[Workbook, dict[str, Worksheet]]:
    """The source as a workbook to mark, with its sheets by the names problems give: an .xlsx's own copy
    (values, not formulas), or the CSVs' rows."""
    if source.is_file() and source.suffix.lower() == ".xlsx":
        try:
            book = openpyxl.load_workbook(source, data_only=True)
        except Exception:  # an unreadable file gets the problems sheet alone
            return _empty_book(), {}
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.comment is not None and cell.comment.author == REPORT_AUTHOR:
                        cell.comment = None  # an earlier report's marks, from a report sent back
                    if cell.fill == REPORT_FILL:
                        cell.fill = PatternFill()
                    if isinstance(cell.value, str):
                        _put(sheet, cell.row, cell.column, cell.value)
        return book, {sheet.title: sheet for sheet in book.worksheets if sheet.title != PROBLEMS_TITLE}
    book = _empty_book()
    sheets = {}
    for table in _load(source).tables if source.exists() else []:
        sheet = sheets[table.name] = book.create_sheet(_sheet_title(table.name, book))
        for values in table.rows:
            append_row(sheet, [None if value is None else str(value) for value in values])
    return book, sheets


def _sheet_title(name: str, book: Workbook) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "_", name)[:31]
    return title if title not in book.sheetnames else f"{title[:28]}_{len(book.sheetnames)}"


def _locate(sheets: dict[str, Worksheet], problem: RowProblem) -> tuple[str, int] | None:
    """The sheet and column of a problem's cell: as read_file gave them, or found by the sheet's and the heading's
    names for a problem made after reading (`RowProblem(..., sheet_name("groups"), row, "opening_on", ...)`);
    a row's first cell when the problem names no column. None for a file-level problem."""
    if problem.row <= 0:
        return None
    spec = _sheet_named(problem.sheet)
    name = problem.sheet if problem.sheet in sheets else None
    if name is None and spec is not None:
        name = next((n for n in sheets if _sheet_named(n) is spec), None)
    if name is None:
        return None
    if problem.column is not None:
        return name, problem.column
    column = spec.column_named(problem.field) if spec is not None and problem.field else None
    for row in sheets[name].iter_rows(max_row=HEADING_SEARCH_ROWS) if column is not None else ():
        for cell in row:
            if isinstance(cell.value, str) and spec is not None and spec.column_named(cell.value) is column:
                return name, cell.column
    return name, 1


def write_report(found: ImportFile, source: Path, out: Path) -> None:
    """The report to download: a first sheet listing every problem, then the file's sheets with each problem's
    cell filled light red and commented with its reasons (Thai, then English). Every text is a string cell,
    quoted when it looks like a formula."""
    book, sheets = _source_book(source)
    if PROBLEMS_TITLE in book.sheetnames:
        book.remove(book[PROBLEMS_TITLE])  # an earlier report's, sent back
    problems = book.create_sheet(PROBLEMS_TITLE, 0)
    append_row(problems, list(_PROBLEM_HEADINGS))
    for cell in problems[1]:
        cell.font = _BOLD
    problems.freeze_panes = "A2"
    marks: dict[tuple[str, int, int], list[RowProblem]] = {}
    for problem in found.problems:
        at = _locate(sheets, problem)
        value = getattr(problem, "value", None)
        if at is not None:
            marks.setdefault((at[0], problem.row, at[1]), []).append(problem)
            value = value or _shown(sheets[at[0]].cell(problem.row, at[1]).value)
        append_row(
            problems,
            [
                problem.sheet,
                problem.row or "",
                problem.field or "",
                value or "",
                problem.group_code or "",
                problem.reason_th,
                problem.reason_en,
            ],
        )
    for (name, row, column), cell_problems in marks.items():
        cell = sheets[name].cell(row, column)
        if isinstance(cell, MergedCell):
            continue  # inside a merged range: the problems sheet still lists it
        cell.fill = REPORT_FILL
        text = "\n\n".join(f"{p.reason_th}\n{p.reason_en}" for p in cell_problems)
        comment = Comment(ILLEGAL_CHARACTERS_RE.sub("", text), REPORT_AUTHOR)
        comment.width, comment.height = 320, 60 + 40 * len(cell_problems)
        cell.comment = comment
    for letter, width in zip("ABCDEFG", (24, 8, 28, 24, 16, 60, 60), strict=True):
        problems.column_dimensions[letter].width = width
    book.active = 0
    book.save(out)
