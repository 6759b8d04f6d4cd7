"""Events of the ledger service (topic sajja.ledger.v1). Personal data never appears here (DESIGN §3)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY

SavingsAccount = Literal["sajja", "special"]


class GroupRules(EventPayload):
    """A group's own rules, as data. Defaults follow common practice in CDD savings groups."""

    # Commitments are whole shares ("หุ้น") of this value, commonly 50 baht.
    share_value_satang: int = Field(default=5_000, gt=0)
    min_monthly_commitment_satang: int = Field(default=5_000, gt=0)
    max_monthly_commitment_satang: int = Field(default=500_000, gt=0)
    entrance_fee_satang: int = Field(default=0, ge=0)
    collection_day: int = Field(default=5, ge=1, le=28)
    # Sajja savings are normally returned only when a member leaves.
    sajja_withdrawable_before_exit: bool = False
    special_withdrawals_allowed: bool = True


@REGISTRY.register("ledger.GroupRegistered", 1)
class GroupRegistered(EventPayload):
    group_id: uuid.UUID
    name: str
    province_code: str = Field(pattern=r"^\d{2}$")
    district_code: str = Field(pattern=r"^\d{4}$")
    subdistrict_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    village: str | None = None
    founded_on: date
    rules: GroupRules = Field(default_factory=GroupRules)


@REGISTRY.register("ledger.MemberEnrolled", 1)
class MemberEnrolled(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    joined_on: date
    monthly_commitment_satang: int = Field(ge=0)
    # Keyed hash of the national ID: lets duplicates be caught without the ID itself leaving the register.
    national_id_hash: str
    # The group's entrance fee, paid on enrolment (group income).
    entrance_fee_satang: int = Field(default=0, ge=0)


@REGISTRY.register("ledger.SavingsDeposited", 1)
class SavingsDeposited(EventPayload):
    transaction_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    deposited_on: date
    balance_after_satang: int


@REGISTRY.register("ledger.CommitmentChanged", 1)
class CommitmentChanged(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    previous_monthly_commitment_satang: int = Field(ge=0)
    monthly_commitment_satang: int = Field(gt=0)
    # First day of the month from which the new commitment is due.
    effective_month: date


@REGISTRY.register("ledger.SavingsWithdrawn", 1)
class SavingsWithdrawn(EventPayload):
    transaction_id: uuid.UUID
    member_id: uuid.UUID
    group_id: uuid.UUID
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    withdrawn_on: date
    balance_after_satang: int = Field(ge=0)


PartnerSlug = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")


@REGISTRY.register("ledger.ConsentGranted", 1)
class ConsentGranted(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    partner: str = PartnerSlug
    purpose: str = PartnerSlug
    # The version of the notice the member was shown (PDPA: consent is to a specific notice).
    notice_version: str = Field(min_length=1, max_length=40)


@REGISTRY.register("ledger.ConsentWithdrawn", 1)
class ConsentWithdrawn(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    partner: str = PartnerSlug
    purpose: str = PartnerSlug


@REGISTRY.register("ledger.MemberExited", 1)
class MemberExited(EventPayload):
    """The member leaves: both balances are paid out and the membership closes."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    exited_on: date
    sajja_paid_out_satang: int = Field(ge=0)
    special_paid_out_satang: int = Field(ge=0)
    reason: str | None = Field(default=None, max_length=500)


@REGISTRY.register("ledger.TransactionReversed", 1)
class TransactionReversed(EventPayload):
    """A correction: the named deposit or withdrawal is undone. Nothing is edited in place."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    transaction_id: uuid.UUID
    reversed_kind: Literal["deposit", "withdrawal"]
    account: SavingsAccount
    amount_satang: int = Field(gt=0)
    # The change to the account's balance: minus a reversed deposit, plus a reversed withdrawal.
    balance_delta_satang: int
    reason: str = Field(min_length=1, max_length=500)


@REGISTRY.register("ledger.MemberDataErased", 1)
class MemberDataErased(EventPayload):
    """The member's personal data was erased from the register (PDPA). The books stay whole."""

    member_id: uuid.UUID
    group_id: uuid.UUID


@REGISTRY.register("ledger.InstallmentMissed", 1)
class InstallmentMissed(EventPayload):
    """Recorded by the month-end close: the member's sajja deposits dated in `month` fell short of the
    commitment due for it."""

    member_id: uuid.UUID
    group_id: uuid.UUID
    # First day of the month the installment was due in.
    month: date
    due_satang: int = Field(gt=0)
    paid_satang: int = Field(ge=0)


@REGISTRY.register("ledger.MonthClosed", 1)
class MonthClosed(EventPayload):
    """The group closed a month: entries dated in it (or earlier) are refused from now on."""

    group_id: uuid.UUID
    month: date
    members_due: int = Field(ge=0)
    members_missed: int = Field(ge=0)
    due_satang: int = Field(ge=0)
    paid_satang: int = Field(ge=0)
