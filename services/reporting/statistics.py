"""Statistics by area on any date, kept as running totals that the projector moves as events arrive.

The columns of the national table (DOMAIN §1): groups, members, savings (sajja + special), borrowers
(members with a group loan outstanding) and group loans outstanding. Each event changes figures on its
business date (founding, joining, deposit, withdrawal, exit, payout, repayment; a reversal on the day it
was recorded), so a figure on a date is what a replay of the history up to that date gives. Programme
loans are the programme's money, not the groups', and are left out of the loan columns.

Reads cost what they show (DESIGN §5). Each change is added, at each level of its area (the nation, its
province, its district, its group), to three rows: its year's, its month's and its day's. A figure on day
d is then the sum of the area's year rows before d's year, its month rows of d's year before d's month,
and its day rows of d's month up to d: at most (years of history) + 11 + 31 rows, however many events.

Borrowers is a distinct count. Per member the projector keeps the dated net change of the member's open
group loans (+1 on a payout, -1 on a close); the member is a borrower on d while their sum up to d is
positive. When a batch changes a member's dates, the member's "is a borrower" step function before and
after are compared and the difference (+1 from a day the member starts being a borrower, -1 from a day
they stop) is added to the borrowers column of the member's area on those days. The step function depends
only on the set of dated changes, so arrival order, a close before its payout, or a batch that undoes an
earlier one all leave the count exact.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, NamedTuple

import asyncpg

from libs.events.envelope import BANGKOK, RecordedEvent
from libs.events.ledger_facts import savings_change

METRICS = ("groups", "members", "sajja", "special", "loan_open", "loans_outstanding")
# The kept columns: every metric but loan_open, which decides the borrowers column instead.
COLUMNS = ("groups", "members", "sajja", "special", "borrowers", "loans_outstanding")
_COLUMN = {name: i for i, name in enumerate(COLUMNS)}
_BORROWERS = _COLUMN["borrowers"]
LEVELS = ("national", "province", "district", "group")
CHILD_LEVEL = {"national": "province", "province": "district", "district": "group"}

# (day, province, district, group, member, metric, delta): one dated change of one figure.
Row = tuple[date, str, str, str, str | None, str, int]


class LoanKind(NamedTuple):
    """What reporting knows of a loan from its application: whose, and whether a programme's."""

    programme_id: str | None
    member_id: str
    group_id: str


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
            "ledger.OpeningBalanceRecorded": "as_of",
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
    elif t == "lending.LoanOpened":  # carried over from the group's books: counted from its opening day
        day = _day(p["opened_on"])
        out += [
            (day, p["group_id"], p["member_id"], "loan_open", 1),
            (day, p["group_id"], p["member_id"], "loans_outstanding", int(p["outstanding_satang"])),
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


def event_rows(events: Iterable[RecordedEvent], loans: Mapping[str, LoanKind]) -> list[Row]:
    """Every dated change the events make, with the area each counts in. `loans`: what the applications
    of the events' loans said (a LoanClosed names only its loan). Pure."""
    programme_loans = {loan_id for loan_id, kind in loans.items() if kind.programme_id}
    rows: list[Row] = []
    for e in events:
        province, district = (e.area.province_code, e.area.district_code) if e.area else ("", "")
        for day, group, member, metric, delta in deltas(e, programme_loans):
            rows.append((day, province, district, group, member, metric, delta))
        if e.event_type == "lending.LoanClosed":
            loan = loans.get(e.payload["loan_id"])
            if loan is not None and not loan.programme_id:
                # The borrower stops counting once the loan is repaid or written off.
                day = _day(e.payload["closed_on"])
                rows.append((day, province, district, loan.group_id, loan.member_id, "loan_open", -1))
    return rows


def area_keys(province: str, district: str, group: str) -> tuple[tuple[str, str, str], ...]:
    """(level, code, parent code) of every area a change in this group counts in."""
    return (
        ("national", "", ""),
        ("province", province, ""),
        ("district", district, province),
        ("group", group, district),
    )


@functools.lru_cache(maxsize=8192)
def periods(day: date) -> tuple[tuple[str, date], tuple[str, date], tuple[str, date]]:
    """The year, month and day rows (grain, first day) a change dated `day` is added to."""
    return ("y", date(day.year, 1, 1)), ("m", day.replace(day=1)), ("d", day)


def borrower_steps(opens: Mapping[date, int]) -> dict[date, int]:
    """+1 on each day a member starts being a borrower, -1 on each day they stop, from the member's dated
    net changes of open loans (a borrower while the sum up to the day is positive). Pure."""
    steps: dict[date, int] = {}
    running, was = 0, False
    for day in sorted(opens):
        running += opens[day]
        now = running > 0
        if now != was:
            steps[day] = 1 if now else -1
            was = now
    return steps


def step_change(before: Mapping[date, int], after: Mapping[date, int]) -> dict[date, int]:
    """What to add to a count so that one member's step function `before` becomes `after`."""
    change = {day: after.get(day, 0) - before.get(day, 0) for day in {*before, *after}}
    return {day: d for day, d in change.items() if d}


DayTotals = dict[tuple[str, str, str, date], list[int]]  # (province, district, group, day) → COLUMNS


def expand(day_totals: DayTotals) -> dict[tuple[str, str, str, date], list[int]]:
    """Each area-and-day change added to its areas' year, month and day rows: (level, code, grain, start)."""
    out: dict[tuple[str, str, str, date], list[int]] = {}
    for (province, district, group, day), values in day_totals.items():
        if not any(values):
            continue
        for level, code, _ in area_keys(province, district, group.lower()):
            for grain, start in periods(day):
                key = (level, code, grain, start)
                row = out.get(key)
                if row is None:
                    out[key] = list(values)
                else:
                    for i, v in enumerate(values):
                        row[i] += v
    return out


class Statistics:
    """Projection: running totals of every counted figure by area and year, month and day; the per-member
    dated open-loan changes that decide the borrowers; the areas seen; group names; loans' kinds."""

    name = "statistics"
    tables = ("stat_totals", "stat_areas", "borrower_members", "borrower_days", "group_names", "loan_kinds")

    def __init__(self, ledger_topic: str, lending_topic: str, schema: str = "reporting") -> None:
        self.topics: Sequence[str] = (ledger_topic, lending_topic)
        s = f'"{schema}"'
        self._kinds_sql = f"""
            insert into {s}.loan_kinds (loan_id, programme_id, member_id, group_id)
            select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[]) on conflict (loan_id) do nothing"""
        self._loans_sql = (
            f"select loan_id::text, programme_id, member_id::text, group_id::text from {s}.loan_kinds"
            " where loan_id = any($1::uuid[])"
        )
        self._names_sql = f"""
            insert into {s}.group_names (group_id, name, province_code, district_code)
            select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
            on conflict (group_id) do update set name = excluded.name"""
        self._areas_sql = f"""
            insert into {s}.stat_areas (level, code, parent)
            select * from unnest($1::text[], $2::text[], $3::text[]) on conflict do nothing"""
        self._totals_sql = f"""
            insert into {s}.stat_totals as t
                (level, code, grain, start, groups, members, sajja, special, borrowers, loans_outstanding)
            select * from unnest($1::text[], $2::text[], $3::text[], $4::date[],
                                 $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
            on conflict (level, code, grain, start) do update set
                groups = t.groups + excluded.groups, members = t.members + excluded.members,
                sajja = t.sajja + excluded.sajja, special = t.special + excluded.special,
                borrowers = t.borrowers + excluded.borrowers,
                loans_outstanding = t.loans_outstanding + excluded.loans_outstanding"""
        # A member's row is claimed, then locked, before their dates are read: two batches that change one
        # member's loans (their loans' streams can sit in different partitions) take turns.
        self._claim_members_sql = f"""
            insert into {s}.borrower_members (member_id, province_code, district_code, group_id)
            select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) on conflict do nothing"""
        self._lock_members_sql = f"""
            select member_id::text, province_code, district_code, group_id from {s}.borrower_members
            where member_id = any($1::uuid[]) order by member_id for update"""
        self._member_days_sql = (
            f"select member_id::text, day, open from {s}.borrower_days where member_id = any($1::uuid[])"
        )
        self._save_days_sql = f"""
            insert into {s}.borrower_days as b (member_id, day, open)
            select * from unnest($1::uuid[], $2::date[], $3::integer[])
            on conflict (member_id, day) do update set open = b.open + excluded.open"""
        self._drop_days_sql = f"""
            delete from {s}.borrower_days b using unnest($1::uuid[], $2::date[]) as x(member_id, day)
            where b.member_id = x.member_id and b.day = x.day and b.open = 0"""

    def rebuilt_in(self, schema: str) -> Statistics:
        ledger, lending = self.topics
        return Statistics(ledger, lending, schema)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        names = {
            p["group_id"]: (p["name"], p["province_code"], p["district_code"])
            for e in events
            if e.event_type == "ledger.GroupRegistered" and (p := e.payload)
        }
        if names:
            await conn.execute(self._names_sql, *_columns([(g, *rest) for g, rest in names.items()], 4))
        applied = {
            p["loan_id"]: (p.get("programme_id"), p["member_id"], p["group_id"])
            for e in events
            if e.event_type in ("lending.LoanApplied", "lending.LoanOpened") and (p := e.payload)
        }
        if applied:
            await conn.execute(self._kinds_sql, *_columns([(k, *rest) for k, rest in applied.items()], 4))
        loan_ids = list(
            {e.payload["loan_id"] for e in events if e.event_type.startswith("lending.") and "loan_id" in e.payload}
        )
        loans = (
            {
                r[0]: LoanKind(r["programme_id"], r["member_id"], r["group_id"])
                for r in await conn.fetch(self._loans_sql, loan_ids)
            }
            if loan_ids
            else {}
        )
        rows = event_rows(events, loans)
        if not rows:
            return
        areas: set[tuple[str, str, str]] = set()
        day_totals: DayTotals = defaultdict(lambda: [0] * len(COLUMNS))
        opens: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
        member_areas: dict[str, tuple[str, str, str]] = {}
        for day, province, district, group, member, metric, delta in rows:
            areas.add((province, district, group))
            if metric == "loan_open":
                if member is not None:
                    member = member.lower()
                    opens[member][day] += delta
                    member_areas.setdefault(member, (province, district, group))
            else:
                day_totals[(province, district, group, day)][_COLUMN[metric]] += delta
        if opens:
            await self._move_borrowers(conn, opens, member_areas, day_totals)
        seen = sorted(
            {key for province, district, group in areas for key in area_keys(province, district, group.lower())}
        )
        await conn.execute(self._areas_sql, *_columns(seen, 3))
        totals = sorted(expand(day_totals).items())  # in key order: two batches lock rows in the same order
        if totals:
            keys, values = zip(*totals, strict=True)
            await conn.execute(
                self._totals_sql, *map(list, zip(*keys, strict=True)), *map(list, zip(*values, strict=True))
            )

    async def _move_borrowers(
        self,
        conn: asyncpg.Connection,
        opens: Mapping[str, Mapping[date, int]],
        member_areas: Mapping[str, tuple[str, str, str]],
        day_totals: DayTotals,
    ) -> None:
        members = sorted(opens)
        await conn.execute(self._claim_members_sql, *_columns([(m, *member_areas[m]) for m in members], 4))
        where = {
            r["member_id"]: (r["province_code"], r["district_code"], r["group_id"])
            for r in await conn.fetch(self._lock_members_sql, members)
        }
        known: dict[str, dict[date, int]] = defaultdict(dict)
        for r in await conn.fetch(self._member_days_sql, members):
            known[r["member_id"]][r["day"]] = r["open"]
        saved: list[tuple[str, date, int]] = []
        for member in members:
            before = known.get(member, {})
            after = dict(before)
            for day, delta in opens[member].items():
                after[day] = after.get(day, 0) + delta
                saved.append((member, day, delta))
            province, district, group = where[member]
            for day, delta in step_change(borrower_steps(before), borrower_steps(after)).items():
                day_totals[(province, district, group, day)][_BORROWERS] += delta
        await conn.execute(self._save_days_sql, *_columns(saved, 3))
        await conn.execute(self._drop_days_sql, [m for m, _, _ in saved], [d for _, d, _ in saved])


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as columns, for unnest."""
    return [[row[i] for row in rows] for i in range(width)]


def shown(values: Sequence[int]) -> dict[str, int]:
    """The figures of one area on one date from its summed COLUMNS, as the API names them."""
    groups, members, sajja, special, borrowers, loans = (int(v) for v in values)
    return {
        "groups": groups,
        "members": members,
        "sajja_savings": sajja,
        "special_savings": special,
        "savings": sajja + special,
        "borrowers": borrowers,
        "loans_outstanding": loans,
    }


def _values_sql(schema: str) -> str:
    s = f'"{schema}"'
    cols = ", ".join(COLUMNS)
    # One index range each for the year, month and day rows of every (area, date) asked.
    ranges = " union all ".join(
        f"select {cols} from {s}.stat_totals where level = $1 and code = c.code and grain = '{grain}' and {cond}"
        for grain, cond in (
            ("y", "start < d.year_start"),
            ("m", "start >= d.year_start and start < d.month_start"),
            ("d", "start >= d.month_start and start <= d.day"),
        )
    )
    sums = ", ".join(f"coalesce(sum(t.{c}), 0)::bigint as {c}" for c in COLUMNS)
    return f"""
        select c.code, d.day, {sums}
        from unnest($2::text[]) as c(code)
        cross join unnest($3::date[], $4::date[], $5::date[]) as d(day, year_start, month_start)
        left join lateral ({ranges}) t on true
        group by c.code, d.day"""


async def figures_on(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, level: str, codes: Sequence[str], days: Sequence[date]
) -> dict[tuple[str, date], dict[str, int]]:
    """Each figure of each area of one level (codes; "" for the nation) on each of `days`, in one query
    that reads at most (years + 11 + 31) rows per area and date."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level}")
    wanted = sorted(set(days))
    rows = await conn.fetch(
        _values_sql(schema),
        level,
        list(dict.fromkeys(codes)),
        wanted,
        [date(d.year, 1, 1) for d in wanted],
        [d.replace(day=1) for d in wanted],
    )
    return {(r["code"], r["day"]): shown([r[c] for c in COLUMNS]) for r in rows}


async def figures(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, level: str, code: str | None, as_of: date
) -> dict[str, int]:
    """Each figure on `as_of` for an area: national, a province, a district or a group."""
    key = "" if level == "national" else code or ""
    return (await figures_on(conn, schema, level, [key], [as_of]))[(key, as_of)]


def _day(value: str) -> date:
    return date.fromisoformat(value)


async def child_codes(conn: asyncpg.Connection | asyncpg.Pool, schema: str, level: str, code: str | None) -> list[str]:
    """The child areas with any history under an area: provinces, districts, or groups."""
    rows = await conn.fetch(
        f'select code from "{schema}".stat_areas where level = $1 and parent = $2 order by code',
        CHILD_LEVEL.get(level, "group"),
        "" if level == "national" else code or "",
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
    """The money and head-count figures (not borrowers) on each of `days`, in one query."""
    key = "" if level == "national" else code or ""
    found = await figures_on(conn, schema, level, [key], days)
    return [{k: v for k, v in found[(key, d)].items() if k != "borrowers"} for d in days]
