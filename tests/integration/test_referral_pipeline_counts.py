"""The referral pipeline's counters equal the distinct counts over the whole feed (the read they replace),
at every level, after random referrals, revocations (members' and pawn customers'), re-referrals and
outcomes reported once or twice — and so do its day counters as of every day, against the feed up to that
day; migrations 010's and 012's backfills rebuild the same counters from the feed."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from libs.events.envelope import BANGKOK
from services.reporting.referral_feed import ReferralFacts, count_entry, pipeline_counts, record_outcome

AREAS = [("27", "2701"), ("27", "2702"), ("10", "1001")]
MIGRATIONS = Path(__file__).parents[2] / "services" / "reporting" / "migrations"
MIGRATION = MIGRATIONS / "010_referral_counts.sql"
DAILY = MIGRATIONS / "012_referral_counts_daily.sql"
FIRST_DAY = date(2024, 1, 1)


async def feed_counts(
    pool: asyncpg.Pool, partner: str, level: str, code: str | None, as_of: date | None = None
) -> tuple[dict, dict]:
    """The old read: count distinct referral ids over the feed (up to a day: its entries and outcomes written by
    then), joined to the members' areas."""
    column = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}
    where = f"and m.{column[level]}::text = $2" if column[level] else ""
    args: list[object] = [partner] + ([code] if column[level] else [])
    day = len(args) + 1
    where_feed = where + (f" and (f.created_at at time zone 'Asia/Bangkok')::date <= ${day}" if as_of else "")
    where_outcome = where + (f" and (o.noted_at at time zone 'Asia/Bangkok')::date <= ${day}" if as_of else "")
    args += [as_of] if as_of else []
    kinds = {
        r["kind"]: r["n"]
        for r in await pool.fetch(
            f"""select f.kind, count(distinct f.referral_id) as n from reporting.referral_feed f
                left join reporting.referral_members m on m.member_id = f.member_id
                where f.partner = $1 {where_feed} group by f.kind""",
            *args,
        )
    }
    outcomes = {
        r["outcome"]: r["n"]
        for r in await pool.fetch(
            f"""select o.outcome, count(distinct o.referral_id) as n from reporting.referral_outcomes o
                join (select distinct partner, referral_id, member_id from reporting.referral_feed) f
                  on f.referral_id = o.referral_id and f.partner = o.partner
                left join reporting.referral_members m on m.member_id = f.member_id
                where o.partner = $1 {where_outcome} group by o.outcome""",
            *args,
        )
    }
    return kinds, outcomes


operations = st.lists(
    st.tuples(
        st.sampled_from(["refer", "refer", "revoke", "outcome", "outcome"]),
        st.integers(0, 7),  # a subject: members 0-5, pawn customers 6-7
        st.sampled_from(["gsb", "other"]),
        st.sampled_from(["contacted", "approved", "declined", "loan_granted"]),
    ),
    max_size=40,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, homes=st.lists(st.sampled_from(AREAS), min_size=6, max_size=6))
@example(  # referred, the same outcome twice, revoked, referred again: each counts once
    ops=[
        (op, subject, "gsb", "contacted")
        for subject in (0, 6)
        for op in ("refer", "outcome", "outcome", "revoke", "refer", "revoke")
    ],
    homes=[AREAS[0]] * 6,
)
async def test_pipeline_counters_equal_distinct_counts_over_the_feed(
    pool: asyncpg.Pool, ops: list[tuple[str, int, str, str]], homes: list[tuple[str, str]]
) -> None:
    await pool.execute(
        "truncate reporting.referral_feed, reporting.referral_outcomes, reporting.referral_members,"
        " reporting.referral_firsts, reporting.referral_counts, reporting.referral_counts_daily"
    )
    groups = {area: str(uuid.uuid4()) for area in AREAS}
    members = [str(uuid.uuid4()) for _ in range(6)]
    for someone, (province, district) in zip(members, homes, strict=True):
        await pool.execute(
            "insert into reporting.referral_members values ($1, $2, $3, $4, '2024-01-01', false)",
            someone,
            groups[(province, district)],
            province,
            district,
        )
    facts = ReferralFacts("l", "d", "key")
    days: list[date] = []
    for i, (op, subject, partner, outcome) in enumerate(ops):
        # A few operations a day, days in order; what an operation writes is dated that day (noon in Bangkok).
        on = FIRST_DAY + timedelta(days=i // 4)
        days.append(on)
        member = members[subject] if subject < 6 else None
        customer = None if member else f"c-{subject}"
        referral_id = f"{partner}:{member or customer}"
        async with pool.acquire() as conn, conn.transaction():
            if op == "refer":
                latest = await conn.fetchval(
                    "select kind from reporting.referral_feed where partner = $1 and referral_id = $2"
                    " order by seq desc limit 1",
                    partner,
                    referral_id,
                )
                if latest != "referral":
                    await conn.execute(
                        "insert into reporting.referral_feed (partner, purpose, kind, referral_id, member_id,"
                        " customer_ref) values ($1, 'p', 'referral', $2, $3, $4)",
                        partner,
                        referral_id,
                        member,
                        customer,
                    )
                    await count_entry(conn, partner, referral_id, "referral", member, on)
            elif op == "revoke" and member:
                await facts._revoke(conn, member, None, None, on)
            elif op == "revoke" and customer:
                await facts._revoke_pawn(conn, customer, partner, "p", on)
        if op == "outcome":
            known = await record_outcome(pool, partner, referral_id, outcome, on)
            assert known == bool(
                await pool.fetchval(
                    "select 1 from reporting.referral_feed where referral_id = $1 and kind = 'referral'", referral_id
                )
            )
        noon = datetime.combine(on, time(12), BANGKOK)
        await pool.execute("update reporting.referral_feed set created_at = $1 where created_at > '2025-01-01'", noon)
        await pool.execute("update reporting.referral_outcomes set noted_at = $1 where noted_at > '2025-01-01'", noon)

    async def agree() -> None:
        for partner in ("gsb", "other"):
            areas = [("national", None)] + [
                (level, code)
                for province, district in AREAS
                for level, code in (
                    ("province", province),
                    ("district", district),
                    ("group", groups[(province, district)]),
                )
            ]
            for level, code in [*areas, ("province", "99")]:
                assert await pipeline_counts(pool, partner, level, code) == await feed_counts(
                    pool, partner, level, code
                ), (
                    partner,
                    level,
                    code,
                )
                # As of each day (and the day before the first): the day counters against the feed up to then.
                for day in sorted({FIRST_DAY - timedelta(days=1), *days}):
                    assert await pipeline_counts(pool, partner, level, code, day) == await feed_counts(
                        pool, partner, level, code, day
                    ), (partner, level, code, day)

    await agree()
    # The migration's backfill gives the same counters from the feed alone.
    await pool.execute("truncate reporting.referral_firsts, reporting.referral_counts, reporting.referral_counts_daily")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("set local search_path to reporting")
        for migration in (MIGRATION, DAILY):
            await conn.execute(migration.read_text().split("-- backfill")[1].split("\n", 1)[1])
    await agree()
