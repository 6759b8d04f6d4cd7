"""DOPA area codes checked against the reference data shipped in the `geothai` package (77 provinces,
928 districts, 7,436 subdistricts; data CC-BY-4.0, see NOTICE). Pure: the data is read from the
installed package, never from the network. Every service that takes an area code checks it here (the
ledger's groups, lending's pawn tickets and programmes), each refusing in its own kind of `RuleBroken`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geothai

from libs.events.errors import RuleBroken

SUGGESTIONS = 5


_Named = geothai.Province | geothai.District | geothai.Subdistrict


@dataclass(frozen=True)
class AreaNames:
    province: str
    district: str
    subdistrict: str | None


def _label(area: _Named) -> str:
    return f"{area.code} {area.name_th} ({area.name_en})"


def _nearest(code: str, candidates: Sequence[_Named]) -> str:
    """The valid codes numerically closest to a wrong one: a typo is usually one digit off."""
    ranked = sorted(candidates, key=lambda a: (abs(int(a.code) - int(code)), a.code))
    return ", ".join(_label(a) for a in ranked[:SUGGESTIONS])


def check_area(
    province_code: str,
    district_code: str,
    subdistrict_code: str | None = None,
    refuse: type[RuleBroken] = RuleBroken,
) -> AreaNames:
    """The Thai names of a valid province/district/subdistrict; otherwise a field-level refusal (a 422
    of the caller's kind `refuse`) naming the nearest valid codes."""
    province = geothai.province(province_code)
    if province is None:
        raise refuse(
            f"unknown province code {province_code}; nearest valid: {_nearest(province_code, geothai.provinces())}",
            "province_code",
        )
    district = geothai.district(district_code)
    if district is None or district.province_code != province.code:
        where = "is not a district code" if district is None else f"is in another province ({district.name_th})"
        raise refuse(
            f"{district_code} {where}; districts of {province.name_th} nearest to it: "
            f"{_nearest(district_code, geothai.districts(province.code))}",
            "district_code",
        )
    if subdistrict_code is None:
        return AreaNames(province.name_th, district.name_th, None)
    subdistrict = geothai.subdistrict(subdistrict_code)
    if subdistrict is None or subdistrict.district_code != district.code:
        raise refuse(
            f"{subdistrict_code} is not a subdistrict of {district.name_th}; nearest: "
            f"{_nearest(subdistrict_code, geothai.subdistricts(district.code))}",
            "subdistrict_code",
        )
    return AreaNames(province.name_th, district.name_th, subdistrict.name_th)
