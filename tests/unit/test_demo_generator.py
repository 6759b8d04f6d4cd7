"""The demo's province plan: deterministic per seed, valid national IDs, nothing dated after today,
and sums that hold (sizes, schedules, payouts, balances)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import geothai
import pytest

from sajja_cli.demo.generator import PROVINCE_CODE, Province, Scale, generate, month_end

SCALE = Scale(groups=20, members=1_500, months=12)
TODAY = date(2026, 11, 28)  # no day of a month is drawn after the 28th, so nothing of November is cut


@pytest.fixture(scope="module")
def plan() -> Province:
    return generate(2569, SCALE, TODAY)


def thai_id_valid(digits: str) -> bool:
    # Written out here rather than imported: Σ dᵢ·(13 − i) over the first twelve, then (11 − Σ mod 11) mod 10.
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return len(digits) == 13 and digits.isdigit() and (11 - total % 11) % 10 == int(digits[12])


def test_the_same_seed_plans_the_same_province_and_another_seed_another(plan: Province) -> None:
    assert generate(2569, SCALE, TODAY) == plan
    other = generate(2570, SCALE, TODAY)
    assert other.members != plan.members and other.member_ops != plan.member_ops


def test_a_later_day_of_the_same_month_only_adds_to_the_plan(plan: Province) -> None:
    # What a run on the 10th loaded, a run on the 28th plans identically (its idempotency keys replay).
    early = generate(2569, SCALE, date(2026, 11, 10))
    assert set(early.member_ops) <= set(plan.member_ops)
    assert set(early.members) <= set(plan.members)
    later_loans = {loan.key: loan for loan in plan.loans}
    for loan in early.loans:
        assert later_loans[loan.key].payments[: len(loan.payments)] == loan.payments
        assert later_loans[loan.key].principal == loan.principal
    assert all(op.on <= date(2026, 11, 10) for op in early.member_ops)


def test_members_have_valid_unique_national_ids_and_realistic_commitments(plan: Province) -> None:
    ids = [m.national_id for m in plan.members]
    assert all(thai_id_valid(i) for i in ids) and len(set(ids)) == len(ids)
    assert all(i[1:3] == PROVINCE_CODE for i in ids)  # registered in Sa Kaeo
    commitments = Counter(m.commitment for m in plan.members)
    assert set(commitments) <= {b * 100 for b in (50, 100, 150, 200, 250, 300, 500)}
    assert commitments.most_common(1)[0][0] == 10_000  # 100 baht, the usual
    assert all(m.phone is None or (len(m.phone) == 10 and m.phone.startswith("0")) for m in plan.members)


def test_groups_lie_in_sa_kaeos_districts_and_their_sizes_add_up(plan: Province) -> None:
    districts = {d.code for d in geothai.districts(PROVINCE_CODE)}
    assert {g.district_code for g in plan.groups} == districts  # 20 groups reach all 9 districts
    for g in plan.groups:
        subdistrict = geothai.subdistrict(g.subdistrict_code)
        assert subdistrict is not None and subdistrict.district_code == g.district_code
        assert g.name.startswith("กลุ่มออมทรัพย์เพื่อการผลิต")
    sizes = Counter(m.group for m in plan.members)
    assert sum(sizes.values()) == SCALE.members and min(sizes.values()) >= 5
    assert max(sizes.values()) > 2 * min(sizes.values())  # uneven


def test_nothing_is_dated_after_today_or_before_its_start(plan: Province) -> None:
    assert plan.months[-1] == date(2026, 11, 1) and len(plan.months) == 12
    members = {m.number: m for m in plan.members}
    groups = {g.number: g for g in plan.groups}
    for m in plan.members:
        assert groups[m.group].founded_on <= m.joined_on <= TODAY
    for op in plan.member_ops:
        assert members[op.member].joined_on <= op.on <= TODAY or op.on == plan.opening_day
    for loan in plan.loans:
        assert plan.months[0] <= loan.applied_on <= (loan.disbursed_on or loan.applied_on) <= TODAY
        assert all(p.paid_on <= TODAY for p in loan.payments)
    for t in plan.tickets:
        assert t.pledged_on <= TODAY and all(t.pledged_on < a.on <= TODAY for a in t.actions)
    assert all(g.recorded_on <= TODAY for g in plan.governance)
    assert plan.closed_months == (date(2025, 11, 1), *plan.months[:-1])  # the lead month, then the year's


def test_a_year_before_any_day_of_the_demo_the_groups_savings_were_on_the_platform(plan: Province) -> None:
    """SMART compares a group's savings with a year before (#15): the balances brought forward and the lead
    month's deposits come before the earliest such day, so no group's year-ago savings are nothing."""
    first_year_ago = plan.months[-1].replace(year=plan.months[-1].year - 1)
    assert plan.opening_day < first_year_ago and plan.opening_day == month_end(plan.opening_day)
    founders = {m.number: m for m in plan.members if m.joined_on <= plan.opening_day}
    saved: Counter[int] = Counter()
    for op in plan.member_ops:
        if op.kind == "deposit" and op.on <= first_year_ago and op.member in founders:
            saved[founders[op.member].group] += op.amount
    assert set(saved) == {g.number for g in plan.groups} and min(saved.values()) > 0
    lead = [op for op in plan.member_ops if plan.lead_month <= op.on <= month_end(plan.lead_month)]
    assert lead and {op.kind for op in lead} == {"deposit"} and all(op.member in founders for op in lead)


def test_balances_never_go_below_zero_and_an_exit_pays_out_what_is_held(plan: Province) -> None:
    balances: dict[int, dict[str, int]] = defaultdict(lambda: {"sajja": 0, "special": 0})
    gone: set[int] = set()
    for op in sorted(plan.member_ops, key=lambda o: (o.on, o.member, o.seq)):
        assert op.member not in gone, "nothing after an exit"
        if op.kind == "deposit":
            balances[op.member][op.account] += op.amount
        elif op.kind == "withdrawal":
            assert op.account == "special"  # sajja is returned only on leaving
            balances[op.member]["special"] -= op.amount
            assert balances[op.member]["special"] >= 0
        elif op.kind == "exit":
            assert (op.amount, op.special_paid_out) == (balances[op.member]["sajja"], balances[op.member]["special"])
            gone.add(op.member)
        else:
            assert op.amount % 5_000 == 0 and op.on.day == 1  # raises: whole shares, from a month's start
    kinds = Counter(op.kind for op in plan.member_ops)
    assert kinds["deposit"] > 10 * len(plan.members) and kinds["exit"] and kinds["withdrawal"] and kinds["raise"]


def test_a_members_payouts_come_after_their_deposits_of_the_month(plan: Province) -> None:
    # The loader posts each month's deposits first and the payouts later (beside the previous month's
    # close): that must not reorder any member's commands.
    adds: dict[tuple[int, date], date] = {}
    payouts: dict[tuple[int, date], date] = {}
    for op in plan.member_ops:
        key = (op.member, op.on.replace(day=1))
        if op.kind in ("deposit", "raise"):
            adds[key] = max(adds.get(key, op.on), op.on)
        else:
            payouts[key] = min(payouts.get(key, op.on), op.on)
    assert payouts and all(adds.get(key, on) <= on for key, on in payouts.items())


def test_most_members_pay_every_month_and_some_skip(plan: Province) -> None:
    paid: dict[int, set[date]] = defaultdict(set)
    for op in plan.member_ops:
        if op.kind == "deposit" and op.account == "sajja" and op.on >= plan.months[0]:
            paid[op.member].add(op.on.replace(day=1))
    stayers = [m for m in plan.members if m.joined_on < plan.months[0] and m.exit_month is None]
    every_month = sum(1 for m in stayers if len(paid[m.number]) == 12)
    assert 0.6 < every_month / len(stayers) < 0.95


def test_loans_follow_their_products_and_repayments_their_schedules(plan: Province) -> None:
    members = {m.number: m for m in plan.members}
    assert plan.loans and any(loan.disbursed_on is None for loan in plan.loans)
    for loan in plan.loans:
        assert loan.product.min_term <= loan.term <= loan.product.max_term
        assert 0 < loan.principal <= loan.product.max_amount and loan.principal % 100_000 == 0
        assert len(loan.guarantors) == loan.product.guarantors and loan.member not in loan.guarantors
        assert all(members[g].group == loan.group for g in loan.guarantors)
        if loan.disbursed_on is None:
            continue
        assert sum(i.principal for i in loan.installments) == loan.principal
        # Flat: 1 % (or 1.25 %) of the principal a month, whole satang.
        assert sum(i.interest for i in loan.installments) * 10_000 == loan.principal * loan.term * loan.product.rate_bp
        for p in loan.payments:
            installment = loan.installments[p.installment - 1]
            assert p.paid_on >= installment.due_on  # never early: an early payment would prepay principal
            assert (p.principal, p.interest) == (installment.principal, installment.interest)
            assert (p.penalty == 0) == (p.paid_on == installment.due_on)
    behaviours = Counter(loan.behaviour for loan in plan.loans if loan.disbursed_on)
    assert behaviours["on_time"] > behaviours["late"] > 0 and behaviours["stopped"] > 0


def test_the_campaign_falls_inside_the_demo_year_and_its_reports_after(plan: Province) -> None:
    campaign = plan.campaign
    assert plan.months[0] <= campaign.starts_on < campaign.ends_on <= month_end(plan.months[-1])
    assert (campaign.ends_on - campaign.starts_on).days in range(88, 93)  # three months
    assert date.fromisoformat(campaign.deadlines["district_report"]) > campaign.ends_on
    # Due no earlier than the end of the running month: the reports the demo sends today are on time (a report
    # cannot be dated back, so a deadline already passed would make every one of them late).
    assert date.fromisoformat(campaign.deadlines["district_report"]) >= month_end(plan.months[-1]) >= TODAY
    assert campaign.deadlines["province_report"] > campaign.deadlines["district_report"]
    assert campaign.campaign_id == "demo-savings-2569"
    assert 0 < len(campaign.reporting_districts) < len({g.district_code for g in plan.groups})
    window = [op for op in plan.member_ops if campaign.starts_on <= op.on <= campaign.ends_on]
    assert any(op.kind == "raise" for op in window)
    assert any(op.kind == "deposit" and op.account == "special" and op.amount >= 5_000 for op in window)
    assert any(campaign.starts_on <= m.joined_on <= campaign.ends_on for m in plan.members)


def test_pawn_tickets_stay_within_the_acts_limit_and_end_in_every_way(plan: Province) -> None:
    assert plan.tickets
    for t in plan.tickets:
        assert 0 < t.principal <= t.appraised_value and t.principal <= 10_000_000
    fates = Counter(a.kind for t in plan.tickets for a in t.actions)
    assert fates["redemption"] and fates["renewal"] and fates["forfeiture"]


def test_a_scale_too_small_for_guarantors_is_refused() -> None:
    with pytest.raises(ValueError, match="5 members a group"):
        Scale(groups=10, members=40)


def test_the_demo_says_its_progress_in_plain_lines_when_not_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from sajja_cli.demo.console import PlainProgress

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    assert not console.is_terminal
    progress = PlainProgress(console, every=0.0)
    progress.start(200)
    progress.phase("2025-12 deposits and raises", 150)
    progress.advance(50)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("0 of 200 (0.0 %): 2025-12 deposits and raises") and lines[0].startswith("[0:00]")
    assert lines[-1].endswith("50 of 200 (25.0 %): 2025-12 deposits and raises")
    assert "\x1b" not in out.getvalue()  # no terminal control codes in a log file


def test_a_treasurer_serves_a_few_groups_and_maker_and_checkers_differ() -> None:
    """Each user's requests a minute are limited: a district's one treasurer for all its groups was answered
    429 eleven thousand times in a run. A treasurer keeps a few groups; chair and secretary approve for the
    district; the maker is never a checker."""
    from sajja_cli.demo.identities import GROUPS_PER_TREASURER, Identities

    plan = generate(2569, Scale(groups=150, members=15_000, months=1), TODAY)
    people = Identities(None, plan, "secret")  # type: ignore[arg-type]
    treasurers = Counter(people.account(g.officers[0]) for g in plan.groups)
    assert max(treasurers.values()) <= GROUPS_PER_TREASURER and len(treasurers) >= 150 // GROUPS_PER_TREASURER
    for g in plan.groups:
        maker, chair, secretary = (people.account(o) for o in g.officers)
        assert len({maker, chair, secretary}) == 3
        assert all(a.startswith(f"d{g.district_code}-") for a in (maker, chair, secretary))
    assert people.account(f"cdd-{plan.groups[0].district_code}").startswith(f"d{plan.groups[0].district_code}-")
