"""Money: integer satang inside, two-place decimal strings at the API. Never floats."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

SATANG_PER_BAHT = 100
# The largest single transaction the platform accepts: 10 million baht. A savings-group deposit
# above this is a typo (or an attack), not a deposit.
MAX_TRANSACTION_SATANG = 10_000_000 * SATANG_PER_BAHT

# ASCII digits only, spelled out: Python's `\d` (and `int()`, `Decimal()`, `str.isdigit`) also take Thai
# "๕", full-width "５" and Arabic-Indic "١٠" digits. No spaces around either: what is stored is what was sent.
AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
# A balance or other figure in a response: two places, maybe negative.
SIGNED_AMOUNT_PATTERN = r"^-?[0-9]+\.[0-9]{2}$"
_DECIMAL = re.compile(r"(?P<baht>[0-9]{1,15})(?:\.(?P<satang>[0-9]{1,2}))?", re.ASCII)


class MoneyFormatError(ValueError):
    """A money amount that is not a two-place decimal string."""


def parse_baht(text: str) -> int:
    """'1250.5' → 125050 satang. Refuses signs, exponents, commas, spaces, digits other than ASCII 0-9
    and more than two places."""
    match = _DECIMAL.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise MoneyFormatError('must be a decimal string of baht with at most two places, e.g. "1250.50"')
    satang = (match["satang"] or "0").ljust(2, "0")
    return int(match["baht"]) * SATANG_PER_BAHT + int(satang)


def format_baht(satang: int) -> str:
    """125050 → '1250.50'; negative amounts keep their sign."""
    sign = "-" if satang < 0 else ""
    whole, part = divmod(abs(satang), SATANG_PER_BAHT)
    return f"{sign}{whole}.{part:02d}"


def grouped_baht(satang: int) -> str:
    """Baht with thousands separators, for print (the API's strings carry none): 123456750 → '1,234,567.50'."""
    sign = "-" if satang < 0 else ""
    whole, part = divmod(abs(satang), SATANG_PER_BAHT)
    return f"{sign}{whole:,}.{part:02d}"


def _positive_amount(value: Any) -> int:
    if not isinstance(value, str):
        # JSON numbers are floats to most clients: 0.1 + 0.2 is not 0.3. Refuse them outright.
        raise MoneyFormatError('must be a string such as "1250.50", not a JSON number')
    satang = parse_baht(value)
    if satang <= 0:
        raise MoneyFormatError("must be greater than zero")
    if satang > MAX_TRANSACTION_SATANG:
        raise MoneyFormatError(f"must not exceed {format_baht(MAX_TRANSACTION_SATANG)} baht")
    return satang


# An API amount: validated from a decimal string into satang, serialised back as a decimal string.
PositiveAmount = Annotated[
    int,
    BeforeValidator(_positive_amount),
    PlainSerializer(format_baht, return_type=str),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["1250.50"]}),
]


def _non_negative_amount(value: Any) -> int:
    if not isinstance(value, str):
        raise MoneyFormatError('must be a string such as "50.00", not a JSON number')
    satang = parse_baht(value)
    if satang > MAX_TRANSACTION_SATANG:
        raise MoneyFormatError(f"must not exceed {format_baht(MAX_TRANSACTION_SATANG)} baht")
    return satang


# An API amount that may be zero (a fee that is not charged, say).
NonNegativeAmount = Annotated[
    int,
    BeforeValidator(_non_negative_amount),
    PlainSerializer(format_baht, return_type=str),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["0.00"]}),
]

# A decimal-string amount in a response (may be zero or negative, e.g. a balance).
BahtString = Annotated[
    int,
    PlainSerializer(format_baht, return_type=str),
    WithJsonSchema({"type": "string", "pattern": SIGNED_AMOUNT_PATTERN, "examples": ["1250.50"]}),
]


def default_amount(text: str) -> Any:
    """A request field's default written as it is sent: `share_value: PositiveAmount = default_amount("50.00")`.
    The default passes the field's own validation (so it becomes satang like any sent value), and the
    OpenAPI document shows it as the string "50.00" — a bare `= 5000` would be published as the number
    5000, which is no valid amount and reads as five thousand baht."""
    parse_baht(text)  # a malformed default fails at import, not on a request
    return Field(default=text, validate_default=True)


_ASCII_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?", re.ASCII)


def _ascii_decimal(value: Any) -> Any:
    # Decimal() takes Thai, full-width and Arabic-Indic digits and surrounding spaces: refuse them here,
    # so a percentage or ratio is stored as it was written.
    if isinstance(value, str) and not _ASCII_NUMBER.fullmatch(value):
        raise ValueError('must be written with the digits 0-9 and at most one decimal point, e.g. "1.25"')
    return value


# A decimal figure that is not money (a percentage, a multiple): digits 0-9 only, like amounts.
AsciiDecimal = Annotated[Decimal, BeforeValidator(_ascii_decimal)]
