"""Events of the ledger service (topic sajja.ledger.v1). Personal data never appears here (DESIGN §3)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY

SavingsAccount = Literal["sajja", "special"]


@REGISTRY.register("ledger.GroupRegistered", 1)
class GroupRegistered(EventPayload):
    group_id: uuid.UUID
    name: str
    province_code: str = Field(pattern=r"^\d{2}$")
    district_code: str = Field(pattern=r"^\d{4}$")
    subdistrict_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    village: str | None = None
    founded_on: date


@REGISTRY.register("ledger.MemberEnrolled", 1)
class MemberEnrolled(EventPayload):
    member_id: uuid.UUID
    group_id: uuid.UUID
    joined_on: date
    monthly_commitment_satang: int = Field(ge=0)
    # Keyed hash of the national ID: lets duplicates be caught without the ID itself leaving the register.
    national_id_hash: str


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
