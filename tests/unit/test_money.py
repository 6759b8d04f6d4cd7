from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from libs.events.money import MAX_TRANSACTION_SATANG, MoneyFormatError, PositiveAmount, format_baht, parse_baht


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
