"""Areas, pure: who covers which record and area, and which live notices reach whom."""

from __future__ import annotations

from libs.auth.principal import Place, Principal, check_user_area, user_scopes
from services.reporting.live import MOST_NAMED, concerns

GROUP = "0190a5a8-0000-7000-8000-000000000001"
IN_2701 = Place("27", "2701", GROUP)


def user(role: str, **area: str) -> Principal:
    return Principal(role, "user", user_scopes(role), role=role, **area)


def test_each_role_covers_its_own_area_only() -> None:
    assert user("department").covers(IN_2701) and user("auditor").covers(IN_2701)
    assert user("province_officer", province_code="27").covers(IN_2701)
    assert not user("province_officer", province_code="10").covers(IN_2701)
    assert user("district_officer", province_code="27", district_code="2701").covers(IN_2701)
    assert not user("district_officer", province_code="27", district_code="2702").covers(IN_2701)
    assert user("committee", group_id=GROUP).covers(IN_2701)
    assert not user("committee", group_id="another").covers(IN_2701)
    assert not user("committee", group_id=GROUP).covers(Place("27", "2701"))  # a district, not its group
    partner = Principal("gsb", "partner", frozenset({"referrals"}), partner="gsb")
    assert not partner.covers(IN_2701)


def test_areas_asked_for_by_level_and_code() -> None:
    province = user("province_officer", province_code="27")
    assert province.covers_area("province", "27") and province.covers_area("district", "2701")
    assert not province.covers_area("national", None) and not province.covers_area("district", "1001")
    district = user("district_officer", province_code="27", district_code="2701")
    assert district.covers_area("district", "2701")
    assert not district.covers_area("province", "27") and not district.covers_area("district", "2702")
    assert user("auditor").covers_area("national", None)


def test_auditors_only_read_and_users_need_their_area() -> None:
    assert all(scope.endswith((":read", ":read-all")) for scope in user_scopes("auditor"))
    assert check_user_area("district_officer", "27", None, None) == "a district_officer needs district_code"
    assert check_user_area("district_officer", "10", "2701", None) == "district 2701 is not in province 10"
    assert check_user_area("department", None, None, None) is None


def test_live_notices_reach_only_those_they_concern() -> None:
    notice = {"events": 3, "provinces": ["27"], "districts": ["2701"], "groups": [GROUP]}
    assert concerns(notice, user("department"))
    assert concerns(notice, user("province_officer", province_code="27"))
    assert not concerns(notice, user("province_officer", province_code="10"))
    assert concerns(notice, user("district_officer", province_code="27", district_code="2701"))
    assert not concerns(notice, user("district_officer", province_code="27", district_code="2702"))
    assert concerns(notice, user("committee", group_id=GROUP))
    assert not concerns(notice, user("committee", group_id="another"))
    # A notice that had to leave areas out goes to everyone it might concern.
    crowded = notice | {"districts": [f"{n:04d}" for n in range(MOST_NAMED)]}
    assert concerns(crowded, user("district_officer", province_code="27", district_code="2702"))
