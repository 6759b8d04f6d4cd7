"""Where reporting's records lie, for access control: groups by the names projection, members by their
balances' group."""

from __future__ import annotations

import asyncpg

from libs.auth.access import Nationwide, PartnerCheck, PlaceOf, Rule, place_from_query_param, uuid_or_none
from libs.auth.principal import Place

# A partner reads its own feed; the department and auditors read any partner's.
FEED_READ = Rule("referrals:admin", Nationwide(), partner=PartnerCheck("partner", staff_scope="referrals:read-all"))


class ReportingPlaces:
    def __init__(self, pool: asyncpg.Pool, schema: str = "reporting") -> None:
        self.pool = pool
        self.schema = schema
        self.group = PlaceOf(place_from_query_param("group_id", self.group_area), "group")
        self.member = PlaceOf(place_from_query_param("member_id", self.member_area), "member")

    async def group_area(self, group_id: str) -> Place | None:
        found = uuid_or_none(group_id)
        row = found and await self.pool.fetchrow(
            f'select province_code, district_code from "{self.schema}".group_names where group_id = $1', found
        )
        return Place(row["province_code"], row["district_code"], group_id) if row else None

    async def member_area(self, member_id: str) -> Place | None:
        found = uuid_or_none(member_id)
        row = found and await self.pool.fetchrow(
            f"""select g.province_code, g.district_code, g.group_id::text from "{self.schema}".member_balances b
                join "{self.schema}".group_names g on g.group_id = b.group_id where b.member_id = $1""",
            found,
        )
        return Place(row["province_code"], row["district_code"], row["group_id"]) if row else None


def district_asked(params: dict[str, str]) -> tuple[str, str | None]:
    return ("district", params.get("district"))


def province_in_path(params: dict[str, str]) -> tuple[str, str | None]:
    return ("province", params.get("province_code"))
