"""Referral eligibility for partner banks (DOMAIN §3): rules as data, applied only to members with a
current consent for that partner and purpose. Pure.

A member is eligible when, on the date: they have been a member for the rule's months; no month-end
close in the last 12 months found a sajja installment missed (beyond the rule's allowance); no loan
installment was found more than the rule's days past due in the last 12 months; and their on-time
repayment ratio (repayments over repayments plus installments found overdue) is at least the rule's.
The score (0–100) weighs membership (up to 24 months, half) and the on-time ratio (half; a member who
never borrowed counts as on time), and every test passed or failed is in the evidence.

Pawn customers (rule sets with "subjects": "pawn-customers") are not members: the pawnshop office names
them only by its own `customer_ref`. One is referred when they have a consent in force for the rule
set's partner and purpose and, on the date, in the 12 months before it (the day a year before excluded):
at least the rule's number of tickets redeemed on time — on or before the maturity date in force, with
every renewal (ต่อดอก) on the ticket paid on or before the maturity date in force when it was paid —
at most the rule's late redemptions and forfeits, on-time redeemed principal of at least the rule's
minimum, and no ticket still open past its maturity date. Events after the date are not counted. The
score weighs the number of on-time redemptions (half, full at twice the minimum) and the share of the
12 months' tickets settled on time (half; late redemptions and forfeits count against it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.money import NonNegativeAmount, format_baht

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
    subjects: Literal["members"] = "members"


class PawnCustomerRules(BaseModel):
    """Who among the pawnshop office's customers a partner is referred, and what it may learn of them:
    only the office's own reference and the branch that knows them (Sajja holds no name or phone for
    pawn customers; the partner reaches the customer through the office)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partner: str
    purpose: str
    name_th: str
    name_en: str
    subjects: Literal["pawn-customers"]
    min_on_time_redemptions_12m: int = Field(default=3, ge=1)
    max_late_redemptions_12m: int = Field(default=0, ge=0)
    max_forfeits_12m: int = Field(default=0, ge=0)
    # Principal of the tickets redeemed on time in the 12 months, at least (a decimal string of baht).
    min_on_time_principal: NonNegativeAmount = 0
    contact_fields: tuple[Literal["customer_ref", "branch_code"], ...] = ("customer_ref", "branch_code")


RuleSet = PartnerRules | PawnCustomerRules


def parse_rule_set(data: dict[str, Any]) -> RuleSet:
    if data.get("subjects") == "pawn-customers":
        return PawnCustomerRules.model_validate(data)
    return PartnerRules.model_validate(data)


def load_rule_sets(directory: Path = PARTNERS) -> dict[str, tuple[RuleSet, ...]]:
    """Each partner's rule sets (one file each), keyed by partner; a partner's purposes must differ,
    since a feed entry is known by its partner and purpose."""
    found: dict[str, tuple[RuleSet, ...]] = {}
    for path in sorted(directory.glob("*.json")):
        rules = parse_rule_set(json.loads(path.read_text()))
        if any(r.purpose == rules.purpose for r in found.get(rules.partner, ())):
            raise ValueError(f"{path.name}: {rules.partner} has two rule sets for purpose {rules.purpose}")
        found[rules.partner] = (*found.get(rules.partner, ()), rules)
    return found


def load_partners() -> dict[str, PartnerRules]:
    """The member rule set of each partner that has one."""
    return {partner: r for partner, sets in load_rule_sets().items() for r in sets if isinstance(r, PartnerRules)}


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


def pseudonym(key: str, partner: str, member_id: uuid.UUID | str) -> str:
    """The id a partner sees: stable for that partner, unlinkable across partners without the key."""
    return hmac.new(key.encode(), f"{partner}:{member_id}".encode(), hashlib.sha256).hexdigest()[:24]


def pawn_subject(customer_ref: str) -> str:
    """What a pawn customer's pseudonym is derived from: never equal to a member id."""
    return f"pawn-customer:{customer_ref}"


# --- pawn customers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renewal:
    paid_on: date
    due_by: date  # the maturity date in force when the interest was paid


@dataclass(frozen=True)
class PawnTicketRecord:
    branch_code: str
    principal_satang: int
    pledged_on: date
    maturity_date: date  # in force now: the pledge's, then the last renewal's
    renewals: tuple[Renewal, ...] = ()
    redeemed_on: date | None = None
    forfeited_on: date | None = None
    paid_out: bool = True  # False while a transfer is unconfirmed or after it failed: nothing was lent

    def redeemed_on_time(self) -> bool:
        """Redeemed on or before its maturity date, every renewal paid by the maturity then in force."""
        return (
            self.redeemed_on is not None
            and self.redeemed_on <= self.maturity_date
            and all(r.paid_on <= r.due_by for r in self.renewals)
        )


