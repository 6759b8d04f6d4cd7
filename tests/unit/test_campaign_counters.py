"""Campaign counters, pure: each member once however often they act; window and rule dates; raises
measured against the commitment before the window opened; reversals uncount; the day kept per member
agrees with the counters."""

from __future__ import annotations

import uuid
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events.schemas.campaign import CampaignLaunched, CampaignRule
from services.campaign import counters as c

CAMPAIGN = CampaignLaunched(
    campaign_id="test",
    name_th="t",
    name_en="t",
    starts_on=date(2023, 12, 1),
    ends_on=date(2024, 2, 29),
    rules=[
        CampaignRule(kind="new_member"),
        CampaignRule(kind="commitment_raise", min_amount_satang=5_000),
        CampaignRule(kind="special_deposit", min_amount_satang=5_000),
    ],
)
GROUP = uuid.uuid4()


def member(joined: date, commitment: int = 10_000) -> c.MemberFact:
    return c.MemberFact(uuid.uuid4(), GROUP, "27", "2701", joined, commitment)


def special(m: c.MemberFact, satang: int, on: date, reversed_on: date | None = None) -> c.SavingsMove:
    return c.SavingsMove(m.member_id, "special", "deposit", satang, on, reversed_on)


def test_each_member_counts_once_however_often_they_act() -> None:
    m = member(date(2023, 12, 5))
    facts = c.Facts([m], {m.member_id: [(date(2024, 1, 1), 15_000)]}, [special(m, 5_000, date(2023, 12, 6))] * 3)
    figures = c.counters(CAMPAIGN, facts, date(2024, 3, 1))
    assert (figures["new_members"], figures["commitment_raises"], figures["special_depositors"]) == (1, 1, 1)
    assert (figures["special_deposits"], figures["members_taking_part"], figures["groups_taking_part"]) == (3, 1, 1)


def test_raises_compare_with_the_commitment_before_the_window_opened() -> None:
    before = member(date(2023, 1, 1))
    raised_then_lowered = member(date(2023, 1, 1))
    raised_before = member(date(2023, 1, 1))
    changes = {
        before.member_id: [(date(2024, 2, 1), 15_000)],
        raised_then_lowered.member_id: [(date(2024, 1, 1), 20_000), (date(2024, 2, 1), 10_000)],
        raised_before.member_id: [(date(2023, 11, 1), 20_000)],
    }
    facts = c.Facts([before, raised_then_lowered, raised_before], changes, [])
    # A commitment raised for any month of the window counts, and stays counted when later lowered; one
    # raised before the window opened is the baseline itself.
    assert c.counters(CAMPAIGN, facts, date(2024, 3, 1))["commitment_raises"] == 2
    # As of January the February raise has not happened yet; the January one has.
    assert c.counters(CAMPAIGN, facts, date(2024, 1, 15))["commitment_raises"] == 1
    assert c.counters(CAMPAIGN, facts, date(2023, 12, 31))["commitment_raises"] == 0


def test_reversals_uncount_and_the_window_and_rule_dates_bound_what_counts() -> None:
    m = member(date(2020, 1, 1))
    moves = [
        special(m, 5_000, date(2024, 1, 1), reversed_on=date(2024, 1, 2)),
        special(m, 4_999, date(2024, 1, 3)),
        special(m, 5_000, date(2024, 3, 1)),
    ]
    figures = c.counters(CAMPAIGN, c.Facts([m], {}, moves), date(2024, 6, 1))
    assert (figures["special_deposits"], figures["members_taking_part"], figures["savings_added"]) == (0, 0, 4_999)
    week = CAMPAIGN.model_copy(
        update={"rules": [CampaignRule(kind="special_deposit", min_amount_satang=5_000, starts_on=date(2024, 1, 3))]}
    )
    late = [special(m, 5_000, date(2024, 1, 2)), special(m, 6_000, date(2024, 1, 4))]
    assert c.counters(week, c.Facts([m], {}, late), date(2024, 6, 1))["special_deposit_amount"] == 6_000


def test_a_raise_effective_from_the_windows_first_month_counts() -> None:
    """Issue 13 (6a): the baseline is the commitment before the window opened, so a raise effective from
    December 2023 (the window's first month) counts, from 1 December."""
    december = member(date(2023, 1, 1))
    too_small = member(date(2023, 1, 1))
    changes = {
        december.member_id: [(date(2023, 12, 1), 15_000)],
        too_small.member_id: [(date(2023, 12, 1), 14_999)],
    }
    facts = c.Facts([december, too_small], changes, [])
    assert c.counters(CAMPAIGN, facts, date(2023, 12, 1))["commitment_raises"] == 1
    assert c.counters(CAMPAIGN, facts, date(2024, 3, 1))["commitment_raises"] == 1
    assert c.member_days(CAMPAIGN, december, changes[december.member_id], []).raised == date(2023, 12, 1)
    assert c.member_days(CAMPAIGN, too_small, changes[too_small.member_id], []).raised is None


