"""The audit list's pages (hypothesis, real PostgreSQL): under every filter it offers — actor, province,
district, a time window, pawn events shown or not — walking the pages with the cursor gives exactly the
matching rows in seq order, although events arrive out of time order (so the days' seq ranges that bound
a time window overlap); and each filter is served from an index in cursor order, reading about a page."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from libs.events.envelope import Actor, Area, RecordedEvent
from services.reporting.audit import AuditLog, entries, page_query

START = datetime(2024, 1, 1, tzinfo=UTC)
AREAS = [("27", "2701"), ("27", "2702"), ("10", "1001"), None]
ACTORS = ["kannika", "prasert", "sajja"]

rows = st.lists(
    st.tuples(
        st.integers(0, 20 * 24),  # hours after START: across days, out of order
        st.sampled_from(AREAS),
        st.sampled_from(ACTORS),
        st.sampled_from(["ledger.SavingsDeposited", "lending.LoanDisbursed", "lending.ItemPledged"]),
    ),
    max_size=60,
)
windows = st.one_of(st.none(), st.integers(0, 21 * 24).map(lambda h: START + timedelta(hours=h)))


def _event(hours: int, area: tuple[str, str] | None, actor: str, event_type: str) -> RecordedEvent:
    at = START + timedelta(hours=hours)
    stream = "pawn-1" if event_type == "lending.ItemPledged" else "loan-1"
    return RecordedEvent(
        uuid.uuid4(), event_type, 1, stream if event_type.startswith("lending") else "member-1", 1, 1, at, at,
        Actor(kind="user", id=actor), None, None,
        Area(province_code=area[0], district_code=area[1]) if area else None, {},
    )  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(rows, max_size=4),
    actor=st.sampled_from([None, *ACTORS]),
    place=st.sampled_from([(None, None), ("27", None), ("27", "2701"), ("10", "1001")]),
    since=windows,
    until=windows,
    pawn=st.booleans(),
    limit=st.integers(1, 7),
)
@example(  # in time order: a window opening mid-day starts within that day's seq range, not the next day's
    batches=[[(h, AREAS[0], "kannika", "ledger.SavingsDeposited") for h in (0, 30, 33, 60)]],
    actor=None,
    place=(None, None),
    since=START + timedelta(hours=32),
    until=START + timedelta(hours=34),
    pawn=False,
    limit=2,
)
async def test_pages_walk_exactly_the_matching_rows(
    pool: asyncpg.Pool,
    batches: list[list[tuple[int, Any, str, str]]],
    actor: str | None,
    place: tuple[str | None, str | None],
    since: datetime | None,
    until: datetime | None,
    pawn: bool,
    limit: int,
) -> None:
    await pool.execute("truncate reporting.audit_log, reporting.audit_days")
    log = AuditLog(["t"])
    for batch in batches:
        async with pool.acquire() as conn, conn.transaction():
            await log.apply(conn, [_event(*row) for row in batch])
    province, district = place
    everything = await pool.fetch("select * from reporting.audit_log order by seq")
    want = [
        r["seq"]
        for r in everything
        if (actor is None or r["actor_id"] == actor)
        and (province is None or r["province_code"] == province)
        and (district is None or r["district_code"] == district)
        and (since is None or r["occurred_at"] >= since)
        and (until is None or r["occurred_at"] < until)
        and (pawn or not r["stream_id"].startswith("pawn-"))
    ]
    got: list[int] = []
    after = 0
    while True:
        page = await entries(
            pool,
            "reporting",
            actor=actor,
            province=province,
            district=district,
            since=since,
            until=until,
            after=after,
            limit=limit,
            include_pawn=pawn,
        )
        got += [e["seq"] for e in page]
        if len(page) < limit:
            break
        after = page[-1]["seq"]
    assert got == want


async def test_each_filter_reads_an_index_in_cursor_order(pool: asyncpg.Pool) -> None:
    """With a history in time order (as events come), every filter reads about a page from an index."""
    log = AuditLog(["t"])
    hours = 0
    for _ in range(20):
        batch = []
        for n in range(1000):
            hours += 1 if n % 10 == 0 else 0
            area = [("27", "2701"), ("27", "2702"), ("10", "1001"), ("30", "3001")][n % 4]
            batch.append(_event(hours, area, f"officer-{area[1]}" if n % 3 else "sajja", "ledger.SavingsDeposited"))
        async with pool.acquire() as conn, conn.transaction():
            await log.apply(conn, batch)
    await pool.execute("analyze reporting.audit_log")
    middle = START + timedelta(hours=hours // 2)
    cases: list[dict[str, Any]] = [
        {},
        {"actor": "officer-2701"},
        {"province": "27"},
        {"province": "27", "district": "2702"},
        {"actor": "officer-2701", "province": "27", "district": "2701"},
        {"since": middle},
        {"since": middle, "until": middle + timedelta(hours=5)},
        {"province": "10", "since": middle},
    ]
    for case in cases:
        sql, args = page_query(
            "reporting",
            actor=case.get("actor"),
            province=case.get("province"),
            district=case.get("district"),
            since=case.get("since"),
            until=case.get("until"),
            after=0,
            limit=50,
            include_pawn=False,
        )
        plan = json.loads(await pool.fetchval(f"explain (analyze, format json) {sql}", *args))[0]["Plan"]
        scans = list(_scans(plan))
        shown = [
            (s["Node Type"], s.get("Index Name"), s["Actual Rows"], s.get("Rows Removed by Filter", 0)) for s in scans
        ]
        assert not any(s["Node Type"] == "Seq Scan" for s in scans), (case, shown)
        read = sum(
            s["Actual Rows"] + s.get("Rows Removed by Filter", 0)
            for s in scans
            if s.get("Relation Name") == "audit_log"
        )
        assert read <= 400, (case, shown)


def _scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node] if "Scan" in node["Node Type"] else []
    for child in node.get("Plans", []):
        found += _scans(child)
    return found
