from __future__ import annotations

import dataclasses
import uuid
from datetime import date

import pytest

from libs.events.envelope import Area
from libs.events.schemas.ledger import GroupRules, MemberEnrolled, SavingsDeposited
from services.ledger import domain

TODAY = date(2024, 3, 6)
RULES = GroupRules()


def test_national_id_check_digit_accepts_valid_and_refuses_a_typo() -> None:
    first = "110170020703"
    valid = first + str(domain.national_id_check_digit(first))
    assert domain.validate_national_id(valid) == valid
    assert domain.validate_national_id(f"{valid[0]}-{valid[1:5]}-{valid[5:10]}-{valid[10:12]}-{valid[12]}") == valid
    typo = valid[:12] + str((int(valid[12]) + 1) % 10)
    with pytest.raises(domain.LedgerRuleBroken, match="check digit"):
        domain.validate_national_id(typo)
    with pytest.raises(domain.LedgerRuleBroken, match="13 digits"):
        domain.validate_national_id("12345")
    # Digits of other scripts (full-width, Thai) are digits to Python and would hash to another value than the
    # same ID in ASCII, slipping past the duplicate check: refused as the API's other fields are.
    for foreign in (valid.translate(str.maketrans("0123456789", "０１２３４５６７８９")), valid.translate(
        str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙"))):  # fmt: skip
        with pytest.raises(domain.LedgerRuleBroken, match="13 digits"):
            domain.validate_national_id(foreign)


def test_national_id_hash_is_keyed() -> None:
    assert domain.national_id_hash("1101700207030", "a") != domain.national_id_hash("1101700207030", "b")
    assert domain.national_id_hash("1101700207030", "a") == domain.national_id_hash("1101700207030", "a")


def test_group_district_must_lie_in_its_province() -> None:
    with pytest.raises(domain.LedgerRuleBroken) as caught:
        domain.register_group(uuid.uuid4(), "กลุ่ม", "27", "1001", None, None, date(2000, 1, 1), TODAY)
    assert caught.value.field == "district_code"


def _member() -> domain.Member:
    member_id, group_id = uuid.uuid4(), uuid.uuid4()
    enrolled = MemberEnrolled(
        member_id=member_id,
        group_id=group_id,
        joined_on=date(2023, 12, 1),
        monthly_commitment_satang=10000,
        national_id_hash="x",
    )
    member = domain.member_from_events([(enrolled, 1)], Area(province_code="27", district_code="2701"))
    assert member is not None
    return member


def test_deposits_fold_into_balances() -> None:
    member = _member()
    first = domain.deposit(member, uuid.uuid4(), "sajja", 10000, date(2024, 1, 5), TODAY)
    assert first.balance_after_satang == 10000
    events = [
        (
            MemberEnrolled(
                member_id=member.member_id,
                group_id=member.group_id,
                joined_on=member.joined_on,
                monthly_commitment_satang=10000,
                national_id_hash="x",
            ),
            1,
        ),
        (first, 2),
        (
            SavingsDeposited(
                transaction_id=uuid.uuid4(),
                member_id=member.member_id,
                group_id=member.group_id,
                account="special",
                amount_satang=5025,
                deposited_on=date(2024, 1, 6),
                balance_after_satang=5025,
            ),
            3,
        ),
    ]
    folded = domain.member_from_events(events)
    assert folded is not None
    assert folded.balances == {"sajja": 10000, "special": 5025}
    assert folded.version == 3
    assert domain.describe_balance(folded) == {"sajja": "100.00", "special": "50.25", "total": "150.25"}


@pytest.mark.parametrize(
    ("amount", "on", "field"),
    [
        (0, date(2024, 1, 5), "amount"),
        (100, date(2023, 11, 30), "deposited_on"),
        (100, date(2024, 3, 7), "deposited_on"),
    ],
)
def test_deposit_rules(amount: int, on: date, field: str) -> None:
    with pytest.raises(domain.LedgerRuleBroken) as caught:
        domain.deposit(_member(), uuid.uuid4(), "sajja", amount, on, TODAY)
    assert caught.value.field == field


def test_commitment_change_records_old_and_new_from_the_month() -> None:
    member = _member()
    event = domain.change_commitment(member, RULES, 15000, date(2024, 1, 20), TODAY)
    assert (event.previous_monthly_commitment_satang, event.monthly_commitment_satang) == (10000, 15000)
    assert event.effective_month == date(2024, 1, 1)
    raised = domain.member_from_events(
        [
            (
                MemberEnrolled(
                    member_id=member.member_id,
                    group_id=member.group_id,
                    joined_on=member.joined_on,
                    monthly_commitment_satang=10000,
                    national_id_hash="x",
                ),
                1,
            ),
            (event, 2),
        ]
    )
    assert raised is not None and raised.monthly_commitment_satang == 15000 and raised.version == 2


@pytest.mark.parametrize(
    ("amount", "on", "field"),
    [
        (10000, date(2024, 1, 1), "monthly_commitment"),
        (15000, date(2023, 11, 1), "effective_on"),
        (15000, date(2025, 4, 1), "effective_on"),
    ],
)
def test_commitment_change_rules(amount: int, on: date, field: str) -> None:
    with pytest.raises(domain.LedgerRuleBroken) as caught:
        domain.change_commitment(_member(), RULES, amount, on, TODAY)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("satang", "message"),
    [(7500, "whole number of shares"), (0, "whole number"), (505000, "between"), (5000 * 0 + 2500, "shares")],
)
def test_commitments_follow_the_group_share_rules(satang: int, message: str) -> None:
    with pytest.raises(domain.LedgerRuleBroken) as caught:
        domain.change_commitment(_member(), RULES, satang or 1, date(2024, 1, 1), TODAY)
    assert message.split()[0] in caught.value.message


def _with_balances(sajja: int, special: int) -> domain.Member:
    member = _member()
    return dataclasses.replace(member, balances={"sajja": sajja, "special": special})


def test_withdrawals_never_go_below_zero_and_sajja_waits_for_exit() -> None:
    member = _with_balances(10000, 3000)
    event = domain.withdraw(member, RULES, uuid.uuid4(), "special", 3000, date(2024, 2, 1), TODAY)
    assert event.balance_after_satang == 0
    with pytest.raises(domain.LedgerRuleBroken) as short:
        domain.withdraw(member, RULES, uuid.uuid4(), "special", 3001, date(2024, 2, 1), TODAY)
    assert short.value.status == 409 and short.value.field == "amount"
    with pytest.raises(domain.LedgerRuleBroken) as sajja:
        domain.withdraw(member, RULES, uuid.uuid4(), "sajja", 100, date(2024, 2, 1), TODAY)
    assert sajja.value.status == 409 and sajja.value.field == "account"
    lenient = GroupRules(sajja_withdrawable_before_exit=True)
    assert (
        domain.withdraw(member, lenient, uuid.uuid4(), "sajja", 100, date(2024, 2, 1), TODAY).balance_after_satang
        == 9900
    )
