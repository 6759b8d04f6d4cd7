"""A pawn customer's consents to share their pawn record with a partner (DOMAIN §3: the pawnshop refers
its good customers to GSB). Pure. The customer is known only by the office's own pseudonymous
`customer_ref`; their consents live on one stream per customer, as a member's do in the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from libs.events.envelope import EventPayload
from libs.events.schemas.lending import PawnCustomerConsentGranted, PawnCustomerConsentWithdrawn
from services.lending.domain import LendingRuleBroken


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
