"""Reporting HTTP API under /reporting/v1: reads from projections, with read-your-writes waits."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from libs.events.envelope import today_in_thailand
from libs.events.http import Problem
from libs.events.money import format_baht
from libs.events.projector import wait_until_applied
from libs.events.runtime import Platform
from services.reporting import statistics
from services.reporting.projections import MemberBalances

SCHEMA = "reporting"
_AFTER = re.compile(r"^(?P<source>[a-z]+):(?P<position>\d{1,18})$")


class MemberBalancesResponse(BaseModel):
    member_id: uuid.UUID
    sajja: str
    special: str
    total: str


def parse_after(after: str | None) -> tuple[str, int] | None:
    if after is None:
        return None
    match = _AFTER.fullmatch(after)
    if match is None or match["source"] != "ledger":
        raise Problem(
            422,
            "Invalid request",
            'after: must look like "ledger:1234" (a position a ledger command returned)',
            "validation",
            errors=[{"field": "after", "message": 'must look like "ledger:1234"'}],
        )
    return match["source"], int(match["position"])


def build_router(platform: Platform, balances: MemberBalances) -> APIRouter:
    router = APIRouter(prefix="/reporting/v1", tags=["reporting"])
    pool = platform.pool

    @router.get("/members/{member_id}/balances", response_model=MemberBalancesResponse)
    async def member_balances(
        member_id: uuid.UUID,
        after: Annotated[
            str | None,
            Query(description="Wait until the balance reflects this ledger position, e.g. ledger:1234"),
        ] = None,
    ) -> MemberBalancesResponse:
        wanted = parse_after(after)
        if wanted is not None:
            # A member's balance depends only on the member's own stream.
            applied = await wait_until_applied(
                pool,
                SCHEMA,
                balances.name,
                f"member-{member_id}",
                wanted[1],
                platform.settings.read_wait_timeout_seconds,
            )
            if not applied:
                raise Problem(
                    504,
                    "Not yet up to date",
                    f"The balance has not caught up with ledger position {wanted[1]} within "
                    f"{platform.settings.read_wait_timeout_seconds:g} s; retry shortly.",
                    "projection-lagging",
                )
        row = await pool.fetchrow(
            f"select sajja_satang, special_satang from {balances.table} where member_id = $1", member_id
        )
        if row is None:
            raise Problem(404, "Not found", f"member {member_id} has no balances (unknown member)", "not-found")
        return MemberBalancesResponse(
            member_id=member_id,
            sajja=format_baht(row["sajja_satang"]),
            special=format_baht(row["special_satang"]),
            total=format_baht(row["sajja_satang"] + row["special_satang"]),
        )

    @router.get("/stats", summary="Groups, members, savings, borrowers and loans for an area, on any date")
    async def stats(
        level: Annotated[Literal["national", "province", "district", "group"], Query()] = "national",
        code: Annotated[str | None, Query(description="Province or district code, or group id")] = None,
        as_of: Annotated[date | None, Query(description="Any past date (default: today in Thailand)")] = None,
    ) -> dict[str, object]:
        if level != "national" and not code:
            raise Problem(422, "Invalid request", f"code: required for level {level}", "validation")
        day = as_of or today_in_thailand()
        values = await statistics.figures(pool, SCHEMA, level, code, day)
        money = ("savings", "sajja_savings", "special_savings", "loans_outstanding")
        return {
            "level": level,
            "code": code,
            **{k: format_baht(v) if k in money else v for k, v in values.items()},
            "as_of": day.isoformat(),
        }

    return router
