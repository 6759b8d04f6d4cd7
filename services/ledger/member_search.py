"""Members by name or national ID within the caller's area, from the ledger's register (the only place names
and national IDs are kept), and the names of given members for other services' worklists.

A national ID is shown whole only to callers who keep the register for that member's group (ledger:write in
its area: its committee, its district's officer, the department); others see its last three digits. A search
by a whole national ID matches the register's keyed hash, so the ID is never compared or logged in the clear."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query, Request

from libs.auth.access import AreaQuery, Nationwide, Rule, access, principal_of, stream_place
from libs.auth.principal import Place
from libs.events.http import Problem
from libs.events.settings import Settings
from services.ledger import domain
from services.ledger.handlers import SCHEMA

AreaLevel = Literal["national", "province", "district", "group"]

# The area's groups: their streams' first events, by the area they carry (migrations/008_member_search.sql).
_GROUPS_OF = {
    "national": "$1 = ''",
    "province": """r.group_id in (select substr(e.stream_id, 7)::uuid from ledger.events e
                    where e.stream_version = 1 and e.event_type = 'ledger.GroupRegistered'
                      and e.area ->> 'province_code' = $1)""",
    "district": """r.group_id in (select substr(e.stream_id, 7)::uuid from ledger.events e
                    where e.stream_version = 1 and e.event_type = 'ledger.GroupRegistered'
                      and e.area ->> 'district_code' = $1)""",
    "group": "r.group_id = $1::uuid",
}
_SEARCH_SQL = """
    select r.member_id, r.full_name, r.national_id, r.group_id, r.joined_on
    from ledger.member_register r
    where {groups} and r.erased_at is null
      and {match}
    order by r.full_name, r.member_id limit $3"""
# Part of a name, or a whole national ID by its keyed hash (each its own statement, so each keeps its own plan).
_BY_NAME = "position(lower($2) in lower(r.full_name)) > 0"
_BY_ID = "r.national_id_hash = $2"
_NAMES_SQL = """
    select member_id, full_name, erased_at is not null as erased, group_id
    from ledger.member_register where member_id = any($1::uuid[])"""
# The groups of the rows found: their first events (the primary key), for their names and areas.
_GROUPS_SQL = """
    select substr(stream_id, 7) as group_id, payload ->> 'name' as name, area ->> 'province_code' as province_code,
           area ->> 'district_code' as district_code
    from ledger.events where stream_id = any($1::text[]) and stream_version = 1"""


async def groups_of(pool: asyncpg.Pool, rows: list[asyncpg.Record]) -> dict[str, asyncpg.Record]:
    ids = sorted({f"group-{r['group_id']}" for r in rows})
    return {g["group_id"]: g for g in await pool.fetch(_GROUPS_SQL, ids)} if ids else {}


def masked(national_id: str | None) -> str | None:
    """A national ID as those who may not see it are shown it: its last three digits (x-xxxx-xxxxx-12-3)."""
    if not national_id:
        return None
    return f"x-xxxx-xxxxx-{national_id[10:12]}-{national_id[12]}"


def search_terms(q: str, hash_key: str) -> tuple[str, str | None]:
    """The words to look for in names, or the keyed hash to match when they are a whole valid national ID."""
    words = " ".join(q.split())
    digits = words.replace("-", "").replace(" ", "")
    if len(digits) == 13 and digits.isdigit():
        try:
            return words, domain.national_id_hash(domain.validate_national_id(digits), hash_key)
        except domain.LedgerRuleBroken:
            pass  # not an ID: looked for in names (where it matches nothing)
    return words, None


def build_member_search_router(pool: asyncpg.Pool, settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/ledger/v1", tags=["members"])

    async def group_place(group_id: str) -> Place | None:
        try:
            uuid.UUID(group_id)
        except ValueError:
            return None
        return await stream_place(pool, SCHEMA, f"group-{group_id}")

    @router.get(
        "/members/search",
        summary="Members of the area whose name holds the words asked, or with this national ID (the register's)",
        description="Within the caller's area (`level`, `code`: a committee its group, an officer their district or "
        "province). National IDs are shown whole only to those who keep the member's group's register "
        "(ledger:write there); others see the last three digits.",
    )
    @access(Rule("ledger:read", AreaQuery(group_place)))
    async def search_members(
        request: Request,
        q: Annotated[str, Query(min_length=2, max_length=100, description="Part of a name, or a whole national ID")],
        level: Annotated[AreaLevel, Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code, or group id")] = None,
        limit: Annotated[int, Query(ge=1, le=50)] = 20,
    ) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        if level == "group":
            try:
                code = str(uuid.UUID(code or ""))
            except ValueError:
                raise Problem(422, "Invalid request", "code: a group id for level group", "validation") from None
        words, digest = search_terms(q, settings.national_id_hash_key)
        if digest is None and len(words) < 2:
            raise Problem(422, "Invalid request", "q: at least 2 characters besides spaces", "validation")
        sql = _SEARCH_SQL.format(groups=_GROUPS_OF[level], match=_BY_NAME if digest is None else _BY_ID)
        rows = await pool.fetch(sql, code or "", words if digest is None else digest, limit)
        groups = await groups_of(pool, rows)
        principal = principal_of(request)

        def found(r: asyncpg.Record) -> dict[str, object]:
            group = groups.get(str(r["group_id"]))
            place = Place(group["province_code"], group["district_code"], str(r["group_id"])) if group else None
            keeps = bool(principal and place and "ledger:write" in principal.scopes and principal.covers(place))
            return {
                "member_id": str(r["member_id"]),
                "full_name": r["full_name"],
                "national_id": r["national_id"] if keeps else masked(r["national_id"]),
                "national_id_masked": not keeps,
                "group_id": str(r["group_id"]),
                "group_name": group["name"] if group else None,
                "province_code": group["province_code"] if group else None,
                "district_code": group["district_code"] if group else None,
                "joined_on": r["joined_on"].isoformat() if r["joined_on"] else None,
            }

        return {"q": q.strip(), "items": [found(r) for r in rows]}

    @router.get(
        "/members/names",
        summary="The names of given members and of their groups, from the register (for other services' lists)",
        description="For the platform's services only (the scope `ledger:names`, which no user or partner holds): "
        "they show the names on rows whose area they have checked for their own caller. Users search by area.",
    )
    @access(Rule("ledger:names", Nationwide()))
    async def member_names(
        member_id: Annotated[list[uuid.UUID], Query(max_length=1000)],
    ) -> dict[str, object]:
        rows = await pool.fetch(_NAMES_SQL, member_id)
        groups = await groups_of(pool, rows)
        return {
            "items": [
                {
                    "member_id": str(r["member_id"]),
                    "full_name": None if r["erased"] else r["full_name"],
                    "erased": r["erased"],
                    "group_id": str(r["group_id"]),
                    "group_name": groups[str(r["group_id"])]["name"] if str(r["group_id"]) in groups else None,
                }
                for r in rows
            ]
        }

    return router
