"""The demo province loaded through the public APIs at a small scale: the platform's statistics, month
closes and campaign counters equal sums computed here from the generator's plan, and a second run
with the same seed changes nothing."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import asyncpg
import httpx

from libs.events.envelope import today_in_thailand
from libs.events.money import format_baht
from sajja_cli.demo.generator import PROVINCE_CODE, LoanPlan, MemberOp, Province, Scale, generate, month_end
from sajja_cli.demo.loader import Loader, load
from tests.support.api import eventually

SCALE = Scale(groups=3, members=30, months=3)


def rich_plan(today: date) -> Province:
    """The first seed whose small plan has some of everything asserted below (which seeds do depends
    on the month: the demo's months end with today's)."""
    for seed in range(1, 100):
        province = generate(seed, SCALE, today)
        kinds = {op.kind for op in province.member_ops}
        if (
            {"raise", "withdrawal", "exit"} <= kinds
            and any(loan.payments for loan in province.loans)
            and expected_missed(province, today)
            and all(v not in (0, "0.00") for v in expected_campaign(province, today).values())
        ):
            return province
    raise AssertionError("no seed below 100 plans some of everything")


def _ops(province: Province, members: set[int]) -> list[MemberOp]:
    return sorted((op for op in province.member_ops if op.member in members), key=lambda op: (op.on, op.member, op.seq))


def _installment_principal(loan: LoanPlan, number: int) -> int:
    # Flat schedules split the principal evenly, the last installment taking the remainder.
    each = loan.principal // loan.term
    return loan.principal - each * (loan.term - 1) if number == loan.term else each


def expected_stats(province: Province, district: str | None = None, group: int | None = None) -> dict[str, object]:
    """The figures GET /reporting/v1/stats should show today, folded from the plan's commands."""
    groups = {
        g.number
        for g in province.groups
        if (district is None or g.district_code == district) and (group is None or g.number == group)
    }
    members = {m.number for m in province.members if m.group in groups}
    balances: dict[int, dict[str, int]] = defaultdict(lambda: {"sajja": 0, "special": 0})
    exited = set()
    for op in _ops(province, members):
        if op.kind == "deposit":
            balances[op.member][op.account] += op.amount
        elif op.kind == "withdrawal":
            balances[op.member][op.account] -= op.amount
        elif op.kind == "exit":
            # The exit pays out exactly what the member holds.
            assert (op.amount, op.special_paid_out) == (balances[op.member]["sajja"], balances[op.member]["special"])
            balances[op.member] = {"sajja": 0, "special": 0}
            exited.add(op.member)
    outstanding: dict[int, int] = defaultdict(int)
    for loan in province.loans:
        if loan.group in groups and loan.disbursed_on is not None:
            repaid = sum(_installment_principal(loan, p.installment) for p in loan.payments)
            outstanding[loan.member] += loan.principal - repaid
    sajja = sum(b["sajja"] for b in balances.values())
    special = sum(b["special"] for b in balances.values())
    return {
        "groups": len(groups),
        "members": len(members) - len(exited),
        "sajja_savings": format_baht(sajja),
        "special_savings": format_baht(special),
        "savings": format_baht(sajja + special),
        "borrowers": sum(1 for amount in outstanding.values() if amount > 0),
        "loans_outstanding": format_baht(sum(outstanding.values())),
    }


def expected_missed(province: Province, today: date) -> int:
    """Installments the month-end closes should find short: per closed month, each member who was a
    member all month and paid less in sajja deposits dated in it than the commitment then in force."""
    missed = 0
    ops = _ops(province, {m.number for m in province.members})
    for month in province.months:
        if month_end(month) >= today:
            continue
        for member in province.members:
            if member.joined_on > month_end(month):
                continue
            mine = [op for op in ops if op.member == member.number]
            if any(op.kind == "exit" and op.on <= month_end(month) for op in mine):
                continue
            due = member.commitment
            for op in mine:
                if op.kind == "raise" and op.on <= month:
                    due = op.amount
            paid = sum(
                op.amount
                for op in mine
                if op.kind == "deposit" and op.account == "sajja" and month <= op.on <= month_end(month)
            )
            missed += paid < due
    return missed


