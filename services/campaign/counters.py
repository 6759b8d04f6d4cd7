"""Campaign counters (DOMAIN §2), computed from a place's facts as of a date. Pure.

- `new_members`: members who joined inside the window;
- `commitment_raises`: members whose monthly commitment at the end of the window (or on the date
  asked) is at least the rule's amount above what it was when the window opened (for a member who
  joined inside it, above the commitment they joined with);
- `special_depositors` / `special_deposits` / `special_deposit_amount`: special deposits of at least
  the rule's amount inside the window (or the rule's own dates): members, number, total;
- `members_taking_part`: distinct members who met any of the campaign's rules; `groups_taking_part`:
  distinct groups with such a member;
- `savings_added`: sajja and special deposits inside the window, less withdrawals and exit payouts.
A reversed deposit or withdrawal counts as never made, on every date (a reversal corrects a mistake).
Counters of rules the campaign does not have stay 0.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
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
        first, last = max(start, rule.starts_on or start), min(end, rule.ends_on or end)
        joined = {m.member_id for m in facts.members if first <= m.joined_on <= last}
        result["new_members"] = len(joined)
        taking_part |= joined

    if rule := _rule(campaign, "commitment_raise"):
        raised = set()
        for m in facts.members:
            if m.joined_on > end:
                continue
            changes = facts.commitment_changes.get(m.member_id, ())
            baseline = (
                m.initial_commitment_satang if m.joined_on >= start else commitment_on(m, changes, start.replace(day=1))
            )
            if commitment_on(m, changes, end.replace(day=1)) - baseline >= max(rule.min_amount_satang, 1):
                raised.add(m.member_id)
        result["commitment_raises"] = len(raised)
        taking_part |= raised

    if rule := _rule(campaign, "special_deposit"):
        first, last = max(start, rule.starts_on or start), min(end, rule.ends_on or end)
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
    return [m for m in members if not campaign.provinces or m.province_code in campaign.provinces]
