"""Installments and the month-end close, pure."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from libs.events.envelope import Area
from libs.events.schemas.ledger import (
    CommitmentChanged,
    GroupRegistered,
    InstallmentMissed,
    MemberEnrolled,
    MemberExited,
    MonthClosed,
    SavingsDeposited,
    TransactionReversed,
)
from services.ledger import domain, installments
from services.ledger.months import may_fall_in_a_closable_month, month_end, next_month

GROUP_ID = uuid.uuid4()
AREA = Area(province_code="27", district_code="2701")
TODAY = date(2024, 3, 6)


def group(*closes: date) -> domain.Group:
    events: list[tuple[object, int]] = [
        (
            GroupRegistered(
                group_id=GROUP_ID, name="g", province_code="27", district_code="2701", founded_on=date(2023, 11, 1)
            ),
            1,
        )
    ]
    for v, month in enumerate(closes, start=2):
        events.append(
            (
                MonthClosed(
                    group_id=GROUP_ID, month=month, members_due=0, members_missed=0, due_satang=0, paid_satang=0
                ),
                v,
            )
        )
    found = domain.group_from_events(events)  # type: ignore[arg-type]
    assert found is not None
    return found


def member(joined: date, commitment: int, *later: object) -> domain.Member:
    member_id = uuid.uuid4()
    events: list[tuple[object, int]] = [
        (
            MemberEnrolled(
                member_id=member_id,
                group_id=GROUP_ID,
                joined_on=joined,
                monthly_commitment_satang=commitment,
                national_id_hash="h",
            ),
            1,
        )
    ]
    events += [(e, v) for v, e in enumerate(later, start=2)]
    found = domain.member_from_events(events, AREA)  # type: ignore[arg-type]
    assert found is not None
    return found


def sajja(member_id: uuid.UUID, satang: int, on: date, tx: uuid.UUID | None = None) -> SavingsDeposited:
    return SavingsDeposited(
        transaction_id=tx or uuid.uuid4(),
        member_id=member_id,
        group_id=GROUP_ID,
        account="sajja",
        amount_satang=satang,
        deposited_on=on,
        balance_after_satang=0,
    )


def test_month_arithmetic() -> None:
    assert month_end(date(2024, 2, 1)) == date(2024, 2, 29)
    assert next_month(date(2023, 12, 1)) == date(2024, 1, 1)
    # Entries in the running month need no lock, except on a month's last day; earlier months do.
    assert not may_fall_in_a_closable_month(date(2024, 3, 5), TODAY)
    assert may_fall_in_a_closable_month(date(2024, 2, 20), TODAY)
    assert may_fall_in_a_closable_month(date(2024, 3, 31), date(2024, 3, 31))


def test_the_close_records_each_member_who_paid_less_than_due() -> None:
    jan = date(2024, 1, 1)
    full = member(date(2023, 12, 1), 10_000)
    full = member(
        date(2023, 12, 1),
        10_000,
        sajja(full.member_id, 6_000, date(2024, 1, 5)),
        sajja(full.member_id, 4_000, date(2024, 1, 28)),
    )
    short = member(date(2023, 12, 1), 10_000)
    short = member(date(2023, 12, 1), 10_000, sajja(short.member_id, 5_000, date(2024, 1, 5)))
    nothing = member(date(2023, 12, 1), 5_000)
    joined_later = member(date(2024, 2, 3), 5_000)
    left = member(date(2023, 12, 1), 5_000)
    left = member(
        date(2023, 12, 1),
        5_000,
        MemberExited(
            member_id=left.member_id,
            group_id=GROUP_ID,
            exited_on=date(2024, 1, 10),
            sajja_paid_out_satang=0,
            special_paid_out_satang=0,
        ),
    )
    closed, missed = installments.close_month(
        group(date(2023, 12, 1)), [full, short, nothing, joined_later, left], jan, TODAY
    )
    assert (closed.month, closed.members_due, closed.members_missed) == (jan, 3, 2)
    assert (closed.due_satang, closed.paid_satang) == (25_000, 15_000)
    assert {(e.member_id, e.due_satang, e.paid_satang) for e in missed} == {
        (short.member_id, 10_000, 5_000),
        (nothing.member_id, 5_000, 0),
    }


def test_commitment_changes_and_reversals_change_what_is_due_and_paid() -> None:
    base = member(date(2023, 12, 1), 10_000)
    tx = uuid.uuid4()
    m = member(
        date(2023, 12, 1),
        10_000,
        CommitmentChanged(
            member_id=base.member_id,
            group_id=GROUP_ID,
            previous_monthly_commitment_satang=10_000,
            monthly_commitment_satang=15_000,
            effective_month=date(2024, 2, 1),
        ),
        sajja(base.member_id, 15_000, date(2024, 2, 5), tx),
        TransactionReversed(
            member_id=base.member_id,
            group_id=GROUP_ID,
            transaction_id=tx,
            reversed_kind="deposit",
            account="sajja",
            amount_satang=15_000,
            balance_delta_satang=-15_000,
            reason="ซ้ำ",
        ),
        sajja(base.member_id, 15_000, date(2024, 2, 6)),
        sajja(base.member_id, 5_000, date(2024, 2, 7)),
    )
    assert installments.commitment_due(m, date(2024, 1, 1)) == 10_000
    assert installments.commitment_due(m, date(2024, 2, 1)) == 15_000
    assert m.sajja_paid_by_month[date(2024, 2, 1)] == 20_000


def test_schedule_shows_closed_verdicts_open_months_and_upcoming_ones() -> None:
    base = member(date(2023, 12, 1), 10_000)
    m = member(
        date(2023, 12, 1),
        10_000,
        sajja(base.member_id, 10_000, date(2023, 12, 5)),
        InstallmentMissed(
            member_id=base.member_id, group_id=GROUP_ID, month=date(2024, 1, 1), due_satang=10_000, paid_satang=0
        ),
    )
    lines = installments.schedule(m, date(2023, 11, 1), date(2024, 4, 1), date(2024, 1, 1), TODAY)
    assert [(line.month.month, line.status, line.paid_satang) for line in lines] == [
        (12, "met", 10_000),
        (1, "missed", 0),
        (2, "open", 0),
        (3, "open", 0),
        (4, "upcoming", 0),
    ]


@pytest.mark.parametrize(
    ("closes", "month", "message"),
    [
        ((), date(2024, 3, 1), "has not ended"),
        ((), date(2023, 10, 1), "founded"),
        ((date(2024, 1, 1),), date(2024, 1, 1), "closed already"),
        ((date(2023, 12, 1),), date(2024, 2, 1), "2024-01 must be closed first"),
        ((), date(2024, 1, 15), "first day"),
    ],
)
def test_close_refusals(closes: tuple[date, ...], month: date, message: str) -> None:
    with pytest.raises(domain.LedgerRuleBroken, match=message):
        installments.close_month(group(*closes), [], month, TODAY)


def test_entries_dated_in_a_closed_month_are_refused_and_open_months_take_them() -> None:
    m = member(date(2023, 12, 1), 10_000)
    closed_through = date(2024, 1, 1)
    with pytest.raises(domain.LedgerRuleBroken, match="2024-01 is closed") as refused:
        domain.deposit(m, uuid.uuid4(), "sajja", 100, date(2024, 1, 31), TODAY, closed_through)
    assert refused.value.status == 409 and refused.value.field == "deposited_on"
    assert domain.deposit(m, uuid.uuid4(), "sajja", 100, date(2024, 2, 1), TODAY, closed_through).amount_satang == 100
    with pytest.raises(domain.LedgerRuleBroken, match="closed"):
        domain.exit_member(m, date(2024, 1, 2), None, TODAY, closed_through)
    with pytest.raises(domain.LedgerRuleBroken, match="closed"):
        domain.change_commitment(m, domain.GroupRules(), 15_000, date(2024, 1, 1), TODAY, closed_through)
    with pytest.raises(domain.LedgerRuleBroken, match="closed"):
        domain.enroll_member(
            group(date(2023, 12, 1), closed_through), uuid.uuid4(), date(2024, 1, 9), 5_000, "h", TODAY
        )
