"""A pawn customer's consents to share their pawn record with a partner (DOMAIN §3: the pawnshop refers
its good customers to GSB). Pure. The customer is known only by the office's own pseudonymous
`customer_ref`; their consents live on one stream per customer, as a member's do in the ledger."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from libs.events.envelope import EventPayload
from libs.events.schemas.lending import PawnCustomerConsentGranted, PawnCustomerConsentWithdrawn
from services.lending.domain import LendingRuleBroken

# What a customer reference may look like: it names a stream and sits in URLs (…/customers/{customer_ref}/…).
CUSTOMER_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

_SEPARATORS = re.compile(r"[\s.()-]")
# A run of digits inside a reference, possibly split by single separators ("C-0812-345-678").
_DIGIT_RUN = re.compile(r"\d(?:[\s.-]?\d)*")


def _valid_national_id(digits: str) -> bool:
    """13 digits whose last is the MOD-11 check digit (research/thai-domain.md §2.1); any first digit."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def _phone(digits: str) -> bool:
    """A Thai number: 0 and 8 or 9 digits (02-xxx-xxxx, 0xx-xxx-xxx, 08x-xxx-xxxx), or the same after +66/0066."""
    national = re.sub(r"^(?:\+66|0066|66)(?=[1-9])", "0", digits)
    return bool(re.fullmatch(r"0[1-9]\d{7,8}", national))


def personal_data_in_customer_ref(customer_ref: str) -> str | None:
    """Pure: what personal data a customer reference looks like, or None. The reference is the office's own
    pseudonym and is published in events and partners' feeds, so it must not be a national ID (13 digits with
    a valid check digit), a phone number or a bank account number (10–12 digits), with or without separators;
    nor carry an ID or a mobile number inside ("C-0812345678"). Office references like "PS-0001-2567" pass."""
    whole = _SEPARATORS.sub("", customer_ref)
    if re.fullmatch(r"\+?\d+", whole):
        if _valid_national_id(whole):
            return "a national ID number"
        if _phone(whole):
            return "a phone number"
        if 10 <= len(whole) <= 12:
            return "a bank account number"
    for run in _DIGIT_RUN.findall(customer_ref):
        digits = _SEPARATORS.sub("", run)
        if _valid_national_id(digits):
            return "a national ID number"
        if re.fullmatch(r"0[689]\d{8}", digits):
            return "a mobile phone number"
    return None


def check_customer_ref(customer_ref: str) -> None:
    """Refuse a customer reference that looks like personal data (422, naming the field)."""
    found = personal_data_in_customer_ref(customer_ref)
    if found is not None:
        raise LendingRuleBroken(
            f"looks like {found}: use the office's own customer number, never personal data", "customer_ref"
        )


def customer_stream(customer_ref: str) -> str:
    return f"pawn-customer-{customer_ref}"


@dataclass(frozen=True)
class PawnCustomer:
    customer_ref: str
    version: int = 0
    # (partner, purpose) → notice version of the consent in force; absent when none is.
    consents: dict[tuple[str, str], str] = field(default_factory=dict)


def customer_from_events(customer_ref: str, events: Iterable[tuple[EventPayload, int]]) -> PawnCustomer:
    """The customer as their stream tells it; a customer with no stream yet has no consents."""
    customer = PawnCustomer(customer_ref)
    for payload, version in events:
        if isinstance(payload, PawnCustomerConsentGranted):
            consents = customer.consents | {(payload.partner, payload.purpose): payload.notice_version}
        elif isinstance(payload, PawnCustomerConsentWithdrawn):
            consents = {k: v for k, v in customer.consents.items() if k != (payload.partner, payload.purpose)}
        else:
            consents = customer.consents
        customer = replace(customer, consents=consents, version=version)
    return customer


def decide_consent(
    customer: PawnCustomer, partner: str, purpose: str, granted: bool, notice_version: str | None
) -> PawnCustomerConsentGranted | PawnCustomerConsentWithdrawn:
    """Grant consent to a notice for a partner and purpose, or withdraw it (at once). The same rules as a
    member's consent in the ledger: a grant names its notice; granting the notice already in force, or
    withdrawing a consent not in force, is refused."""
    check_customer_ref(customer.customer_ref)
    current = customer.consents.get((partner, purpose))
    if granted:
        if not notice_version:
            raise LendingRuleBroken("is required when consent is granted", "notice_version")
        if current == notice_version:
            raise LendingRuleBroken(f"consent to notice {notice_version} is already in force", "granted", 409)
        return PawnCustomerConsentGranted(
            customer_ref=customer.customer_ref, partner=partner, purpose=purpose, notice_version=notice_version
        )
    if current is None:
        raise LendingRuleBroken(f"there is no consent for {partner}/{purpose} to withdraw", "granted", 409)
    return PawnCustomerConsentWithdrawn(customer_ref=customer.customer_ref, partner=partner, purpose=purpose)
