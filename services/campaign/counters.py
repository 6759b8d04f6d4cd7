"""Campaign counters (DOMAIN §2), computed from a place's facts as of a date. Pure.

- `new_members`: members who joined inside the window (or the rule's own dates);
- `commitment_raises`: members for whom the commitment in force for some month of the window (up to
  the date asked) is at least the rule's amount above their baseline: the commitment in force for the
  month before the window's first month (the commitment when the window opened; a raise effective from
  the window's first month counts), or, for a member who joined inside the window, the commitment they
  joined with. Once raised it stays counted (a later lowering does not take it back). A raise counts
  from the first day of the month it is effective for (never before the window opens or the member
  joined): like every other counter it follows the record's business dates, not the day it was keyed
  in, so a raise recorded late for a month still open counts from that month;
- `special_depositors` / `special_deposits` / `special_deposit_amount`: special deposits of at least
  the rule's amount inside the window (or the rule's own dates): members, number, total;
- `members_taking_part`: distinct members who met any of the campaign's rules; `groups_taking_part`:
  distinct groups with such a member;
- `savings_added`: sajja and special deposits inside the window, less withdrawals and exit payouts.
A reversed deposit or withdrawal counts as never made, on every date (a reversal corrects a mistake).
Counters of rules the campaign does not have stay 0.

`counters` evaluates these definitions as of a date; `member_days` gives, per member, the day each
distinct count starts to include them (what the aggregates keep): a member counts as of D exactly when
that day is on or before D.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from libs.events.schemas.campaign import CampaignLaunched, CampaignRule

COUNTERS = (
    "new_members",
    "commitment_raises",
    "special_depositors",
    "special_deposits",
    "special_deposit_amount",
    "members_taking_part",
    "groups_taking_part",
    "savings_added",
)
MONEY_COUNTERS = frozenset({"special_deposit_amount", "savings_added"})


@dataclass(frozen=True)
class MemberFact:
    member_id: uuid.UUID
    group_id: uuid.UUID
    province_code: str
    district_code: str
    joined_on: date
    initial_commitment_satang: int


@dataclass(frozen=True)
class SavingsMove:
    member_id: uuid.UUID
    account: str
    kind: str  # deposit | withdrawal | exit
    amount_satang: int
    on_date: date
    reversed_on: date | None


@dataclass(frozen=True)
class Facts:
    members: Sequence[MemberFact]
    # member → [(effective month, commitment)] in the order they were made
    commitment_changes: Mapping[uuid.UUID, Sequence[tuple[date, int]]]
    moves: Sequence[SavingsMove]


def _rule(campaign: CampaignLaunched, kind: str) -> CampaignRule | None:
    return next((r for r in campaign.rules if r.kind == kind), None)


def commitment_on(member: MemberFact, changes: Sequence[tuple[date, int]], month: date) -> int:
    value = member.initial_commitment_satang
    for effective, amount in changes:
        if effective <= month:
            value = amount
    return value


def rule_window(campaign: CampaignLaunched, rule: CampaignRule, end: date) -> tuple[date, date]:
    """The days a rule counts: the campaign's window within the rule's own dates, up to `end`."""
    start = campaign.starts_on
    return max(start, rule.starts_on or start), min(end, campaign.ends_on, rule.ends_on or end)


def _month_before(day: date) -> date:
    return date(day.year - 1, 12, 1) if day.month == 1 else date(day.year, day.month - 1, 1)


def _months(first: date, last: date) -> Iterator[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def _raise_baseline(member: MemberFact, changes: Sequence[tuple[date, int]], first: date) -> int:
    """The commitment before the window opened, or the one a member who joined inside it joined with."""
    if member.joined_on >= first:
        return member.initial_commitment_satang
    return commitment_on(member, changes, _month_before(first.replace(day=1)))


def _raised_by(
    member: MemberFact, changes: Sequence[tuple[date, int]], rule: CampaignRule, first: date, last: date
) -> bool:
    """Whether some month of [first, last] had a commitment in force at least the rule's amount above the
    baseline, counting from its first day (not before `first` or the member's joining) up to `last`."""
    if last < first or member.joined_on > last:
        return False
    baseline = _raise_baseline(member, changes, first)
    return any(
        max(month, first, member.joined_on) <= last
        and commitment_on(member, changes, month) - baseline >= max(rule.min_amount_satang, 1)
        for month in _months(first, last)
    )


def counters(campaign: CampaignLaunched, facts: Facts, as_of: date) -> dict[str, int]:
    start, end = campaign.starts_on, min(campaign.ends_on, as_of)
    result = dict.fromkeys(COUNTERS, 0)
    if end < start:
        return result
    members = {m.member_id: m for m in facts.members}
    taking_part: set[uuid.UUID] = set()

    def live(move: SavingsMove) -> bool:
        # A reversal corrects a mistake: the deposit or withdrawal counts as never made, on every date.
        return move.reversed_on is None

    if rule := _rule(campaign, "new_member"):
        first, last = rule_window(campaign, rule, end)
        joined = {m.member_id for m in facts.members if first <= m.joined_on <= last}
        result["new_members"] = len(joined)
        taking_part |= joined

    if rule := _rule(campaign, "commitment_raise"):
        first, last = rule_window(campaign, rule, end)
        raised = {
            m.member_id
            for m in facts.members
            if _raised_by(m, facts.commitment_changes.get(m.member_id, ()), rule, first, last)
        }
        result["commitment_raises"] = len(raised)
        taking_part |= raised

    if rule := _rule(campaign, "special_deposit"):
        first, last = rule_window(campaign, rule, end)
        qualifying = [
            mv
            for mv in facts.moves
            if mv.account == "special"
            and mv.kind == "deposit"
            and first <= mv.on_date <= last
            and mv.amount_satang >= rule.min_amount_satang
            and live(mv)
            and mv.member_id in members
        ]
        depositors = {mv.member_id for mv in qualifying}
        result["special_depositors"] = len(depositors)
        result["special_deposits"] = len(qualifying)
        result["special_deposit_amount"] = sum(mv.amount_satang for mv in qualifying)
        taking_part |= depositors

    result["members_taking_part"] = len(taking_part)
    result["groups_taking_part"] = len({members[m].group_id for m in taking_part if m in members})
    result["savings_added"] = sum(
        (mv.amount_satang if mv.kind == "deposit" else -mv.amount_satang)
        for mv in facts.moves
        if start <= mv.on_date <= end and live(mv) and mv.member_id in members
    )
    return result


@dataclass(frozen=True)
class MemberDays:
    """The day from which each distinct count includes a member (None: never, as the facts stand)."""

    new_member: date | None = None
    raised: date | None = None
    special: date | None = None

    @property
    def taking_part(self) -> date | None:
        days = [d for d in (self.new_member, self.raised, self.special) if d is not None]
        return min(days) if days else None


def member_days(
    campaign: CampaignLaunched,
    member: MemberFact,
    changes: Sequence[tuple[date, int]],
    special_deposits: Iterable[tuple[date, int]],
) -> MemberDays:
    """When a member (inside the campaign's provinces) starts to count, from their facts: the commitment
    changes in the order they were made, and their live (unreversed) special deposits as (day, amount)."""
    end = campaign.ends_on
    new_member = raised = special = None
    if rule := _rule(campaign, "new_member"):
        first, last = rule_window(campaign, rule, end)
        if first <= member.joined_on <= last:
            new_member = member.joined_on
    if (rule := _rule(campaign, "commitment_raise")) and changes:
        first, last = rule_window(campaign, rule, end)
        if first <= last and member.joined_on <= last:
            baseline = _raise_baseline(member, changes, first)
            for month in _months(first, last):  # the counting day never decreases from month to month
                day = max(month, first, member.joined_on)
                if day > last:
                    break
                if commitment_on(member, changes, month) - baseline >= max(rule.min_amount_satang, 1):
                    raised = day
                    break
    if rule := _rule(campaign, "special_deposit"):
        first, last = rule_window(campaign, rule, end)
        days = [d for d, amount in special_deposits if first <= d <= last and amount >= rule.min_amount_satang]
        special = min(days, default=None)
    return MemberDays(new_member, raised, special)


def counts_special(campaign: CampaignLaunched, on_date: date, amount_satang: int) -> bool:
    """Whether a (live) special deposit counts for the campaign's special-deposit rule."""
    rule = _rule(campaign, "special_deposit")
    if rule is None:
        return False
    first, last = rule_window(campaign, rule, campaign.ends_on)
    return first <= on_date <= last and amount_satang >= rule.min_amount_satang


def covers(campaign: CampaignLaunched, province_code: str) -> bool:
    return not campaign.provinces or province_code in campaign.provinces


def series(campaign: CampaignLaunched, facts: Facts, as_of: date) -> list[tuple[date, dict[str, int]]]:
    """The counters as they stood at the end of each day of the window, up to `as_of`."""
    out = []
    day = campaign.starts_on
    while day <= min(campaign.ends_on, as_of):
        out.append((day, counters(campaign, facts, day)))
        day += timedelta(days=1)
    return out


def split_by(facts: Facts, key: str) -> dict[str, Facts]:
    """The facts of each child area (by `province_code`, `district_code` or `group_id`)."""
    groups: dict[str, list[MemberFact]] = {}
    for m in facts.members:
        groups.setdefault(str(getattr(m, key)), []).append(m)
    out = {}
    for code, members in sorted(groups.items()):
        ids = {m.member_id for m in members}
        out[code] = Facts(
            members,
            {k: v for k, v in facts.commitment_changes.items() if k in ids},
            [mv for mv in facts.moves if mv.member_id in ids],
        )
    return out


def in_campaign(campaign: CampaignLaunched, members: Iterable[MemberFact]) -> list[MemberFact]:
    """Members inside the campaign's provinces (all, when it covers the whole country)."""
    return [m for m in members if covers(campaign, m.province_code)]
