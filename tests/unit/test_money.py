from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from libs.events.money import (
    AMOUNT_PATTERN,
    MAX_TRANSACTION_SATANG,
    MoneyFormatError,
    NonNegativeAmount,
    PositiveAmount,
    default_amount,
    format_baht,
    parse_baht,
)


@pytest.mark.parametrize(
    ("text", "satang"),
    [("1250.50", 125050), ("1250.5", 125050), ("0.01", 1), ("7", 700), ("100000000", 10_000_000_000)],
)
def test_parse_baht(text: str, satang: int) -> None:
    assert parse_baht(text) == satang


@pytest.mark.parametrize("text", ["", "1.234", "-5", "+5", "1e3", "1,000.00", "abc", ".5", "5.", "NaN", " 1 2"])
def test_parse_baht_refuses_malformed(text: str) -> None:
    with pytest.raises(MoneyFormatError):
        parse_baht(text)


@pytest.mark.parametrize(("satang", "text"), [(0, "0.00"), (5, "0.05"), (125050, "1250.50"), (-150, "-1.50")])
def test_format_baht(satang: int, text: str) -> None:
    assert format_baht(satang) == text


class _Request(BaseModel):
    amount: PositiveAmount


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("-1.00", "decimal string"),
        (100.5, "not a JSON number"),
        (100, "not a JSON number"),
        ("12.345", "at most two places"),
        (format_baht(MAX_TRANSACTION_SATANG + 1), "must not exceed"),
    ],
)
def test_positive_amount_refuses(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Request.model_validate({"amount": value})
    assert message in str(caught.value)


def test_positive_amount_round_trips_as_decimal_string() -> None:
    request = _Request.model_validate({"amount": "99.9"})
    assert request.amount == 9990
    assert request.model_dump(mode="json") == {"amount": "99.90"}


# Digits other than ASCII 0-9 (Thai, full-width, Arabic-Indic, Devanagari, mathematical bold) and spaces
# of any kind around or inside the amount: Python's int(), Decimal(), str.isdigit and an un-flagged `\d`
# take the digits, and str.strip() the spaces.
NOT_ASCII_AMOUNTS = [
    "๕",
    "๑๐.๕๐",
    "５",
    "１２.３４",
    "١٠",
    "٥.٠٠",
    "५",
    "\U0001d7d3",
    "5.๕",
    " 5",
    "5 ",
    "5\u00a0",
    "\u00a05",
    "5\n",
    "\t5.00",
    "5\u2003",
    "5 .00",
]


@pytest.mark.parametrize("text", NOT_ASCII_AMOUNTS)
def test_amounts_take_ascii_digits_only(text: str) -> None:
    with pytest.raises(MoneyFormatError):
        parse_baht(text)
    for model in (_Request, _AnyAmount):
        with pytest.raises(ValidationError):
            model.model_validate({"amount": text})
    # The published pattern says the same as the parser.
    assert re.fullmatch(AMOUNT_PATTERN, text) is None


@pytest.mark.parametrize("text", ["0", "5", "5.5", "5.50", "1250.05", "10000000"])
def test_the_published_pattern_matches_what_is_accepted(text: str) -> None:
    assert re.fullmatch(AMOUNT_PATTERN, text) is not None
    assert _AnyAmount.model_validate({"amount": text}).amount == parse_baht(text)


class _AnyAmount(BaseModel):
    amount: NonNegativeAmount


class _WithDefaults(BaseModel):
    fee: NonNegativeAmount = default_amount("0.00")
    share: PositiveAmount = default_amount("50.00")


def test_defaults_are_written_and_published_as_sent() -> None:
    assert _WithDefaults().fee == 0
    assert _WithDefaults().share == 5000
    properties = _WithDefaults.model_json_schema()["properties"]
    assert properties["share"]["default"] == "50.00"
    assert properties["fee"]["default"] == "0.00"
    assert properties["share"]["pattern"] == r"^[0-9]+(\.[0-9]{1,2})?$"
    with pytest.raises(MoneyFormatError):
        default_amount("5000 satang")
