"""Areas, pure: who covers which record and area, and which live notices reach whom."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from libs.auth.principal import Place, Principal, check_user_area, user_scopes
from libs.events.envelope import Actor, Area, RecordedEvent
from services.reporting.live import MOST_NAMED, concerns, notices

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


def _deposit(province: str, district: str, group: str, n: int) -> RecordedEvent:
    at = datetime(2024, 1, 5, tzinfo=UTC)
    return RecordedEvent(
        uuid.uuid4(), "ledger.SavingsDeposited", 1, f"member-{n}", 1, n, at, at,
        Actor(kind="user", id="x"), None, None, Area(province_code=province, district_code=district),
        {"group_id": group, "amount_satang": 100},
    )  # fmt: skip


def test_a_batch_over_many_areas_is_told_in_complete_notices_to_exactly_those_concerned() -> None:
    """A batch naming more areas than one notice holds once went to everyone; now each notice names every
    area of its events, the notices together count the batch, and no one hears of another's area."""
    districts = [f"{p:02d}{d:02d}" for p in (10, 27, 30) for d in range(1, 31)]  # 90 districts, 3 provinces
    events = [
        _deposit(district[:2], district, f"g-{district}-{k}", i * 3 + k)
        for i, district in enumerate(districts)
        for k in range(3)
    ]
    told = notices(events)
    assert len(told) > 1 and sum(n["events"] for n in told) == len(events)
    for n in told:
        assert max(len(n["provinces"]), len(n["districts"]), len(n["groups"])) <= MOST_NAMED
        assert len(json.dumps(n).encode()) < 8000  # what NOTIFY carries
    assert {g for n in told for g in n["groups"]} == {str(e.payload["group_id"]) for e in events}
    outsider = user("district_officer", province_code="27", district_code="2799")
    assert not any(concerns(n, outsider) for n in told)
    insider = user("district_officer", province_code="27", district_code="2715")
    heard = [n for n in told if concerns(n, insider)]
    assert heard and all("2715" in n["districts"] for n in heard)
    committee = user("committee", group_id="g-3007-2")
    assert sum(1 for n in told if concerns(n, committee)) == 1
    assert all(concerns(n, user("department")) for n in told)
