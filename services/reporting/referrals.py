"""Referral eligibility for partner banks (DOMAIN §3): rules as data, applied only to members with a
current consent for that partner and purpose. Pure.

A member is eligible when, on the date: they have been a member for the rule's months; no month-end
close in the last 12 months found a sajja installment missed (beyond the rule's allowance); no loan
installment was found more than the rule's days past due in the last 12 months; and their on-time
repayment ratio (repayments over repayments plus installments found overdue) is at least the rule's.
The score (0–100) weighs membership (up to 24 months, half) and the on-time ratio (half; a member who
never borrowed counts as on time), and every test passed or failed is in the evidence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict

PARTNERS = Path(__file__).with_name("partners")


class PartnerRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    partner: str
    purpose: str
    name_th: str
    name_en: str
    min_membership_months: int = 12
    max_missed_installments_12m: int = 0
    max_days_past_due_12m: int = 30
    min_on_time_ratio: Decimal = Decimal("0.95")
    contact_fields: tuple[str, ...] = ("full_name", "phone")


def load_partners() -> dict[str, PartnerRules]:
    rules = [PartnerRules.model_validate(json.loads(p.read_text())) for p in sorted(PARTNERS.glob("*.json"))]
    return {r.partner: r for r in rules}


@dataclass(frozen=True)
class LoanRecord:
    repayments: int
    overdue: int
    max_days_past_due: int
    last_overdue_on: date | None


@dataclass(frozen=True)
class Verdict:
    eligible: bool
    score: Decimal
    evidence: dict[str, str]


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month - (1 if last.day < first.day else 0)


def evaluate(
    rules: PartnerRules, joined_on: date, missed_months: Sequence[date], loans: Sequence[LoanRecord], as_of: date
) -> Verdict:
    year_ago = date(as_of.year - 1, as_of.month, min(as_of.day, 28))
    membership = months_between(joined_on, as_of)
    missed = sum(1 for m in missed_months if m > year_ago)
    late_loans = [
        loan
        for loan in loans
        if loan.max_days_past_due > rules.max_days_past_due_12m
        and loan.last_overdue_on
        and loan.last_overdue_on > year_ago
    ]
    repayments = sum(loan.repayments for loan in loans)
    overdue = sum(loan.overdue for loan in loans)
    ratio = Decimal(1) if repayments + overdue == 0 else Decimal(repayments) / Decimal(repayments + overdue)
    checks = {
        "membership": membership >= rules.min_membership_months,
        "installments": missed <= rules.max_missed_installments_12m,
        "arrears": not late_loans,
        "repayment": ratio >= rules.min_on_time_ratio,
    }
    score = (Decimal(min(membership, 24)) / 24 * 50 + ratio * 50).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    evidence = {
        "membership": f"เป็นสมาชิก {membership} เดือน (เกณฑ์ {rules.min_membership_months})",
        "installments": f"ขาดส่งสัจจะ {missed} งวดใน 12 เดือน (เกณฑ์ไม่เกิน {rules.max_missed_installments_12m})",
        "arrears": "ไม่มีหนี้ค้างเกิน " + f"{rules.max_days_past_due_12m} วัน" if not late_loans else "มีหนี้ค้างชำระเกินเกณฑ์",
        "repayment": f"ชำระตรงงวด {repayments} ครั้ง ค้างชำระ {overdue} งวด (สัดส่วน {ratio.quantize(Decimal('0.01'))})",
    }
    evidence |= {f"{name}_passed": "ผ่าน" if ok else "ไม่ผ่าน" for name, ok in checks.items()}
    return Verdict(all(checks.values()), score, evidence)


def pseudonym(key: str, partner: str, member_id: uuid.UUID) -> str:
    """The id a partner sees: stable for that partner, unlinkable across partners without the key."""
    return hmac.new(key.encode(), f"{partner}:{member_id}".encode(), hashlib.sha256).hexdigest()[:24]


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """The webhook signature header: HMAC-SHA256 over "<timestamp>.<body>" (replay-safe with the time)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
