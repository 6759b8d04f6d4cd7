"""Read models at scale: a synthetic history loaded straight into reporting's and lending's read models
(through the projections' own `apply`, a batch at a time, as their projectors do), then each dashboard read
timed the old way (whole-history queries, kept here as they were before issue 13) and the new way (the
aggregates), and the audit list's plans for every filter it offers.

    python -m bench.read_models --groups 3000 --members 25 --months 12      # about a million events

Prints the apply rate of each projection, the size of the old and new tables, and p50 / max of each read
at national, province, district and group level. Figures, never pass/fail. Needs no broker: an embedded
PostgreSQL of its own (or --dsn).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics as stats
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import geothai

from libs.events.envelope import BANGKOK, Actor, Area, RecordedEvent
from libs.events.projector import Projection
from services.lending import domain
from services.lending.handlers import portfolio_lines
from services.lending.projections import LoanPortfolio
from services.reporting import statistics
from services.reporting.audit import AuditLog, page_query
from services.reporting.statistics import LoanKind, Statistics, event_rows

BATCH = 5000
OFFICER = Actor(kind="user", id="officer")


# --- a synthetic history -------------------------------------------------------------------------------
class Nation:
    """Groups spread over real DOPA districts, members saving monthly (some months missed), special
    deposits, withdrawals, reversals, loans to a third of the members repaid monthly with arrears; a few
    pawn tickets (for the audit's pawn filter)."""

    def __init__(self, groups: int, members: int, months: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.groups, self.members, self.months = groups, members, months
        districts = [d for p in geothai.provinces() for d in geothai.districts(p.code)]
        self.areas = [(d.province_code, d.code) for d in districts]
        self.loans: dict[str, LoanKind] = {}
        self.count = 0

    def _event(
        self, stream: str, version: int, kind: str, payload: dict[str, Any], area: tuple[str, str], on: date
    ) -> RecordedEvent:
        self.count += 1
        at = datetime(on.year, on.month, on.day, 10, tzinfo=BANGKOK)
        actor = Actor(kind="user", id=f"officer-{area[1]}") if self.count % 5 else OFFICER
        return RecordedEvent(
            uuid.UUID(int=self.count | (7 << 76)), kind, 1, stream, version, self.count, at, at.astimezone(UTC),
            actor, None, None, Area(province_code=area[0], district_code=area[1]), payload,
        )  # fmt: skip

    def events(self) -> Iterator[RecordedEvent]:
        rng = self.rng
        start = date(2023, 1, 1)
        for g in range(self.groups):
            gid = str(uuid.UUID(int=(g + 1) << 64))
            area = rng.choice(self.areas)
            founded = date(rng.randint(1980, 2022), rng.randint(1, 12), rng.randint(1, 28))
            registered = {"group_id": gid, "name": f"กลุ่ม {g}", "province_code": area[0], "district_code": area[1]}
            registered["founded_on"] = founded.isoformat()
            yield self._event(f"group-{gid}", 1, "ledger.GroupRegistered", registered, area, founded)
            collection_day = rng.randint(1, 10)  # members pay around the group's collection day
            for m in range(self.members):
                mid = str(uuid.UUID(int=((g + 1) << 64) | (m + 1)))
                stream, version = f"member-{mid}", 1
                joined = start + timedelta(days=rng.randint(0, 60))
                base = {"member_id": mid, "group_id": gid}
                enrolled = base | {"joined_on": joined.isoformat()}
                yield self._event(stream, version, "ledger.MemberEnrolled", enrolled, area, joined)
                for month in range(self.months):
                    on = date(2023 + month // 12, month % 12 + 1, collection_day + rng.choice((0, 0, 0, 1, 2, 5)))
                    moves: list[tuple[str, str, dict[str, Any]]] = []
                    if rng.random() < 0.9:
                        moves.append(("ledger.SavingsDeposited", "sajja", {"amount_satang": 10_000}))
                    if rng.random() < 0.05:
                        moves.append(
                            ("ledger.SavingsDeposited", "special", {"amount_satang": rng.randint(1, 500) * 100})
                        )
                    if rng.random() < 0.01:
                        undone = {"reversed_kind": "deposit", "amount_satang": 10_000, "balance_delta_satang": -10_000}
                        moves.append(("ledger.TransactionReversed", "sajja", undone))
                    for kind, account, fields in moves:
                        version += 1
                        payload = base | fields | {"transaction_id": str(uuid.uuid4()), "account": account}
                        payload["deposited_on"] = on.isoformat()
                        yield self._event(stream, version, kind, payload, area, on)
                if m % 3 == 0:
                    yield from self._loan(gid, mid, area)
            if g % 50 == 0:
                ticket = str(uuid.uuid4())
                yield self._event(f"pawn-{ticket}", 1, "lending.ItemPledged", {"ticket_id": ticket}, area, start)

    def _loan(self, gid: str, mid: str, area: tuple[str, str]) -> Iterator[RecordedEvent]:
        rng = self.rng
        lid = str(uuid.uuid4())
        stream, version = f"loan-{lid}", 1
        paid = date(2023, 1, 1) + timedelta(days=rng.randint(30, 30 * max(1, self.months - 1)))
        principal = rng.randint(10, 300) * 100_00
        self.loans[lid] = LoanKind(None, mid, gid)
        base = {"loan_id": lid, "member_id": mid, "group_id": gid}
        yield self._event(stream, version, "lending.LoanApplied", base | {"principal_satang": principal}, area, paid)
        dues = [paid + timedelta(days=30 * (n + 1)) for n in range(6)]
        schedule = [{"number": n + 1, "due_on": d.isoformat()} for n, d in enumerate(dues)]
        version += 1
        disbursed = {"principal_satang": principal, "disbursed_on": paid.isoformat(), "schedule": schedule}
        yield self._event(stream, version, "lending.LoanDisbursed", base | disbursed, area, paid)
        outstanding, unpaid = principal, 0
        for n, due in enumerate(dues):
            if rng.random() < 0.15 or due > date(2023, 1, 1) + timedelta(days=30 * self.months):
                continue  # missed: the oldest unpaid installment stays
            part = principal // 6 if n < 5 else outstanding
            outstanding -= part
            unpaid = n + 1
            version += 1
            oldest = dues[unpaid].isoformat() if unpaid < len(dues) and outstanding else None
            repaid = {"paid_on": due.isoformat(), "principal_satang": part, "oldest_unpaid_due_on": oldest}
            repaid["outstanding_principal_after_satang"] = outstanding
            yield self._event(stream, version, "lending.RepaymentReceived", base | repaid, area, due)
        if not outstanding:
            version += 1
            closed = {"loan_id": lid, "closed_on": dues[-1].isoformat(), "reason": "repaid"}
            yield self._event(stream, version, "lending.LoanClosed", closed, area, dues[-1])


def batches(events: Iterator[RecordedEvent], size: int) -> Iterator[list[RecordedEvent]]:
    batch: list[RecordedEvent] = []
    for e in events:
        batch.append(e)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the reads as they were before issue 13 (whole history, summed on each read) ----------------------
OLD_DELTAS = """
create schema if not exists bench_old;
create table if not exists bench_old.stat_deltas (
    id bigint generated always as identity primary key, day date not null, province_code text not null,
    district_code text not null, group_id uuid not null, member_id uuid, metric text not null, delta bigint not null);
create index if not exists stat_deltas_area on bench_old.stat_deltas (province_code, district_code, day);
create index if not exists stat_deltas_group on bench_old.stat_deltas (group_id, day);
"""
COLUMN = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}


async def old_figures(pool: asyncpg.Pool, level: str, code: str | None, as_of: date) -> dict[str, int]:
    column = COLUMN[level]
    where = f" and {column}::text = $2" if column else ""
    args: list[Any] = [as_of] + ([code] if column else [])
    totals = {
        r["metric"]: int(r["total"])
        for r in await pool.fetch(
            f"select metric, sum(delta) as total from bench_old.stat_deltas where day <= $1{where} group by metric",
            *args,
        )
    }
    borrowers = await pool.fetchval(
        f"""select count(*) from (select member_id from bench_old.stat_deltas
            where metric = 'loan_open' and day <= $1{where} group by member_id having sum(delta) > 0) b""",
        *args,
    )
    return {**totals, "borrowers": int(borrowers or 0)}


async def old_series(pool: asyncpg.Pool, level: str, code: str | None, days: list[date]) -> int:
    column = COLUMN[level]
    where = f" and {column}::text = $3" if column else ""
    rows = await pool.fetch(
        f"""select metric, bucket, sum(delta) as total from (
                select metric, delta, (select min(d) from unnest($1::date[]) d where d >= day) as bucket
                from bench_old.stat_deltas where day <= $2{where}) x
            group by metric, bucket""",
        days,
        max(days),
        *([code] if column else []),
    )
    return len(rows)


async def old_breakdown(pool: asyncpg.Pool, level: str, code: str | None, day: date) -> int:
    child, parent = {"national": ("province_code", None), "province": ("district_code", "province_code")}.get(
        level, ("group_id", "district_code")
    )
    where = f"where {parent}::text = $1" if parent else ""
    codes = [
        r[0]
        for r in await pool.fetch(
            f"select distinct {child}::text from bench_old.stat_deltas {where} order by 1", *([code] if parent else [])
        )
    ]
    child_level = {"national": "province", "province": "district"}.get(level, "group")
    for c in codes:
        await old_figures(pool, child_level, c, day)
    return len(codes)


async def old_portfolio(pool: asyncpg.Pool, level: str, code: str | None, on: date) -> domain.PortfolioQuality:
    column = COLUMN[level]
    where = "status = 'active'" + (f" and {column}::text = $1" if column else "")
    rows = await pool.fetch(
        f"select outstanding_satang, oldest_unpaid_due_on from lending.loan_portfolio where {where}",
        *([code] if column else []),
    )
    return domain.portfolio_quality((domain.PortfolioLine(r[0], r[1]) for r in rows), on)


# --- the same reads now -----------------------------------------------------------------------------------
async def new_breakdown(pool: asyncpg.Pool, level: str, code: str | None, day: date) -> int:
    codes = await statistics.child_codes(pool, "reporting", level, code)
    child_level = {"national": "province", "province": "district"}.get(level, "group")
    return len(await statistics.figures_on(pool, "reporting", child_level, codes, [day]))


async def new_portfolio(pool: asyncpg.Pool, level: str, code: str | None, on: date) -> domain.PortfolioQuality:
    return domain.portfolio_quality(await portfolio_lines(pool, level, code), on)


async def timed(read: Callable[[], Awaitable[object]], runs: int) -> tuple[float, float]:
    await read()  # warm
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        await read()
        times.append((time.perf_counter() - t) * 1000)
    return stats.median(times), max(times)


async def load(pool: asyncpg.Pool, nation: Nation) -> dict[str, float]:
    await pool.execute(OLD_DELTAS)
    projections: dict[str, Projection] = {
        "statistics": Statistics("ledger", "lending"),
        "loan_portfolio": LoanPortfolio("lending"),
        "audit_log": AuditLog(["ledger", "lending"]),
    }
    spent = dict.fromkeys(projections, 0.0)
    old = 0.0
    n = 0
    for batch in batches(nation.events(), BATCH):
        n += len(batch)
        for name, projection in projections.items():
            mine = [e for e in batch if e.event_type.split(".")[0] in projection.topics]
            t = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                await projection.apply(conn, mine)
            spent[name] += time.perf_counter() - t
        t = time.perf_counter()
        rows = event_rows(batch, nation.loans)
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "stat_deltas",
                schema_name="bench_old",
                columns=["day", "province_code", "district_code", "group_id", "member_id", "metric", "delta"],
                records=rows,
            )
        old += time.perf_counter() - t
        if n % 100_000 < BATCH:
            print(f"  loaded {n:,} events", flush=True)
    await pool.execute("analyze")
    return {"events": n, **{f"{k} events/s": n / v for k, v in spent.items()}, "old deltas copy s": old}


async def run(args: argparse.Namespace) -> None:
    pool = await asyncpg.create_pool(args.dsn, min_size=1, max_size=4)
    assert pool is not None
    from services.catalog import migrate_all

    await migrate_all(pool, ["reporting", "lending"])
    nation = Nation(args.groups, args.members, args.months, args.seed)
    t = time.perf_counter()
    loaded = await load(pool, nation)
    print(f"loaded in {time.perf_counter() - t:.0f} s:", json.dumps({k: round(v) for k, v in loaded.items()}))
    sizes = {
        t: await pool.fetchval(f"select count(*) from {t}")
        for t in (
            "bench_old.stat_deltas",
            "reporting.stat_totals",
            "reporting.borrower_days",
            "lending.loan_portfolio",
            "lending.portfolio_dues",
            "reporting.audit_log",
            "reporting.audit_days",
        )
    }
    print("rows:", json.dumps(sizes))
    g = await pool.fetchrow("select group_id::text, province_code, district_code from reporting.group_names limit 1")
    areas = [
        ("national", None),
        ("province", g["province_code"]),
        ("district", g["district_code"]),
        ("group", g["group_id"]),
    ]
    as_of = date(2023, 1, 1) + timedelta(days=30 * args.months - 20)
    ends = statistics.month_ends(as_of, 12)
    print(f"\nreads (ms, p50 / max of {args.runs}), as of {as_of}:")
    print(f"{'read':44} {'before':>17} {'after':>17}")

    Read = Callable[[], Awaitable[object]]

    async def compare(name: str, before: Read, after: Read) -> None:
        b, a = await timed(before, args.runs), await timed(after, args.runs)
        print(f"{name:44} {b[0]:8.1f} /{b[1]:7.1f} {a[0]:8.1f} /{a[1]:7.1f}", flush=True)

    for level, code in areas:
        await compare(
            f"stats {level}",
            lambda level=level, code=code: old_figures(pool, level, code, as_of),  # type: ignore[misc]
            lambda level=level, code=code: statistics.figures(pool, "reporting", level, code, as_of),  # type: ignore[misc]
        )
    for level, code in areas:
        await compare(
            f"stats/series 12 month ends {level}",
            lambda level=level, code=code: old_series(pool, level, code, ends),  # type: ignore[misc]
            lambda level=level, code=code: statistics.series(pool, "reporting", level, code, ends),  # type: ignore[misc]
        )
    for level, code in areas[:3]:
        await compare(
            f"stats/breakdown {level}",
            lambda level=level, code=code: old_breakdown(pool, level, code, as_of),  # type: ignore[misc]
            lambda level=level, code=code: new_breakdown(pool, level, code, as_of),  # type: ignore[misc]
        )
    for level, code in areas:
        await compare(
            f"portfolio {level}",
            lambda level=level, code=code: old_portfolio(pool, level, code, as_of),  # type: ignore[misc]
            lambda level=level, code=code: new_portfolio(pool, level, code, as_of),  # type: ignore[misc]
        )
    for level, code in areas:  # the same figures both ways
        old = await old_figures(pool, level, code, as_of)
        new = await statistics.figures(pool, "reporting", level, code, as_of)
        assert new["members"] == old.get("members", 0) and new["borrowers"] == old["borrowers"], (level, old, new)
        assert new["savings"] == old.get("sajja", 0) + old.get("special", 0), (level, old, new)
        assert await old_portfolio(pool, level, code, as_of) == await new_portfolio(pool, level, code, as_of)
    await audit_plans(pool, g["province_code"], g["district_code"])
    await pool.close()


async def audit_plans(pool: asyncpg.Pool, province: str, district: str) -> None:
    """EXPLAIN ANALYZE of a page of the audit list under each filter it offers."""
    last = await pool.fetchval("select max(seq) from reporting.audit_log")
    recent = await pool.fetchval("select occurred_at from reporting.audit_log where seq = $1", last // 2)
    actor = f"officer-{district}"
    filters: list[dict[str, Any]] = [
        {},
        {"actor": actor},
        {"province": province},
        {"province": province, "district": district},
        {"actor": actor, "province": province},
        {"since": recent},
        {"since": recent, "until": recent + timedelta(days=3)},
        {"actor": actor, "since": recent},
        {"province": province, "since": recent},
    ]
    print("\naudit pages (limit 200; cursor at 0 and at the middle): plan, rows read by the scan, buffers, ms")
    for f in filters:
        for after in (0, last // 2):
            for pawn in (False, True):
                sql, params = page_query(
                    "reporting",
                    actor=f.get("actor"),
                    province=f.get("province"),
                    district=f.get("district"),
                    since=f.get("since"),
                    until=f.get("until"),
                    after=after,
                    limit=200,
                    include_pawn=pawn,
                )
                plan = json.loads(await pool.fetchval(f"explain (analyze, buffers, format json) {sql}", *params))[0]
                scans = list(_scans(plan["Plan"]))
                shown = ", ".join(
                    f"{s['Node Type']}({s.get('Index Name', s.get('Relation Name', ''))}) read "
                    f"{s['Actual Rows'] + s.get('Rows Removed by Filter', 0)}"
                    for s in scans
                )
                hits = plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
                keys = ",".join(k for k in f if k) or "none"
                ms = plan["Execution Time"]
                print(f"  {keys:22} after={after:<8} pawn={pawn!s:5} {shown}; {hits} buffers; {ms:.1f}")


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "Scan" in node["Node Type"]:
        yield node
    for child in node.get("Plans", []):
        yield from _scans(child)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--members", type=int, default=25, help="members a group")
    parser.add_argument("--months", type=int, default=12, help="months of monthly deposits from January 2023")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--dsn", help="a PostgreSQL database to load (default: an embedded one of its own)")
    args = parser.parse_args()
    if args.dsn:
        asyncio.run(run(args))
        return
    from libs.infra.embedded import EmbeddedPostgres, free_port

    with tempfile.TemporaryDirectory(prefix="sajja-bench-reads-") as root:
        server = EmbeddedPostgres(Path(root) / "pg", free_port(), durable=False)
        server.start()
        try:
            args.dsn = server.dsn
            asyncio.run(run(args))
        finally:
            server.stop("immediate")


if __name__ == "__main__":
    main()
