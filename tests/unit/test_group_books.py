"""Every money event's posting set balances; the trial balance of any mix of them balances."""

from __future__ import annotations

import random
import uuid

import pytest

from services.ledger import books


def _payloads(rng: random.Random) -> list[tuple[str, dict[str, object]]]:
    account = rng.choice(["sajja", "special"])
    amount = rng.randint(1, 10**7)
    return [
        ("ledger.MemberEnrolled", {"entrance_fee_satang": amount}),
        ("ledger.SavingsDeposited", {"account": account, "amount_satang": amount}),
        ("ledger.OpeningBalanceRecorded", {"account": account, "amount_satang": amount}),
        ("ledger.SavingsWithdrawn", {"account": account, "amount_satang": amount}),
        ("ledger.TransactionReversed", {"account": account, "balance_delta_satang": -amount}),
        ("ledger.TransactionReversed", {"account": account, "balance_delta_satang": amount}),
        ("ledger.MemberExited", {"sajja_paid_out_satang": amount, "special_paid_out_satang": amount // 3}),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_each_posting_set_sums_to_zero(seed: int) -> None:
    for event_type, payload in _payloads(random.Random(seed)):
        postings = books.postings(event_type, payload)
        assert postings, event_type
        assert sum(p.debit_satang for p in postings) == sum(p.credit_satang for p in postings), event_type
        assert all(p.account in books.CHART for p in postings)


def test_events_that_move_no_money_post_nothing() -> None:
    assert books.postings("ledger.MemberEnrolled", {"member_id": str(uuid.uuid4())}) == []
    assert books.postings("ledger.ConsentGranted", {"member_id": str(uuid.uuid4())}) == []


def test_an_opening_balance_is_savings_held_and_the_cash_they_stood_for() -> None:
    opening = books.postings("ledger.OpeningBalanceRecorded", {"account": "sajja", "amount_satang": 120_000})
    assert opening == [
        books.Posting(books.CASH, debit_satang=120_000),
        books.Posting(books.SAJJA, credit_satang=120_000),
    ]
    assert books.MONEY_EVENTS["ledger.OpeningBalanceRecorded"] == "as_of"


def test_a_deposit_then_a_withdrawal() -> None:
    balances = {
        b.account: b.balance_satang
        for b in books.trial_balance(
            [
                books.postings("ledger.SavingsDeposited", {"account": "special", "amount_satang": 10_000}),
                books.postings("ledger.SavingsWithdrawn", {"account": "special", "amount_satang": 2_500}),
            ]
        )
    }
    assert balances[books.CASH] == 7_500
    assert balances[books.SPECIAL] == -7_500
    assert sum(balances.values()) == 0
