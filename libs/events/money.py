"""Money: integer satang inside, two-place decimal strings at the API. Never floats."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

SATANG_PER_BAHT = 100
# The largest single transaction the platform accepts: 10 million baht. A savings-group deposit
# above this is a typo (or an attack), not a deposit.
MAX_TRANSACTION_SATANG = 10_000_000 * SATANG_PER_BAHT

_DECIMAL = re.compile(r"^(?P<baht>\d{1,15})(?:\.(?P<satang>\d{1,2}))?$")


class MoneyFormatError(ValueError):
    """A money amount that is not a two-place decimal string."""


def parse_baht(text: str) -> int:
    """'1250.5' → 125050 satang. Refuses signs, exponents, commas and more than two places."""
    match = _DECIMAL.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise MoneyFormatError('must be a decimal string of baht with at most two places, e.g. "1250.50"')
    satang = (match["satang"] or "0").ljust(2, "0")
    return int(match["baht"]) * SATANG_PER_BAHT + int(satang)


def format_baht(satang: int) -> str:
    """125050 → '1250.50'; negative amounts keep their sign."""
    sign = "-" if satang < 0 else ""
    whole, part = divmod(abs(satang), SATANG_PER_BAHT)
    return f"{sign}{whole}.{part:02d}"


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
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "examples": ["1250.50"]}),
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
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "examples": ["0.00"]}),
]

# A decimal-string amount in a response (may be zero or negative, e.g. a balance).
BahtString = Annotated[
    int,
    PlainSerializer(format_baht, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["1250.50"]}),
]
