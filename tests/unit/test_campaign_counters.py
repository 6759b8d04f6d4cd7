"""Campaign counters, pure: each member once however often they act; window and rule dates; raises
measured against the commitment when the window opened; reversals uncount."""

from __future__ import annotations

import uuid
from datetime import date

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


def test_raises_compare_with_the_commitment_when_the_window_opened() -> None:
    before = member(date(2023, 1, 1))
    raised_then_lowered = member(date(2023, 1, 1))
    raised_before = member(date(2023, 1, 1))
    changes = {
        before.member_id: [(date(2024, 2, 1), 15_000)],
        raised_then_lowered.member_id: [(date(2024, 1, 1), 20_000), (date(2024, 2, 1), 10_000)],
        raised_before.member_id: [(date(2023, 11, 1), 20_000)],
    }
    facts = c.Facts([before, raised_then_lowered, raised_before], changes, [])
    assert c.counters(CAMPAIGN, facts, date(2024, 3, 1))["commitment_raises"] == 1
    # As of January the February raise has not happened yet; the January one (later lowered) stands.
    assert c.counters(CAMPAIGN, facts, date(2024, 1, 15))["commitment_raises"] == 1


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