def expected_campaign(province: Province, today: date) -> dict[str, object]:
    campaign = province.campaign
    start, end = campaign.starts_on, min(campaign.ends_on, today)
    raises: dict[int, list[MemberOp]] = defaultdict(list)
    for op in province.member_ops:
        if op.kind == "raise":
            raises[op.member].append(op)

    def commitment(member: int, initial: int, month: date) -> int:
        value = initial
        for op in sorted(raises[member], key=lambda o: o.on):
            if op.on <= month:
                value = op.amount
        return value

    raised = 0
    for m in province.members:
        if m.joined_on > end:
            continue
        baseline = m.commitment if m.joined_on >= start else commitment(m.number, m.commitment, start)
        raised += commitment(m.number, m.commitment, end.replace(day=1)) - baseline >= 5_000
    specials = [
        op
        for op in province.member_ops
        if op.kind == "deposit" and op.account == "special" and start <= op.on <= end and op.amount >= 5_000
    ]
    return {
        "new_members": sum(1 for m in province.members if start <= m.joined_on <= end),
        "commitment_raises": raised,
        "special_deposits": len(specials),
        "special_deposit_amount": format_baht(sum(op.amount for op in specials)),
    }


async def _stats(client: httpx.AsyncClient, level: str, code: str) -> dict[str, object]:
    response = await client.get("/reporting/v1/stats", params={"level": level, "code": code})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return {k: v for k, v in body.items() if k not in ("level", "code", "as_of")}


async def _written(pool: asyncpg.Pool) -> dict[str, int]:
    counts = {f"{s}.events": await pool.fetchval(f"select count(*) from {s}.events") for s in ("ledger", "lending")}
    counts["campaign.events"] = await pool.fetchval("select count(*) from campaign.events")
    counts["referral_feed"] = await pool.fetchval("select count(*) from reporting.referral_feed")
    counts["referral_outcomes"] = await pool.fetchval("select count(*) from reporting.referral_outcomes")
    return counts


async def test_the_demo_province_loads_through_the_apis_and_a_rerun_changes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    today = today_in_thailand()
    province = rich_plan(today)

    loader = Loader(client, province, concurrency=8, settle_timeout=30)
    summary = await loader.run()
    assert not summary.refusals, summary.refusal_examples
    assert summary.counts["repayments split otherwise than planned"] == 0, summary.notes
    assert summary.counts["members enrolled"] == len(province.members)
    assert summary.counts["loans disbursed"] == sum(1 for loan in province.loans if loan.disbursed_on)

    # The province and one of its districts, as the statistics projection shows them.
    province_wanted = expected_stats(province)
    district = province.groups[0].district_code
    district_wanted = expected_stats(province, district)

    async def caught_up() -> bool:
        return (await _stats(client, "province", PROVINCE_CODE)) == province_wanted and (
            await _stats(client, "district", district)
        ) == district_wanted

    try:
        await eventually(caught_up, timeout=30)
    except AssertionError:
        assert await _stats(client, "province", PROVINCE_CODE) == province_wanted
        assert await _stats(client, "district", district) == district_wanted
    assert province_wanted["borrowers"] and province_wanted["loans_outstanding"] != "0.00"

    # Each group's books hold its loans as planned, and its stream every answer the loader waited for.
    for group in province.groups:
        group_id = loader.group_ids[group.number]
        shown = (await client.get(f"/ledger/v1/groups/{group_id}")).json()
        assert shown["version"] == loader.group_events[group.number]
        trial = (await client.get(f"/ledger/v1/groups/{group_id}/trial-balance")).json()
        receivable = {a["code"]: a["balance"] for a in trial["accounts"]}.get("1100", "0.00")
        assert receivable == expected_stats(province, group=group.number)["loans_outstanding"]

    # The month-end closes found the installments the plan skipped.
    missed = expected_missed(province, today)
    assert missed > 0 and summary.counts["installments missed"] == missed
    assert summary.counts["month closes"] == len(province.groups) * len(province.closed_months)

    # The campaign's counters count what the plan did inside its window.
    campaign = expected_campaign(province, today)
    assert all(value not in (0, "0.00") for value in campaign.values()), campaign

    async def counted() -> bool:
        response = await client.get(
            f"/campaign/v1/campaigns/{province.campaign.campaign_id}/progress",
            params={"level": "province", "code": PROVINCE_CODE},
        )
        counters = response.json()["counters"]
        return {k: counters[k] for k in campaign} == campaign

    await eventually(counted, timeout=30)
    assert summary.counts["campaign reports"] == len(province.campaign.reporting_districts) + 1
    # Due at the end of the running month: the reports the demo sends are on time, not late.
    assert summary.counts["campaign reports late"] == 0

    # Loaded again with the same seed: every command replays its stored answer, nothing new is written.
    before = await _written(pool)
    again = await load(client, province, concurrency=8, settle_timeout=30)
    assert not again.refusals, again.refusal_examples
    assert await _written(pool) == before
    assert await _stats(client, "province", PROVINCE_CODE) == province_wanted
    same = ("members enrolled", "loans disbursed", "repayments", "installments missed", "pawn tickets")
    assert {k: again.counts[k] for k in same} == {k: summary.counts[k] for k in same}
