"""Reporting HTTP API under /reporting/v1: reads from projections, with read-your-writes waits."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from libs.events.http import Problem
from libs.events.money import format_baht
from libs.events.projector import wait_until_applied
from libs.events.runtime import Platform
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

    return router
