from __future__ import annotations

import pytest

from libs.events.areas import check_area
from libs.events.errors import RuleBroken
from services.ledger.domain import LedgerRuleBroken
from services.lending.domain import LendingRuleBroken


def test_valid_codes_give_thai_names() -> None:
    names = check_area("27", "2701", "270101")
    assert (names.province, names.district, names.subdistrict) == ("สระแก้ว", "เมืองสระแก้ว", "สระแก้ว")


def test_unknown_province_suggests_the_nearest_codes() -> None:
    with pytest.raises(RuleBroken) as caught:
        check_area("28", "2801", None, LedgerRuleBroken)  # no province 28 exists
    assert caught.value.field == "province_code"
    assert "27 สระแก้ว (Sa Kaeo)" in caught.value.message


def test_district_of_another_province_is_refused_with_this_provinces_districts() -> None:
    with pytest.raises(RuleBroken) as caught:
        check_area("27", "1001", None)
    assert caught.value.field == "district_code"
    assert "another province" in caught.value.message
    assert "2701 เมืองสระแก้ว" in caught.value.message


def test_unknown_district_and_subdistrict() -> None:
    with pytest.raises(RuleBroken) as caught:
        check_area("27", "2799", None)
    assert caught.value.field == "district_code" and "is not a district code" in caught.value.message
    with pytest.raises(RuleBroken) as caught:
        check_area("27", "2701", "270199")
    assert caught.value.field == "subdistrict_code" and "270111 หนองบอน" in caught.value.message


@pytest.mark.parametrize(
    ("province", "district", "field"),
    [("10", "9999", "district_code"), ("27", "1001", "district_code"), ("99", "9901", "province_code")],
)
def test_each_service_refuses_in_its_own_kind(province: str, district: str, field: str) -> None:
    """Lending's pawn tickets use the same check as the ledger's groups, refusing as lending."""
    with pytest.raises(LendingRuleBroken) as caught:
        check_area(province, district, None, LendingRuleBroken)
    assert caught.value.field == field and caught.value.status == 422
