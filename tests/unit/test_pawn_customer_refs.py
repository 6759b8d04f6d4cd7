"""A pawn customer's reference is the office's own pseudonym and is published (issue 12): it must not be a
national ID, a phone number or a bank account number, and it must be usable in a URL path."""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest

from libs.events.free_text import FreeText
from services.lending.domain import LendingRuleBroken
from services.lending.pawn_customers import (
    CUSTOMER_REF_PATTERN,
    PawnCustomer,
    decide_consent,
    personal_data_in_customer_ref,
)
from services.lending.pawn_tickets import pledge_item

PERSONAL = {
    # National IDs with a valid check digit, plain and as printed on the card.
    "1101700207030": "a national ID number",
    "1-1017-00207-03-0": "a national ID number",
    "1 1017 00207 03 0": "a national ID number",
    "3100600123450": "a national ID number",
    # Phones: mobile, Bangkok and provincial lines, international forms.
    "0812345678": "a phone number",
    "081-234-5678": "a phone number",
    "091 234 5678": "a phone number",
    "02-123-4567": "a phone number",
    "037-123-456": "a phone number",
    "+66812345678": "a phone number",
    "+66 81 234 5678": "a phone number",
    "66812345678": "a phone number",
    "0066812345678": "a phone number",
    # Bank accounts: 10 (commercial banks) to 12 digits (GSB, BAAC), with or without dashes.
    "1234567890": "a bank account number",
    "123-4-56789-0": "a bank account number",
    "020012345678": "a bank account number",
    "0200-1234-5678": "a bank account number",
    # An ID or a mobile number inside an office-looking reference.
    "C-1101700207030": "a national ID number",
    "cust0812345678": "a mobile phone number",
    "PS-081-234-5678": "a mobile phone number",
}
OFFICE_REFS = [
    "PS-0001-2567",
    "C123456",
    "c-7f3a91",
    "BKK01-000123",
    "PS-2567-000123",
    "pawn.customer_42",
    "123456789",  # nine digits, not starting with 0: a plain counter
    "1101700207031",  # thirteen digits whose check digit does not hold: not an ID
]


@pytest.mark.parametrize(("ref", "found"), sorted(PERSONAL.items()))
def test_personal_data_is_recognised(ref: str, found: str) -> None:
    assert personal_data_in_customer_ref(ref) == found


@pytest.mark.parametrize("ref", OFFICE_REFS)
def test_office_references_pass(ref: str) -> None:
    assert personal_data_in_customer_ref(ref) is None
    assert re.fullmatch(CUSTOMER_REF_PATTERN, ref)


@pytest.mark.parametrize("ref", ["a/b", "../x", "c 1", "c%2F1", "", "-c1", "x" * 65, "ลูกค้า1", "c?1", "c#1"])
def test_the_url_safe_pattern_refuses_what_a_path_cannot_carry(ref: str) -> None:
    assert not re.fullmatch(CUSTOMER_REF_PATTERN, ref)


def test_tickets_and_consents_refuse_a_personal_reference_naming_the_field() -> None:
    with pytest.raises(LendingRuleBroken) as ticket:
        pledge_item(
            uuid.uuid4(),
            uuid.uuid4(),
            "BKK-01",
            "1101700207030",
            "gold",
            FreeText.of("item_description", "แหวน"),
            1_000_000,
            800_000,
            date(2025, 3, 1),
            "cash",
            date(2025, 3, 1),
        )
    assert ticket.value.field == "customer_ref" and ticket.value.status == 422
    assert "national ID" in ticket.value.message
    with pytest.raises(LendingRuleBroken) as consent:
        decide_consent(PawnCustomer("0812345678"), "gsb", "pawn-customer-referral", True, "2025-01")
    assert consent.value.field == "customer_ref" and consent.value.status == 422
    events = pledge_item(
        uuid.uuid4(),
        uuid.uuid4(),
        "BKK-01",
        "PS-0001-2567",
        "gold",
        FreeText.of("item_description", "แหวน"),
        1_000_000,
        800_000,
        date(2025, 3, 1),
        "cash",
        date(2025, 3, 1),
    )
    assert len(events) == 3
