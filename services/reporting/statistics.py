"""Statistics by area on any date, as dated deltas projected from the ledger and lending topics.

The columns of the national table (DOMAIN §1): groups, members, savings (sajja + special), borrowers
(members with a group loan outstanding) and group loans outstanding. Each event adds deltas dated by
its business date (founding, joining, deposit, withdrawal, exit, payout, repayment; a reversal on the
day it was recorded), so a figure on a date is what a replay of the history up to that date gives.
Programme loans are the programme's money, not the groups', and are left out of the loan columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import asyncpg

from libs.events.envelope import BANGKOK, RecordedEvent
from libs.events.ledger_facts import savings_change

METRICS = ("groups", "members", "sajja", "special", "loan_open", "loans_outstanding")


def deltas(event: RecordedEvent, programme_loans: set[str]) -> list[tuple[date, str, str | None, str, int]]:
    """(day, group id, member id, metric, delta) for one event. Pure."""
    p: dict[str, Any] = event.payload
    t = event.event_type
    out: list[tuple[date, str, str | None, str, int]] = []
    if t == "ledger.GroupRegistered":
        out.append((_day(p["founded_on"]), p["group_id"], None, "groups", 1))
    elif t == "ledger.MemberEnrolled":
        out.append((_day(p["joined_on"]), p["group_id"], p["member_id"], "members", 1))
    elif t == "ledger.MemberExited":
        out.append((_day(p["exited_on"]), p["group_id"], p["member_id"], "members", -1))
    if change := savings_change(t, p):
        member, group, sajja, special = change
        on = {
            "ledger.SavingsDeposited": "deposited_on",
            "ledger.SavingsWithdrawn": "withdrawn_on",
            "ledger.MemberExited": "exited_on",
            "ledger.DividendPaid": "paid_on",
        }.get(t)
        day = _day(p[on]) if on else event.occurred_at.astimezone(BANGKOK).date()
        out += [(day, group, member, "sajja", sajja)] if sajja else []
        out += [(day, group, member, "special", special)] if special else []
    if t.startswith("lending.") and p.get("loan_id") in programme_loans:
        return out
    if t == "lending.LoanDisbursed":
        day = _day(p["disbursed_on"])
        out += [
            (day, p["group_id"], p["member_id"], "loan_open", 1),
            (day, p["group_id"], p["member_id"], "loans_outstanding", int(p["principal_satang"])),
        ]
    elif t == "lending.RepaymentReceived" and int(p["principal_satang"]):
        out.append(
            (_day(p["paid_on"]), p["group_id"], p["member_id"], "loans_outstanding", -int(p["principal_satang"]))
        )
    elif t == "lending.LoanWrittenOff":
        out.append(
            (_day(p["written_off_on"]), p["group_id"], p["member_id"], "loans_outstanding", -int(p["principal_satang"]))
        )
    return out


class Statistics:
    """Projection: the dated deltas of every counted figure, by area."""

    name = "statistics"

    def __init__(self, ledger_topic: str, lending_topic: str, schema: str = "reporting") -> None:
        self.topics: Sequence[str] = (ledger_topic, lending_topic)
        s = f'"{schema}"'
        self._kinds_sql = (
            f"insert into {s}.loan_kinds (loan_id, programme_id, member_id, group_id) values ($1, $2, $3, $4)"
            " on conflict (loan_id) do nothing"
        )
        self._loans_sql = (
            f"select loan_id::text, programme_id, member_id::text, group_id::text from {s}.loan_kinds"
            " where loan_id = any($1::uuid[])"
        )
        self._names_sql = (
            f"insert into {s}.group_names (group_id, name, province_code, district_code) values ($1, $2, $3, $4)"
            " on conflict (group_id) do update set name = excluded.name"
        )
        self._insert_sql = (
            f"insert into {s}.stat_deltas (day, province_code, district_code, group_id, member_id, metric, delta)"
            " values ($1, $2, $3, $4, $5, $6, $7)"
        )

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        names = [
            (p["group_id"], p["name"], p["province_code"], p["district_code"])
            for e in events
            if e.event_type == "ledger.GroupRegistered" and (p := e.payload)
        ]
        if names:
            await conn.executemany(self._names_sql, names)
        applied = [
            (p["loan_id"], p.get("programme_id"), p["member_id"], p["group_id"])
            for e in events
            if e.event_type == "lending.LoanApplied" and (p := e.payload)
        ]
        if applied:
            await conn.executemany(self._kinds_sql, applied)
        loan_ids = list(
            {e.payload["loan_id"] for e in events if e.event_type.startswith("lending.") and "loan_id" in e.payload}
        )
        loans = {r[0]: r for r in await conn.fetch(self._loans_sql, loan_ids)} if loan_ids else {}
        programme_loans = {loan_id for loan_id, r in loans.items() if r["programme_id"]}
        rows: list[tuple[Any, ...]] = []
        for e in events:
            province, district = (e.area.province_code, e.area.district_code) if e.area else ("", "")
            for day, group, member, metric, delta in deltas(e, programme_loans):
                rows.append((day, province, district, group, member, metric, delta))
            loan = loans.get(e.payload.get("loan_id", ""))
            if e.event_type == "lending.LoanClosed" and loan is not None and not loan["programme_id"]:
                # The borrower stops counting once the loan is repaid or written off.
                rows.append(
                    (
                        _day(e.payload["closed_on"]),
                        province,
                        district,
                        loan["group_id"],
                        loan["member_id"],
                        "loan_open",
                        -1,
                    )
                )
        if rows:
            await conn.executemany(self._insert_sql, rows)


async def figures(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, level: str, code: str | None, as_of: date
) -> dict[str, int]:
    """Each figure on `as_of` for an area: national, a province, a district or a group."""
    column = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}[level]
    where = f" and {column}::text = $2" if column else ""
    args: list[Any] = [as_of] + ([code] if column else [])
    s = f'"{schema}"'
    totals = {
        r["metric"]: int(r["total"])
        for r in await conn.fetch(
            f"select metric, sum(delta) as total from {s}.stat_deltas where day <= $1{where} group by metric", *args
        )
    }
    borrowers = await conn.fetchval(
        f"""select count(*) from (select member_id from {s}.stat_deltas
            where metric = 'loan_open' and day <= $1{where} group by member_id having sum(delta) > 0) b""",
        *args,
    )
    return {
        "groups": totals.get("groups", 0),
        "members": totals.get("members", 0),
        "sajja_savings": totals.get("sajja", 0),
        "special_savings": totals.get("special", 0),
        "savings": totals.get("sajja", 0) + totals.get("special", 0),
        "borrowers": int(borrowers or 0),
        "loans_outstanding": totals.get("loans_outstanding", 0),
    }


def _day(value: str) -> date:
    return date.fromisoformat(value)


async def child_codes(conn: asyncpg.Connection | asyncpg.Pool, schema: str, level: str, code: str | None) -> list[str]:
    """The child areas with any history under an area: provinces, districts, or groups."""
    child, parent = {"national": ("province_code", None), "province": ("district_code", "province_code")}.get(
        level, ("group_id", "district_code")
    )
    where = f"where {parent}::text = $1" if parent else ""
    rows = await conn.fetch(
        f'select distinct {child}::text as code from "{schema}".stat_deltas {where} order by 1',
        *([code] if parent else []),
    )
    return [r["code"] for r in rows]


async def group_names(conn: asyncpg.Connection | asyncpg.Pool, schema: str, group_ids: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        f'select group_id::text, name from "{schema}".group_names where group_id = any($1::uuid[])', list(group_ids)
    )
    return {r["group_id"]: r["name"] for r in rows}


def months_through(last: date) -> int:
    """How many months there are from January of year 1 through `last`'s month: the longest series of
    month ends `month_ends` can give (the calendar has no month before it)."""
    return (last.year - 1) * 12 + last.month


def month_ends(last: date, months: int) -> list[date]:
    """The last day of each of `months` months up to `last`'s month, with `last` itself for its month.
    `months` must not exceed `months_through(last)`."""
    if not 1 <= months <= months_through(last):
        raise ValueError(f"{months} months do not fit between year 1 and {last.isoformat()}")
    out = [last]
    first_of = last.replace(day=1)
    for _ in range(months - 1):
        first_of = (first_of - timedelta(days=1)).replace(day=1)
        out.append(_next_month(first_of) - timedelta(days=1))
    return sorted(out)


def _next_month(first_of: date) -> date:
    return date(first_of.year + first_of.month // 12, first_of.month % 12 + 1, 1)


async def series(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, level: str, code: str | None, days: Sequence[date]
) -> list[dict[str, int]]:
    """The money and head-count figures (not borrowers) on each of `days`, from one pass over the deltas."""
    column = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}[level]
    where = f" and {column}::text = $3" if column else ""
    rows = await conn.fetch(
        f"""select metric, bucket, sum(delta) as total from (
                select metric, delta, (select min(d) from unnest($1::date[]) d where d >= day) as bucket
                from "{schema}".stat_deltas where day <= $2{where}) x
            group by metric, bucket""",
        list(days),
        max(days),
        *([code] if column else []),
    )
    by_day: dict[date, dict[str, int]] = {d: {} for d in days}
    for r in rows:
        by_day[r["bucket"]][r["metric"]] = int(r["total"])
    running: dict[str, int] = {}
    out = []
    for d in sorted(days):
        for metric, total in by_day[d].items():
            running[metric] = running.get(metric, 0) + total
        out.append(
            {
                "groups": running.get("groups", 0),
                "members": running.get("members", 0),
                "sajja_savings": running.get("sajja", 0),
                "special_savings": running.get("special", 0),
                "savings": running.get("sajja", 0) + running.get("special", 0),
                "loans_outstanding": running.get("loans_outstanding", 0),
            }
        )
    return out