@dataclass(frozen=True)
class PawnCustomerRecord:
    customer_ref: str
    tickets: tuple[PawnTicketRecord, ...]
    # (partner, purpose) → whether a consent is in force now.
    consents: Mapping[tuple[str, str], bool] = field(default_factory=dict)


def year_before(day: date) -> date:
    """The same day a year earlier (29 February → 28 February)."""
    return day.replace(year=day.year - 1, day=28) if (day.month, day.day) == (2, 29) else day.replace(year=day.year - 1)


def evaluate_pawn_customer(rules: PawnCustomerRules, tickets: Sequence[PawnTicketRecord], as_of: date) -> Verdict:
    """Whether a pawn customer's record on `as_of` meets the rules (consent aside), with score and evidence."""
    start = year_before(as_of)

    def within(day: date | None) -> bool:
        return day is not None and start < day <= as_of

    redeemed = [t for t in tickets if within(t.redeemed_on)]
    on_time = [t for t in redeemed if t.redeemed_on_time()]
    late = len(redeemed) - len(on_time)
    forfeits = sum(1 for t in tickets if within(t.forfeited_on))
    principal = sum(t.principal_satang for t in on_time)
    renewals = sum(len(t.renewals) for t in on_time)
    past_due = sum(
        1
        for t in tickets
        if t.paid_out
        and t.pledged_on <= as_of
        and t.maturity_date < as_of
        and (t.redeemed_on is None or t.redeemed_on > as_of)
        and (t.forfeited_on is None or t.forfeited_on > as_of)
    )
    minimum = rules.min_on_time_redemptions_12m
    checks = {
        "redemptions": len(on_time) >= minimum,
        "late_redemptions": late <= rules.max_late_redemptions_12m,
        "forfeits": forfeits <= rules.max_forfeits_12m,
        "principal": principal >= rules.min_on_time_principal,
        "past_maturity": past_due == 0,
    }
    settled = len(redeemed) + forfeits
    ratio = Decimal(1) if settled == 0 else Decimal(len(on_time)) / Decimal(settled)
    volume = Decimal(min(len(on_time), 2 * minimum)) / Decimal(2 * minimum)
    score = (volume * 50 + ratio * 50).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    evidence = {
        "redemptions": f"ไถ่ถอนตรงเวลา {len(on_time)} ครั้งใน 12 เดือน (เกณฑ์อย่างน้อย {minimum})"
        + (f" รวมต่อดอกตรงเวลา {renewals} ครั้ง" if renewals else ""),
        "late_redemptions": f"ไถ่ถอนเกินกำหนด {late} ครั้งใน 12 เดือน (เกณฑ์ไม่เกิน {rules.max_late_redemptions_12m})",
        "forfeits": f"หลุดจำนำ {forfeits} ครั้งใน 12 เดือน (เกณฑ์ไม่เกิน {rules.max_forfeits_12m})",
        "principal": f"เงินต้นที่ไถ่ถอนตรงเวลารวม {format_baht(principal)} บาท"
        f" (เกณฑ์อย่างน้อย {format_baht(rules.min_on_time_principal)} บาท)",
        "past_maturity": "ไม่มีตั๋วเลยกำหนดไถ่ถอน" if not past_due else f"มีตั๋วเลยกำหนดไถ่ถอน {past_due} ใบ",
    }
    evidence |= {f"{name}_passed": "ผ่าน" if ok else "ไม่ผ่าน" for name, ok in checks.items()}
    return Verdict(all(checks.values()), score, evidence)


def refer_pawn_customers(
    rules: PawnCustomerRules, customers: Sequence[PawnCustomerRecord], as_of: date
) -> list[tuple[str, Verdict]]:
    """The customers to refer, with their verdicts: only those with a consent in force for the rule
    set's partner and purpose, and whose record passes."""
    referred = []
    for customer in customers:
        if not customer.consents.get((rules.partner, rules.purpose), False):
            continue
        verdict = evaluate_pawn_customer(rules, customer.tickets, as_of)
        if verdict.eligible:
            referred.append((customer.customer_ref, verdict))
    return referred


def contact_branch(tickets: Sequence[PawnTicketRecord]) -> str | None:
    """The branch of the customer's latest pledge: the one the partner goes through to reach them."""
    return max(tickets, key=lambda t: t.pledged_on).branch_code if tickets else None


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """The webhook signature header: HMAC-SHA256 over "<timestamp>.<body>" (replay-safe with the time)."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
