"""A record's place is read from its stream's first event once, then kept (that event never changes)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request

from libs.auth import access
from libs.auth.principal import Place


class CountingPool:
    """Stands in for asyncpg's pool in this unit test: answers the first-event query from a dict, counting."""

    def __init__(self, areas: dict[str, dict[str, str]]) -> None:
        self.areas = areas
        self.queries = 0

    async def fetchrow(self, sql: str, stream_id: str) -> dict[str, Any] | None:
        self.queries += 1
        area = self.areas.get(stream_id)
        return None if area is None else {"area": json.dumps(area), "group_id": "g1"}


def request_for(member_id: str) -> Request:
    return Request({"type": "http", "path_params": {"member_id": member_id}, "query_string": b"", "headers": []})


def test_a_place_is_read_once_and_an_unknown_record_is_asked_again() -> None:
    pool = CountingPool({"member-m1": {"province_code": "27", "district_code": "2701"}})
    rule = access.record_in(pool, "ledger", "member", "member_id", "member")  # type: ignore[arg-type]

    async def scenario() -> list[Place | None]:
        seen = [await rule.resolve(request_for("m1")) for _ in range(3)]
        seen += [await rule.resolve(request_for("m2")) for _ in range(2)]
        pool.areas["member-m2"] = {"province_code": "10", "district_code": "1001"}
        seen.append(await rule.resolve(request_for("m2")))
        return seen

    seen = asyncio.run(scenario())
    assert seen[:3] == [Place("27", "2701", "g1")] * 3
    assert seen[3:5] == [None, None] and seen[5] == Place("10", "1001", "g1")
    assert pool.queries == 1 + 3  # m1 once; m2 each time until it exists


def test_the_places_kept_are_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(access, "PLACES_KEPT", 2)
    pool = CountingPool({f"member-m{i}": {"province_code": "27", "district_code": "2701"} for i in range(3)})
    rule = access.record_in(pool, "ledger", "member", "member_id", "member")  # type: ignore[arg-type]

    async def scenario() -> None:
        for name in ("m0", "m1", "m2", "m0"):  # m0 was dropped for m2: read again
            await rule.resolve(request_for(name))

    asyncio.run(scenario())
    assert pool.queries == 4
