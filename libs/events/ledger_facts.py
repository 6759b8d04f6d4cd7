"""What other services read off the ledger topic, in one place: how each ledger event moves a member's
savings. Reporting's balances and lending's view of its borrowers both fold these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def savings_change(event_type: str, payload: Mapping[str, Any]) -> tuple[str, str, int, int] | None:
    """(member id, group id, change to sajja, change to special) for an event that moves a member's
    savings; None for any other event."""
    if event_type in ("ledger.SavingsDeposited", "ledger.OpeningBalanceRecorded", "ledger.SavingsWithdrawn"):
        amount = int(payload["amount_satang"]) * (-1 if event_type == "ledger.SavingsWithdrawn" else 1)
        sajja, special = (amount, 0) if payload["account"] == "sajja" else (0, amount)
    elif event_type == "ledger.TransactionReversed":
        delta = int(payload["balance_delta_satang"])
        sajja, special = (delta, 0) if payload["account"] == "sajja" else (0, delta)
    elif event_type == "ledger.MemberExited":
        sajja, special = -int(payload["sajja_paid_out_satang"]), -int(payload["special_paid_out_satang"])
    elif event_type == "ledger.DividendPaid" and payload["paid_into"] == "special":
        sajja, special = 0, int(payload["dividend_satang"]) + int(payload["rebate_satang"])
    else:
        return None
    return payload["member_id"], payload["group_id"], sajja, special