def test_a_member_who_joined_inside_the_window_raises_from_what_they_joined_with() -> None:
    joined = member(date(2023, 12, 15))
    later = member(date(2024, 2, 10))
    changes = {
        joined.member_id: [(date(2023, 12, 1), 15_000)],  # effective from the month they joined
        later.member_id: [(date(2024, 3, 1), 20_000)],  # effective after the window: not in it
    }
    facts = c.Facts([joined, later], changes, [])
    # Counted from the day they joined, not before.
    assert c.counters(CAMPAIGN, facts, date(2023, 12, 14))["commitment_raises"] == 0
    assert c.counters(CAMPAIGN, facts, date(2023, 12, 15))["commitment_raises"] == 1
    assert c.counters(CAMPAIGN, facts, date(2024, 6, 1))["commitment_raises"] == 1
    assert c.member_days(CAMPAIGN, joined, changes[joined.member_id], []) == c.MemberDays(
        new_member=date(2023, 12, 15), raised=date(2023, 12, 15)
    )


def test_lowered_before_the_window_and_raised_in_it_counts_only_above_the_baseline() -> None:
    lowered = member(date(2023, 1, 1))
    back_up = [(date(2023, 11, 1), 5_000), (date(2024, 1, 1), 10_000)]  # 50.00 before, 100.00 in January
    above = [(date(2023, 11, 1), 5_000), (date(2024, 2, 1), 10_000), (date(2024, 2, 1), 11_000)]
    assert (
        c.counters(CAMPAIGN, c.Facts([lowered], {lowered.member_id: back_up}, []), date(2024, 3, 1))[
            "commitment_raises"
        ]
        == 1
    )
    assert c.member_days(CAMPAIGN, lowered, above, []).raised == date(2024, 2, 1)


_days = st.dates(date(2023, 10, 1), date(2024, 4, 30))
_months = st.sampled_from(
    [date(y, m, 1) for y, m in ((2023, 10), (2023, 11), (2023, 12), (2024, 1), (2024, 2), (2024, 3))]
)


@settings(max_examples=300, deadline=None)
@given(
    joined=_days,
    initial=st.sampled_from([5_000, 10_000, 15_000]),
    changes=st.lists(st.tuples(_months, st.sampled_from([4_000, 10_000, 14_999, 15_000, 20_000])), max_size=4),
    specials=st.lists(st.tuples(_days, st.sampled_from([4_999, 5_000, 8_000])), max_size=3),
    rule_dates=st.sampled_from([(None, None), (date(2023, 12, 10), date(2024, 1, 20)), (date(2024, 1, 1), None)]),
    as_of=_days,
)
def test_member_days_agree_with_the_counters_on_every_date(
    joined: date,
    initial: int,
    changes: list[tuple[date, int]],
    specials: list[tuple[date, int]],
    rule_dates: tuple[date | None, date | None],
    as_of: date,
) -> None:
    """The day kept per member counts them exactly when the counters, evaluated as of a date, do."""
    campaign = CAMPAIGN.model_copy(
        update={
            "rules": [
                CampaignRule(kind="new_member", starts_on=rule_dates[0], ends_on=rule_dates[1]),
                CampaignRule(kind="commitment_raise", min_amount_satang=5_000, starts_on=rule_dates[0]),
                CampaignRule(kind="special_deposit", min_amount_satang=5_000, ends_on=rule_dates[1]),
            ]
        }
    )
    m = member(joined, initial)
    changes = [(e, a) for e, a in changes if e >= joined.replace(day=1)]
    specials = [(d, a) for d, a in specials if d >= joined]
    facts = c.Facts([m], {m.member_id: changes}, [special(m, a, d) for d, a in specials])
    figures = c.counters(campaign, facts, as_of)
    days = c.member_days(campaign, m, changes, specials)

    def on(day: date | None) -> int:
        return int(day is not None and day <= min(as_of, campaign.ends_on))

    assert figures["new_members"] == on(days.new_member)
    assert figures["commitment_raises"] == on(days.raised)
    assert figures["special_depositors"] == on(days.special)
    assert figures["members_taking_part"] == on(days.taking_part) == figures["groups_taking_part"]
    assert figures["special_deposits"] == sum(1 for d, a in specials if d <= as_of and c.counts_special(campaign, d, a))
