"""The referral pipeline's counters equal the distinct counts over the whole feed (the read they replace),
at every level, after random referrals, revocations (members' and pawn customers'), re-referrals and
outcomes reported once or twice; and migration 010's backfill rebuilds the same counters from the feed."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.reporting.referral_feed import ReferralFacts, count_entry, pipeline_counts, record_outcome

AREAS = [("27", "2701"), ("27", "2702"), ("10", "1001")]
MIGRATION = Path(__file__).parents[2] / "services" / "reporting" / "migrations" / "010_referral_counts.sql"


async def feed_counts(pool: asyncpg.Pool, partner: str, level: str, code: str | None) -> tuple[dict, dict]:
    """The old read: count distinct referral ids over the feed, joined to the members' areas."""
    column = {"national": None, "province": "province_code", "district": "district_code", "group": "group_id"}
    where = f"and m.{column[level]}::text = $2" if column[level] else ""
    args: list[object] = [partner] + ([code] if column[level] else [])
    kinds = {
        r["kind"]: r["n"]
        for r in await pool.fetch(
            f"""select f.kind, count(distinct f.referral_id) as n from reporting.referral_feed f
                left join reporting.referral_members m on m.member_id = f.member_id
                where f.partner = $1 {where} group by f.kind""",
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
                where o.partner = $1 {where} group by o.outcome""",
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
        " reporting.referral_firsts, reporting.referral_counts"
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
    for op, subject, partner, outcome in ops:
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
                    await count_entry(conn, partner, referral_id, "referral", member)
            elif op == "revoke" and member:
                await facts._revoke(conn, member, None, None)
            elif op == "revoke" and customer:
                await facts._revoke_pawn(conn, customer, partner, "p")
        if op == "outcome":
            known = await record_outcome(pool, partner, referral_id, outcome)
            assert known == bool(
                await pool.fetchval(
                    "select 1 from reporting.referral_feed where referral_id = $1 and kind = 'referral'", referral_id
                )
            )

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

    await agree()
    # The migration's backfill gives the same counters from the feed alone.
    await pool.execute("truncate reporting.referral_firsts, reporting.referral_counts")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("set local search_path to reporting")
        await conn.execute(MIGRATION.read_text().split("-- backfill")[1].split("\n", 1)[1])
    await agree()
