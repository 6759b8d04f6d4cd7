"""A pawn customer's consents, decided in lending as a member's are in the ledger."""

from __future__ import annotations

import pytest

from libs.events.schemas.lending import PawnCustomerConsentGranted, PawnCustomerConsentWithdrawn
from services.lending.domain import LendingRuleBroken
from services.lending.pawn_customers import PawnCustomer, customer_from_events, customer_stream, decide_consent

PURPOSE = ("gsb", "pawn-customer-referral")


def test_grant_then_withdraw() -> None:
    customer = PawnCustomer("c-0001")
    granted = decide_consent(customer, *PURPOSE, True, "2025-01")
    assert granted == PawnCustomerConsentGranted(
        customer_ref="c-0001", partner="gsb", purpose="pawn-customer-referral", notice_version="2025-01"
    )
    customer = customer_from_events("c-0001", [(granted, 1)])
    assert customer.consents == {PURPOSE: "2025-01"} and customer.version == 1
    withdrawn = decide_consent(customer, *PURPOSE, False, None)
    assert isinstance(withdrawn, PawnCustomerConsentWithdrawn)
    assert customer_from_events("c-0001", [(granted, 1), (withdrawn, 2)]).consents == {}


def test_refusals() -> None:
    customer = PawnCustomer("c-0001")
    with pytest.raises(LendingRuleBroken) as no_notice:
        decide_consent(customer, *PURPOSE, True, None)
    assert no_notice.value.field == "notice_version" and no_notice.value.status == 422
    with pytest.raises(LendingRuleBroken) as nothing:
        decide_consent(customer, *PURPOSE, False, None)
    assert nothing.value.status == 409
    consenting = PawnCustomer("c-0001", 1, {PURPOSE: "2025-01"})
    with pytest.raises(LendingRuleBroken) as again:
        decide_consent(consenting, *PURPOSE, True, "2025-01")
    assert again.value.status == 409
    # A new notice may be consented to while an older one is in force.
    assert decide_consent(consenting, *PURPOSE, True, "2025-07").notice_version == "2025-07"  # type: ignore[union-attr]


def test_one_stream_per_customer() -> None:
    assert customer_stream("c-0001") == "pawn-customer-c-0001"
